/*
 * fuzz_http - the request parsers of http.h: urlencoded (form and
 * query), the Cookie header and multipart/form-data.
 *
 * The first byte chooses, as (byte - '0') % 8, so that a seed starts
 * with a digit:
 *  0, 1	http_parse_urlencoded() on the rest, into form, into query;
 *  2	http_parse_cookies() on the rest;
 *  3	http_parse_multipart(): the Content-Type up to the first '\n',
 *	the body after it;
 *  4	names and values taken from the rest ('|' between them), escaped
 *	with g_uri_escape_string(), each name sent again with another
 *	value at the end, parsed as form and as query;
 *  5	a multipart/form-data body made from the rest (a boundary, two
 *	fields and a file, '|' between them);
 *  6	a Cookie header made from the rest (names and values, '|');
 *  7	a form field of HTTP_FIELD_MAX - 1, HTTP_FIELD_MAX or
 *	HTTP_FIELD_MAX + 1 bytes.
 *
 * Promises checked:
 *  - urlencoded: a malformed %-escape or a NUL byte (raw or %00, in a
 *    name or in a value kept) names the field in bad_field, which names
 *    nothing else; without those, every named field is in the table
 *    with its value decoded ('+' is a space, then %XX), a NUL byte of a
 *    name or a value, form and query alike, kept as U+FFFD, and the
 *    first value of a name wins;
 *  - at most HTTP_FIELDS_MAX fields are read: past them, the request
 *    is malformed and the rest is dropped;
 *  - a table escaped by GLib parses back to itself, as form and query,
 *    later values of a name ignored;
 *  - cookies: each one is a "name=value" of the header, its name not
 *    empty and without '=' or ';', its value one the header gave that
 *    name; a header made of pairs gives every name back;
 *  - multipart: TRUE only for multipart/form-data with a boundary;
 *    bad_field names a form field holding U+FFFD, and is NULL when the
 *    body has no NUL byte and no transfer encoding to make one; a body
 *    of fields and a file parses back to them (any bytes in a file),
 *    first value of a name winning, NULs as U+FFFD named in bad_field;
 *  - a form field over HTTP_FIELD_MAX is dropped and marks
 *    body_too_large; one of HTTP_FIELD_MAX bytes is kept whole.
 */
#include <string.h>

#include "fuzz.h"
#include "http.h"

#define U_FFFD		"\xef\xbf\xbd"

/* What bad_field may name, and whether it must name something. */
struct bad_names {
	GPtrArray	*names;		/* char * */
	gboolean	 needed;
};

/* The pieces of data between seps, as GBytes (NUL bytes kept). */
static GPtrArray *
split_pieces(const uint8_t *data, size_t size, char sep)
{
	GPtrArray	*pieces = g_ptr_array_new_with_free_func(
			    (GDestroyNotify)g_bytes_unref);
	const uint8_t	*p = data, *end = data + size, *next;

	for (;;) {
		if ((next = memchr(p, sep, end - p)) == NULL)
			next = end;
		g_ptr_array_add(pieces, g_bytes_new(p, next - p));
		if (next == end)
			break;
		p = next + 1;
	}
	return pieces;
}

/* Piece i as a C string (up to its first NUL), "" if there is none. */
static char *
piece_str(GPtrArray *pieces, guint i)
{
	gsize		 len;
	const char	*p;

	if (i >= pieces->len)
		return g_strdup("");
	/* An empty GBytes may give NULL, and g_strndup(NULL) is NULL. */
	p = g_bytes_get_data(pieces->pdata[i], &len);
	return len > 0 ? g_strndup(p, len) : g_strdup("");
}

/* Only the bytes of s for which keep() holds, at most max of them. */
static char *
filter(const char *s, gboolean (*keep)(char), gsize max)
{
	GString	*out = g_string_new(NULL);

	for (; *s != '\0' && out->len < max; s++)
		if (keep(*s))
			g_string_append_c(out, *s);
	return g_string_free(out, FALSE);
}

/* The value a form keeps for bytes: each NUL as U+FFFD. */
static char *
nul_to_fffd(const char *p, gsize len)
{
	GString	*out = g_string_sized_new(len);
	gsize	 i;

	for (i = 0; i < len; i++)
		if (p[i] == '\0')
			g_string_append(out, U_FFFD);
		else
			g_string_append_c(out, p[i]);
	return g_string_free(out, FALSE);
}

/*
 * Decode as the header says: '+' is a space, then %XX; FALSE on a
 * '%' without two hex digits.  Written apart from http.c's, so that
 * the two are compared.
 */
static gboolean
url_decode(const char *s, gsize len, GByteArray *out)
{
	gsize	i;
	guint8	c;

	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= len || !g_ascii_isxdigit(s[i + 1]) ||
			    !g_ascii_isxdigit(s[i + 2]))
				return FALSE;
			c = g_ascii_xdigit_value(s[i + 1]) << 4 |
			    g_ascii_xdigit_value(s[i + 2]);
			i += 2;
		} else
			c = s[i] == '+' ? ' ' : (guint8)s[i];
		g_byte_array_append(out, &c, 1);
	}
	return TRUE;
}

static void
bad_names_add(struct bad_names *bad, const void *p, gsize len)
{
	g_ptr_array_add(bad->names, g_strndup(p, len));
}

/* bad_field as the parse left it, against what the input held. */
static void
check_bad_field(const struct http_request *req, const struct bad_names *bad)
{
	guint	i;

	if (bad->needed)
		g_assert_nonnull(req->bad_field);
	if (req->bad_field == NULL)
		return;
	for (i = 0; i < bad->names->len; i++)
		if (strcmp(req->bad_field, bad->names->pdata[i]) == 0)
			return;
	g_assert_not_reached();
}

static gboolean
has_nul(const GByteArray *b)
{
	return b->len > 0 && memchr(b->data, '\0', b->len) != NULL;
}

/*
 * Decode the field at p, up to the next '&' or end, which it returns:
 * name and value, both NULL if an escape is malformed.  *raw_len is
 * the length of the name as sent.
 */
static const char *
next_field(const char *p, const char *end, GByteArray **name,
    GByteArray **value, gsize *raw_len)
{
	const char	*amp, *eq;

	if ((amp = memchr(p, '&', end - p)) == NULL)
		amp = end;
	eq = memchr(p, '=', amp - p);
	*raw_len = (eq != NULL ? eq : amp) - p;
	/* Sized, so that data is never NULL, even when empty. */
	*name = g_byte_array_sized_new(amp - p + 1);
	*value = g_byte_array_sized_new(amp - p + 1);
	if (!url_decode(p, *raw_len, *name) || (eq != NULL &&
	    !url_decode(eq + 1, amp - eq - 1, *value))) {
		g_byte_array_unref(*name);
		g_byte_array_unref(*value);
		*name = *value = NULL;
	}
	return amp;
}

/* The value wanted for a name, against the parsed form or query. */
static void
check_value(const struct http_request *req, gboolean form,
    const char *name, const GByteArray *value)
{
	const char	*got = form ? http_form(req, name) :
			    http_query(req, name);
	char		*want;

	g_assert_nonnull(got);
	/* Form and query alike: a NUL is kept as U+FFFD. */
	want = nul_to_fffd((const char *)value->data, value->len);
	g_assert_cmpstr(got, ==, want);
	g_free(want);
}

/* The input as urlencoded data, against a decoding of our own. */
static void
fuzz_urlencoded(const char *data, gsize len, gboolean form)
{
	struct http_request	 req;
	struct bad_names	 bad = { g_ptr_array_new_with_free_func(g_free),
				    FALSE };
	GHashTable		*want = g_hash_table_new_full(g_str_hash,
				    g_str_equal, g_free,
				    (GDestroyNotify)g_byte_array_unref);
	GHashTable		*table;
	GHashTableIter		 it;
	GByteArray		*name, *value;
	const char		*p, *amp, *end = data + len;
	gpointer		 k, v;
	gsize			 raw_len;
	gboolean		 exact = TRUE;
	char			*key;
	guint			 n = 0;

	http_request_init(&req);
	http_parse_urlencoded(&req, form, data, len);
	table = form ? req.form : req.query;
	for (p = data; p < end; p = amp + 1) {
		if (++n > HTTP_FIELDS_MAX)
			break;		/* the rest is not read */
		amp = next_field(p, end, &name, &value, &raw_len);
		if (name == NULL) {
			/* Not decodable: named as sent. */
			bad_names_add(&bad, p, raw_len);
			bad.needed = TRUE;
			/* Whether the field is dropped is not said. */
			exact = FALSE;
			continue;
		}
		/* A NUL in a name is kept as U+FFFD too, and named so. */
		key = nul_to_fffd((const char *)name->data, name->len);
		if (has_nul(name) || has_nul(value))
			bad_names_add(&bad, key, strlen(key));
		/* A field without a name, or a later value, is dropped:
		 * nothing of it is kept that a NUL could cut short. */
		if (name->len > 0 && !g_hash_table_contains(want, key)) {
			if (has_nul(name) || has_nul(value))
				bad.needed = TRUE;
			g_hash_table_insert(want, key,
			    g_byte_array_ref(value));
		} else
			g_free(key);
		g_byte_array_unref(name);
		g_byte_array_unref(value);
	}
	/* Past HTTP_FIELDS_MAX fields the request is malformed. */
	g_assert((req.malformed != NULL) == (n > HTTP_FIELDS_MAX));
	/* Only a form's fields are named: a query's check is no form's. */
	if (form)
		check_bad_field(&req, &bad);
	else
		g_assert_null(req.bad_field);
	if (exact) {
		g_assert_cmpuint(http_table_size(table), ==,
		    g_hash_table_size(want));
		g_hash_table_iter_init(&it, want);
		while (g_hash_table_iter_next(&it, &k, &v))
			check_value(&req, form, k, v);
	}
	g_hash_table_unref(want);
	g_ptr_array_unref(bad.names);
	http_request_clear(&req);
}

static gboolean
is_token_char(char c)
{
	return g_ascii_isalnum(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 6265 cookie-octet: printable ASCII but '"', ',', ';', '\\'. */
static gboolean
is_cookie_octet(char c)
{
	return c > ' ' && c < 0x7f && strchr("\",;\\", c) == NULL;
}

/* Whether pair, as sent (whitespace around it aside), is name=value. */
static gboolean
pair_is(const char *pair, const char *name, const char *value)
{
	char		*want = g_strconcat(name, "=", value, NULL);
	char		*stripped = g_strstrip(g_strdup(pair));
	gboolean	 is = strcmp(pair, want) == 0 ||
			    strcmp(stripped, want) == 0;

	g_free(want);
	g_free(stripped);
	return is;
}

/* Every cookie kept is one name=value pair of the header. */
static void
check_cookies(const struct http_request *req, const char *header)
{
	char		**pairs = g_strsplit(header, ";", -1);
	GHashTableIter	  it;
	gpointer	  k, v;
	int		  i;

	/* No table: no cookie was kept. */
	if (req->cookies != NULL)
		g_hash_table_iter_init(&it, req->cookies);
	while (req->cookies != NULL && g_hash_table_iter_next(&it, &k, &v)) {
		g_assert_cmpstr(k, !=, "");
		g_assert_null(strpbrk(k, "=;"));
		g_assert_null(strchr(v, ';'));
		for (i = 0; pairs[i] != NULL; i++)
			if (pair_is(pairs[i], k, v))
				break;
		g_assert_nonnull(pairs[i]);
	}
	g_strfreev(pairs);
}

static void
fuzz_cookies(const char *data, gsize len)
{
	struct http_request	 req;
	char			*header = g_strndup(data, len);

	http_request_init(&req);
	http_parse_cookies(&req, header);
	check_cookies(&req, header);
	http_request_clear(&req);
	g_free(header);
}

/*
 * A Cookie header of the names and values in the pieces: every name
 * comes back, with one of its values (http.h does not say which wins).
 */
static void
fuzz_cookie_table(const uint8_t *data, size_t size)
{
	struct http_request	 req;
	GPtrArray		*pieces = split_pieces(data, size, '|');
	GHashTable		*names = g_hash_table_new_full(g_str_hash,
				    g_str_equal, g_free, NULL);
	GString			*header = g_string_new(NULL);
	char			*s, *name, *value;
	guint			 i;

	/* Few enough pairs that no limit of the parser's comes in. */
	for (i = 0; i + 1 < pieces->len && i < 32; i += 2) {
		s = piece_str(pieces, i);
		name = filter(s, is_token_char, 64);
		g_free(s);
		s = piece_str(pieces, i + 1);
		value = filter(s, is_cookie_octet, 256);
		g_free(s);
		if (*name == '\0') {
			g_free(name);
			g_free(value);
			continue;
		}
		g_string_append_printf(header, "%s%s=%s",
		    header->len > 0 ? "; " : "", name, value);
		g_hash_table_add(names, name);
		g_free(value);
	}
	http_request_init(&req);
	http_parse_cookies(&req, header->str);
	check_cookies(&req, header->str);
	g_assert_cmpuint(http_table_size(req.cookies), ==,
	    g_hash_table_size(names));
	g_hash_table_unref(names);
	g_string_free(header, TRUE);
	g_ptr_array_unref(pieces);
	http_request_clear(&req);
}

/* s escaped for a form in one of three ways GLib gives. */
static char *
form_escape(const char *s, int way)
{
	char	*esc, **parts, *plus;

	switch (way) {
	case 0:
		return g_uri_escape_string(s, NULL, FALSE);
	case 1:
		/* Sub-delims and the like kept: only & = + % mean anything
		 * in a form. */
		return g_uri_escape_string(s, "!$'()*,/:;?@", FALSE);
	default:
		/* Spaces as '+', as browsers send them. */
		esc = g_uri_escape_string(s, NULL, FALSE);
		parts = g_strsplit(esc, "%20", -1);
		plus = g_strjoinv("+", parts);
		g_strfreev(parts);
		g_free(esc);
		return plus;
	}
}

/* A table from the pieces, escaped, parses back to itself. */
static void
fuzz_urlencoded_table(const uint8_t *data, size_t size)
{
	struct http_request	 req;
	GPtrArray		*pieces = split_pieces(data, size, '|');
	GHashTable		*want = g_hash_table_new_full(g_str_hash,
				    g_str_equal, g_free, g_free);
	GHashTableIter		 it;
	GString			*enc;
	gpointer		 k, v;
	char			*name, *value, *en, *ev;
	/* Each name is sent twice: at most HTTP_FIELDS_MAX fields. */
	guint			 i, pairs = MIN(pieces->len,
				    HTTP_FIELDS_MAX) / 2 * 2;
	int			 way;

	for (i = 0; i + 1 < pairs; i += 2) {
		name = piece_str(pieces, i);
		value = piece_str(pieces, i + 1);
		/* http_table_add()'s rule, the one the header gives. */
		if (*name != '\0')
			http_table_add(&want, name, value);
		g_free(name);
		g_free(value);
	}
	for (way = 0; way < 3; way++) {
		enc = g_string_new(NULL);
		for (i = 0; i + 1 < pairs; i += 2) {
			name = piece_str(pieces, i);
			value = piece_str(pieces, i + 1);
			en = form_escape(name, way);
			ev = form_escape(value, way);
			g_string_append_printf(enc, "%s%s=%s",
			    enc->len > 0 ? "&" : "", en, ev);
			g_free(en);
			g_free(ev);
			g_free(name);
			g_free(value);
		}
		/* Every name again: the first value must stay. */
		g_hash_table_iter_init(&it, want);
		while (g_hash_table_iter_next(&it, &k, NULL)) {
			en = form_escape(k, way);
			g_string_append_printf(enc, "&%s=later", en);
			g_free(en);
		}
		http_request_init(&req);
		http_parse_urlencoded(&req, TRUE, enc->str, enc->len);
		http_parse_urlencoded(&req, FALSE, enc->str, enc->len);
		g_assert_null(req.bad_field);
		g_assert_cmpuint(http_table_size(req.form), ==,
		    g_hash_table_size(want));
		g_assert_cmpuint(http_table_size(req.query), ==,
		    g_hash_table_size(want));
		g_hash_table_iter_init(&it, want);
		while (g_hash_table_iter_next(&it, &k, &v)) {
			g_assert_cmpstr(http_form(&req, k), ==, v);
			g_assert_cmpstr(http_query(&req, k), ==, v);
		}
		http_request_clear(&req);
		g_string_free(enc, TRUE);
	}
	g_hash_table_unref(want);
	g_ptr_array_unref(pieces);
}

/* Whether s (len bytes, no NUL) holds word, ignoring case. */
static gboolean
holds_word(const char *s, gsize len, const char *word)
{
	char		*lower = g_ascii_strdown(s, len);
	gboolean	 holds = strstr(lower, word) != NULL;

	g_free(lower);
	return holds;
}

/* Content-Type up to the first '\n', the body after it. */
static void
fuzz_multipart(const char *data, gsize len)
{
	struct http_request	 req;
	const char		*nl = memchr(data, '\n', len), *body, *value;
	char			*type;
	gsize			 body_len;
	gboolean		 ok;

	if (nl == NULL)
		nl = data + len;
	type = g_strndup(data, nl - data);
	body = nl < data + len ? nl + 1 : nl;
	body_len = data + len - body;
	http_request_init(&req);
	ok = http_parse_multipart(&req, type, body, body_len);
	if (ok) {
		g_assert(holds_word(type, strlen(type), "multipart"));
		g_assert(holds_word(type, strlen(type), "form-data"));
		g_assert(holds_word(type, strlen(type), "boundary"));
	}
	if (req.bad_field != NULL) {
		value = http_form(&req, req.bad_field);
		g_assert_nonnull(value);
		g_assert_nonnull(strstr(value, U_FFFD));
		/* Only a NUL, sent or decoded (base64, ...), makes one. */
		g_assert(memchr(body, '\0', body_len) != NULL ||
		    holds_word(body, body_len, "encoding"));
	}
	http_request_clear(&req);
	g_free(type);
}

/* RFC 2046 bchars, space included (but not last: see below). */
static gboolean
is_bchar(char c)
{
	return g_ascii_isalnum(c) || strchr("'()+_,-./:=? ", c) != NULL;
}

static gboolean
is_name_char(char c)
{
	return g_ascii_isalnum(c) || c == '_' || c == '-' || c == '.';
}

/* One part of a form: a field, or a file if filename. */
static void
append_part(GString *body, const char *boundary, const char *name,
    GBytes *value, gboolean file)
{
	gsize		 len;
	const char	*p = g_bytes_get_data(value, &len);

	g_string_append_printf(body, "--%s\r\n"
	    "Content-Disposition: form-data; name=\"%s\"%s\r\n%s\r\n",
	    boundary, name, file ? "; filename=\"f.bin\"" : "",
	    file ? "Content-Type: application/octet-stream\r\n" : "");
	g_string_append_len(body, p, len);
	g_string_append(body, "\r\n");
}

/*
 * A body of two fields and a file made from the pieces (boundary,
 * name, value, name, value, name, content) parses back to them.
 */
static void
fuzz_multipart_built(const uint8_t *data, size_t size)
{
	static const char *const defaults[] = { "a", "b", "file" };
	struct http_request	 req;
	struct bad_names	 bad = { g_ptr_array_new_with_free_func(g_free),
				    FALSE };
	GPtrArray		*pieces = split_pieces(data, size, '|');
	GHashTable		*want = g_hash_table_new_full(g_str_hash,
				    g_str_equal, g_free, g_free);
	GString			*body = g_string_new(NULL);
	GHashTableIter		 it;
	GBytes			*values[3];
	gpointer		 k, v;
	char			*s, *boundary, *names[3], *type, *dash;
	const char		*p;
	gsize			 len;
	gboolean		 clash = FALSE;
	int			 i;

	s = piece_str(pieces, 0);
	boundary = filter(s, is_bchar, 70);
	g_free(s);
	/* A boundary may not end in a space (RFC 2046 5.1.1). */
	g_strchomp(boundary);
	if (*boundary == '\0') {
		g_free(boundary);
		boundary = g_strdup("b");
	}
	dash = g_strconcat("--", boundary, NULL);
	for (i = 0; i < 3; i++) {
		s = piece_str(pieces, 1 + 2 * i);
		names[i] = filter(s, is_name_char, 64);
		g_free(s);
		if (*names[i] == '\0') {
			g_free(names[i]);
			names[i] = g_strdup(defaults[i]);
		}
		values[i] = 2 + 2 * i < (int)pieces->len ?
		    g_bytes_ref(pieces->pdata[2 + 2 * i]) :
		    g_bytes_new_static("", 0);
		p = g_bytes_get_data(values[i], &len);
		/* A value holding the boundary would end its part. */
		if (len > 0 && memmem(p, len, dash, strlen(dash)) != NULL)
			clash = TRUE;
		if (!g_hash_table_contains(want, names[i])) {
			g_hash_table_insert(want, g_strdup(names[i]),
			    nul_to_fffd(p, len));
			if (len > 0 && memchr(p, '\0', len) != NULL) {
				bad_names_add(&bad, names[i], strlen(names[i]));
				bad.needed = TRUE;
			}
		}
		append_part(body, boundary, names[i], values[i], i == 2);
	}
	g_string_append_printf(body, "%s--\r\n", dash);
	type = g_strdup_printf("multipart/form-data; boundary=\"%s\"",
	    boundary);
	if (!clash) {
		http_request_init(&req);
		g_assert(http_parse_multipart(&req, type, body->str,
		    body->len));
		check_bad_field(&req, &bad);
		g_assert_cmpuint(http_table_size(req.form), ==,
		    g_hash_table_size(want));
		g_hash_table_iter_init(&it, want);
		while (g_hash_table_iter_next(&it, &k, &v))
			g_assert_cmpstr(http_form(&req, k), ==, v);
		http_request_clear(&req);
	}
	for (i = 0; i < 3; i++) {
		g_free(names[i]);
		g_bytes_unref(values[i]);
	}
	g_free(type);
	g_free(dash);
	g_free(boundary);
	g_string_free(body, TRUE);
	g_hash_table_unref(want);
	g_ptr_array_unref(bad.names);
	g_ptr_array_unref(pieces);
}

/* A form field just under, at or just over HTTP_FIELD_MAX. */
static void
fuzz_field_max(const uint8_t *data, size_t size)
{
	struct http_request	 req;
	GString			*form = g_string_new("big=");
	gsize			 n = HTTP_FIELD_MAX - 1 + (size > 0 ?
				    data[0] % 3 : 0);
	const char		*got;

	g_string_set_size(form, 4 + n);
	memset(form->str + 4, 'a', n);
	g_string_append(form, "&after=1");
	http_request_init(&req);
	http_parse_urlencoded(&req, TRUE, form->str, form->len);
	got = http_form(&req, "big");
	if (n > HTTP_FIELD_MAX) {
		g_assert_true(req.body_too_large);
		g_assert_null(got);
	} else {
		g_assert_false(req.body_too_large);
		g_assert_nonnull(got);
		g_assert_cmpuint(strlen(got), ==, n);
	}
	http_request_clear(&req);
	g_string_free(form, TRUE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*rest = (const char *)data + 1;

	if (size == 0)
		return 0;
	switch (fuzz_selector(data[0], 8)) {
	case 0:
		fuzz_urlencoded(rest, size - 1, TRUE);
		break;
	case 1:
		fuzz_urlencoded(rest, size - 1, FALSE);
		break;
	case 2:
		fuzz_cookies(rest, size - 1);
		break;
	case 3:
		fuzz_multipart(rest, size - 1);
		break;
	case 4:
		fuzz_urlencoded_table(data + 1, size - 1);
		break;
	case 5:
		fuzz_multipart_built(data + 1, size - 1);
		break;
	case 6:
		fuzz_cookie_table(data + 1, size - 1);
		break;
	default:
		fuzz_field_max(data + 1, size - 1);
		break;
	}
	return 0;
}
