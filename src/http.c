/*
 * http - request and response values shared by the core and front ends.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "http.h"

/* The status codes labmail answers with (RFC 9110, section 15). */
static const struct {
	int		 code;
	const char	*text;
} status_texts[] = {
	{ 200, "OK" },
	{ 303, "See Other" },
	{ 304, "Not Modified" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 413, "Content Too Large" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
};

void
http_request_init(struct http_request *req)
{
	memset(req, 0, sizeof(*req));
}

void
http_request_clear(struct http_request *req)
{
	g_free(req->method);
	g_free(req->path);
	g_free(req->prefix);
	g_free(req->peer);
	g_free(req->target);
	g_free(req->protocol);
	g_free(req->bad_field);
	g_clear_pointer(&req->query, g_hash_table_unref);
	g_clear_pointer(&req->form, g_hash_table_unref);
	g_clear_pointer(&req->headers, g_hash_table_unref);
	g_clear_pointer(&req->cookies, g_hash_table_unref);
	memset(req, 0, sizeof(*req));
}

/* *table, made if it is not yet: most requests need two at most. */
static GHashTable *
table_of(GHashTable **table)
{
	if (*table == NULL)
		*table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
		    g_free);
	return *table;
}

/* The value of name in table (NULL: none yet), or NULL. */
static const char *
table_lookup(GHashTable *table, const char *name)
{
	return table != NULL ? g_hash_table_lookup(table, name) : NULL;
}

static gboolean
table_has(GHashTable *table, const char *name)
{
	return table != NULL && g_hash_table_contains(table, name);
}

void
http_table_add(GHashTable **table, const char *name, const char *value)
{
	if (!table_has(*table, name))
		g_hash_table_insert(table_of(table), g_strdup(name),
		    g_strdup(value));
}

guint
http_table_size(GHashTable *table)
{
	return table != NULL ? g_hash_table_size(table) : 0;
}

/*
 * len bytes as a C string, each NUL byte replaced by U+FFFD, so that a
 * NUL cannot cut a name or a value short ("a%00x=evil&a=good" must not
 * become a=evil); *had_nul tells whether there was one.
 */
static char *
text_without_nul(const char *data, gsize len, gboolean *had_nul)
{
	GString		*out = g_string_sized_new(len);
	const char	*nul;

	*had_nul = FALSE;
	/* data may be NULL when len is 0 (an empty GBytes). */
	while (len > 0 && (nul = memchr(data, '\0', len)) != NULL) {
		g_string_append_len(out, data, nul - data);
		g_string_append(out, "\xef\xbf\xbd");	/* U+FFFD */
		len -= nul + 1 - data;
		data = nul + 1;
		*had_nul = TRUE;
	}
	g_string_append_len(out, data, len);
	return g_string_free(out, FALSE);
}

/* Name the first bad field: a NUL byte, or a malformed %-escape. */
static void
mark_bad_field(struct http_request *req, const char *name)
{
	if (req->bad_field == NULL)
		req->bad_field = g_strdup(name);
}

void
http_request_add_field(struct http_request *req, const char *name,
    const char *data, gsize len)
{
	gboolean	 had_nul;

	if (table_has(req->form, name))
		return;
	if (len > HTTP_FIELD_MAX) {
		req->body_too_large = TRUE;
		return;
	}
	g_hash_table_insert(table_of(&req->form), g_strdup(name),
	    text_without_nul(data, len, &had_nul));
	if (had_nul)
		mark_bad_field(req, name);
}

/* Decode one name or value: '+' is a space, then %XX by GLib; a raw
 * NUL byte is kept, as a %00 is, for the caller to refuse. */
static GBytes *
form_decode(const char *s, gsize len)
{
	char	*plus = g_malloc(len + 1);	/* never NULL, even for "" */
	GBytes	*out;
	gsize	 i;

	memcpy(plus, s, len);
	plus[len] = '\0';
	for (i = 0; i < len; i++)
		if (plus[i] == '+')
			plus[i] = ' ';
	out = g_uri_unescape_bytes(plus, len, NULL, NULL);
	g_free(plus);
	return out;
}

/* Add one decoded name=value to the form or the query. */
static void
add_decoded(struct http_request *req, gboolean form, GBytes *name,
    GBytes *value)
{
	gboolean	 bad_name, bad_value;
	char		*key, *v;
	const char	*data;
	gsize		 len;

	data = g_bytes_get_data(name, &len);
	key = text_without_nul(data, len, &bad_name);
	data = g_bytes_get_data(value, &len);
	if (form) {
		if (bad_name)
			mark_bad_field(req, key);
		http_request_add_field(req, key, data, len);
	} else {
		/* A query's NUL stays a U+FFFD: no page takes it as it is. */
		v = text_without_nul(data, len, &bad_value);
		http_table_add(&req->query, key, v);
		g_free(v);
	}
	g_free(key);
}

void
http_parse_urlencoded(struct http_request *req, gboolean form,
    const char *data, gsize len)
{
	const char	*p = data, *end = data + len, *amp, *eq;
	GBytes		*name, *value;
	guint		 n = 0;

	for (; p < end; p = amp + 1) {
		if (++n > HTTP_FIELDS_MAX) {
			req->malformed = "too many fields";
			return;
		}
		if ((amp = memchr(p, '&', end - p)) == NULL)
			amp = end;
		eq = memchr(p, '=', amp - p);
		name = form_decode(p, (eq ? eq : amp) - p);
		value = eq ? form_decode(eq + 1, amp - eq - 1) :
		    g_bytes_new_static("", 0);
		if ((name == NULL || value == NULL) && form) {
			char	*raw = g_strndup(p, (eq ? eq : amp) - p);

			mark_bad_field(req, raw);	/* named as sent */
			g_free(raw);
		} else if (name != NULL && value != NULL &&
		    g_bytes_get_size(name) > 0)
			add_decoded(req, form, name, value);
		if (name != NULL)
			g_bytes_unref(name);
		if (value != NULL)
			g_bytes_unref(value);
	}
}

/* One part of a multipart/form-data body, added as a field if named. */
static void
add_form_part(struct http_request *req, GMimeObject *part)
{
	const char		*name;
	GMimeDataWrapper	*content;
	GMimeStream		*value;
	GByteArray		*bytes;

	name = g_mime_object_get_content_disposition_parameter(part, "name");
	if (!GMIME_IS_PART(part) || name == NULL || *name == '\0')
		return;
	value = g_mime_stream_mem_new();
	/* The content as sent, its Content-Transfer-Encoding (if any)
	 * undone. */
	if ((content = g_mime_part_get_content(GMIME_PART(part))) != NULL)
		g_mime_data_wrapper_write_to_stream(content, value);
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(value));
	http_request_add_field(req, name, (const char *)bytes->data,
	    bytes->len);
	g_object_unref(value);
}

/*
 * A delimiter line of boundary (RFC 2046 5.1.1): "--" and the boundary,
 * then "--" if it is the last one (*last), then only blanks, where a
 * CR counts as one, as it does for GMime ("--B\r\r\n" starts a part).
 */
static gboolean
delimiter_line(const char *p, gsize len, const char *boundary, gsize blen,
    gboolean *last)
{
	gsize	i = 2 + blen;

	if (len < i || p[0] != '-' || p[1] != '-' ||
	    memcmp(p + 2, boundary, blen) != 0)
		return FALSE;
	*last = len >= i + 2 && p[i] == '-' && p[i + 1] == '-';
	for (i += *last ? 2 : 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return FALSE;
	return TRUE;
}

/* TRUE if a part's header, unfolded, makes it a multipart or a message:
 * the only types whose content GMime parses into parts of their own,
 * which nobody would have counted. */
static gboolean
header_compound(const GString *h)
{
	const char		*colon = memchr(h->str, ':', h->len);
	GMimeContentType	*type;
	char			*name;
	gboolean		 bad;

	if (colon == NULL)
		return FALSE;
	name = g_strstrip(g_strndup(h->str, colon - h->str));
	bad = g_ascii_strcasecmp(name, "content-type") == 0;
	g_free(name);
	if (!bad)
		return FALSE;
	/* GMime's own reading of it, comments and all. */
	type = g_mime_content_type_parse(NULL, colon + 1);
	bad = g_mime_content_type_is_type(type, "multipart", "*") ||
	    g_mime_content_type_is_type(type, "message", "*");
	g_object_unref(type);
	return bad;
}

/*
 * Check a multipart/form-data body before GMime builds it, since each
 * part costs an object: at most HTTP_FIELDS_MAX delimiter lines of its
 * boundary (the parts and the end), and no part that is a multipart or
 * a message (RFC 7578 4.3), so that no part holds parts of its own.
 * Lines of the values are not looked at.  NULL if it passes, else why
 * not.
 */
static const char *
multipart_shape(const char *data, gsize len, const char *boundary)
{
	const char	*p = data, *end = data + len, *nl, *why = NULL;
	gsize		 blen = strlen(boundary), llen;
	guint		 delimiters = 0;
	gboolean	 in_head = FALSE, last;
	GString		*header = g_string_new(NULL);

	for (; p < end && why == NULL; p = nl + 1) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		llen = nl - p;
		if (llen > 0 && p[llen - 1] == '\r')
			llen--;
		if (delimiter_line(p, llen, boundary, blen, &last)) {
			if (++delimiters > HTTP_FIELDS_MAX)
				why = "too many parts";
			in_head = !last;
			g_string_truncate(header, 0);
			continue;
		}
		if (!in_head)
			continue;
		/* A header ends where the next one starts, or the block. */
		if (llen == 0 || (p[0] != ' ' && p[0] != '\t')) {
			if (header->len > 0 && header_compound(header))
				why = "a part that holds parts";
			g_string_truncate(header, 0);
		}
		if (llen == 0)
			in_head = FALSE;
		else
			g_string_append_len(header, p, llen);
	}
	if (why == NULL && header->len > 0 && header_compound(header))
		why = "a part that holds parts";
	g_string_free(header, TRUE);
	return why;
}

gboolean
http_parse_multipart(struct http_request *req, const char *content_type,
    const char *data, gsize len)
{
	GMimeContentType	*type;
	GMimeStream		*stream;
	GMimeParser		*parser;
	GMimeObject		*body;
	const char		*boundary, *why;
	gboolean		 ok;
	int			 i;

	/* The type goes into a header of its own making: one line only. */
	if (strpbrk(content_type, "\r\n") != NULL)
		return FALSE;
	type = g_mime_content_type_parse(NULL, content_type);
	boundary = g_mime_content_type_get_parameter(type, "boundary");
	ok = g_mime_content_type_is_type(type, "multipart", "form-data") &&
	    boundary != NULL;
	if (ok && (why = multipart_shape(data, len, boundary)) != NULL) {
		req->malformed = why;
		ok = FALSE;
	}
	g_object_unref(type);
	if (!ok)
		return FALSE;
	/* GMime parses a MIME entity: its header, then the body as sent. */
	stream = g_mime_stream_mem_new();
	g_mime_stream_printf(stream, "Content-Type: %s\r\n\r\n", content_type);
	g_mime_stream_write(stream, data, len);
	g_mime_stream_reset(stream);
	parser = g_mime_parser_new_with_stream(stream);
	body = g_mime_parser_construct_part(parser, NULL);
	ok = body != NULL && GMIME_IS_MULTIPART(body);
	for (i = 0; ok && i < g_mime_multipart_get_count(GMIME_MULTIPART(body));
	    i++)
		add_form_part(req, g_mime_multipart_get_part(
		    GMIME_MULTIPART(body), i));
	if (body != NULL)
		g_object_unref(body);
	g_object_unref(parser);
	g_object_unref(stream);
	return ok;
}

const char *
http_query(const struct http_request *req, const char *name)
{
	return table_lookup(req->query, name);
}

const char *
http_form(const struct http_request *req, const char *name)
{
	return table_lookup(req->form, name);
}

const char *
http_header(const struct http_request *req, const char *name)
{
	return table_lookup(req->headers, name);
}

const char *
http_cookie(const struct http_request *req, const char *name)
{
	return table_lookup(req->cookies, name);
}

#define HTTP_COOKIES_MAX	64

void
http_parse_form(struct http_request *req, const char *content_type,
    const char *data, gsize len)
{
	static const char urlencoded[] = "application/x-www-form-urlencoded";

	if (content_type == NULL)
		return;
	if (g_ascii_strncasecmp(content_type, urlencoded,
	    sizeof(urlencoded) - 1) == 0)
		http_parse_urlencoded(req, TRUE, data, len);
	else
		http_parse_multipart(req, content_type, data, len);
}

void
http_parse_cookies(struct http_request *req, const char *header)
{
	/*
	 * Not g_strsplit(..., HTTP_COOKIES_MAX): its last piece would hold
	 * the rest of the header, and that cookie a value with "; " in it.
	 */
	char	**pairs = g_strsplit(header, ";", -1);
	char	 *eq;
	int	  i;

	for (i = 0; i < HTTP_COOKIES_MAX && pairs[i] != NULL; i++) {
		g_strstrip(pairs[i]);
		eq = strchr(pairs[i], '=');
		if (eq == NULL || eq == pairs[i])
			continue;
		*eq = '\0';
		http_table_add(&req->cookies, pairs[i], eq + 1);
	}
	g_strfreev(pairs);
}

struct http_page {
	gint		 refs;
	int		 status;
	GArray		*headers;
	GBytes		*body;		/* NULL: empty */
	GMutex		 lock;		/* making front */
	gpointer	 front;		/* set once, then read without lock */
	GDestroyNotify	 front_free;
};

/* Free the strings of one header (GArray clear function). */
static void
header_clear(gpointer p)
{
	struct http_header	*h = p;

	g_free(h->name);
	g_free(h->value);
}

/* Append a copy of name: value to headers. */
static void
headers_append(GArray *headers, const char *name, const char *value)
{
	struct http_header	h = { g_strdup(name), g_strdup(value) };

	g_array_append_val(headers, h);
}

static GArray *
headers_new(void)
{
	GArray	*headers = g_array_new(FALSE, FALSE,
		    sizeof(struct http_header));

	g_array_set_clear_func(headers, header_clear);
	return headers;
}

void
http_response_init(struct http_response *resp)
{
	resp->status = 500;
	resp->headers = headers_new();
	resp->body = NULL;
	resp->body_file = -1;
	resp->body_file_len = 0;
	resp->page = NULL;
}

/* resp is about to change: it stops being its page, headers copied. */
static void
own_copy(struct http_response *resp)
{
	GArray	*own;
	guint	 i;

	if (resp->page == NULL)
		return;
	own = headers_new();
	for (i = 0; i < resp->headers->len; i++) {
		const struct http_header *h = &g_array_index(resp->headers,
		    struct http_header, i);

		headers_append(own, h->name, h->value);
	}
	g_array_unref(resp->headers);
	resp->headers = own;
	g_clear_pointer(&resp->page, http_page_unref);
}

/* Drop the body, in memory or in a file. */
static void
body_clear(struct http_response *resp)
{
	g_clear_pointer(&resp->body, g_bytes_unref);
	if (resp->body_file >= 0)
		close(resp->body_file);
	resp->body_file = -1;
	resp->body_file_len = 0;
}

void
http_response_clear(struct http_response *resp)
{
	g_array_unref(resp->headers);
	body_clear(resp);
	g_clear_pointer(&resp->page, http_page_unref);
}

void
http_response_add_header(struct http_response *resp, const char *name,
    const char *value)
{
	own_copy(resp);
	headers_append(resp->headers, name, value);
}

const char *
http_response_header(const struct http_response *resp, const char *name)
{
	guint	i;

	for (i = 0; i < resp->headers->len; i++) {
		struct http_header *h = &g_array_index(resp->headers,
		    struct http_header, i);

		if (g_ascii_strcasecmp(h->name, name) == 0)
			return h->value;
	}
	return NULL;
}

void
http_response_set(struct http_response *resp, int status,
    const char *content_type, GBytes *body)
{
	own_copy(resp);
	resp->status = status;
	if (content_type != NULL)
		http_response_add_header(resp, "Content-Type", content_type);
	body_clear(resp);
	resp->body = body;
}

gboolean
http_response_set_file(struct http_response *resp, int status,
    const char *content_type, int fd)
{
	struct stat	st;

	if (fstat(fd, &st) == -1 || st.st_size < 0) {
		close(fd);
		return FALSE;
	}
	http_response_set(resp, status, content_type, NULL);
	resp->body_file = fd;
	resp->body_file_len = (guint64)st.st_size;
	return TRUE;
}

guint64
http_response_body_len(const struct http_response *resp)
{
	if (resp->body_file >= 0)
		return resp->body_file_len;
	return resp->body != NULL ? g_bytes_get_size(resp->body) : 0;
}

int
http_body_file_new(GError **err)
{
	const char	*dir = g_get_tmp_dir();
	char		*path;
	int		 fd, saved;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		goto out;
	/* A file system without O_TMPFILE: a named file, unlinked at once. */
	path = g_build_filename(dir, "labmail-body-XXXXXX", NULL);
	if ((fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600)) >= 0)
		unlink(path);
	g_free(path);
out:
	if (fd < 0) {
		saved = errno;
		g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(saved),
		    "cannot make a body file in %s: %s", dir,
		    g_strerror(saved));
	}
	return fd;
}

void
http_response_error(struct http_response *resp, int status)
{
	/* Never reprint the request: that is how error pages carry XSS. */
	char	*text = g_strdup_printf("%d %s\n", status,
	    http_status_text(status));

	http_response_set(resp, status, "text/plain; charset=utf-8",
	    g_bytes_new_take(text, strlen(text)));
}

void
http_response_set_cookie(struct http_response *resp,
    const struct http_request *req, const char *name, const char *value,
    int max_age)
{
	GString	*c = g_string_new(NULL);

	/* HttpOnly: no script can read it; SameSite=Strict: no other site
	 * can make the browser send it (CSRF). */
	g_string_printf(c, "%s=%s; Path=%s/; HttpOnly; SameSite=Strict", name,
	    value, req->prefix);
	if (max_age >= 0)
		g_string_append_printf(c, "; Max-Age=%d", max_age);
	if (req->https)
		g_string_append(c, "; Secure");
	http_response_add_header(resp, "Set-Cookie", c->str);
	g_string_free(c, TRUE);
}

void
http_response_redirect(struct http_response *resp,
    const struct http_request *req, const char *path)
{
	char	*location = g_strconcat(req->prefix, path, NULL);

	http_response_set(resp, 303, NULL, NULL);
	http_response_add_header(resp, "Location", location);
	g_free(location);
}

struct http_page *
http_response_freeze(struct http_response *resp)
{
	struct http_page	*page;

	g_return_val_if_fail(resp->body_file < 0, NULL);
	if (resp->page != NULL)
		return http_page_ref(resp->page);
	page = g_new0(struct http_page, 1);
	page->refs = 1;
	page->status = resp->status;
	page->headers = g_array_ref(resp->headers);
	page->body = resp->body != NULL ? g_bytes_ref(resp->body) : NULL;
	g_mutex_init(&page->lock);
	resp->page = http_page_ref(page);
	return page;
}

void
http_response_set_page(struct http_response *resp, struct http_page *page)
{
	http_page_ref(page);
	http_response_clear(resp);
	resp->status = page->status;
	resp->headers = g_array_ref(page->headers);
	resp->body = page->body != NULL ? g_bytes_ref(page->body) : NULL;
	resp->page = page;
}

struct http_page *
http_page_ref(struct http_page *page)
{
	g_atomic_int_inc(&page->refs);
	return page;
}

void
http_page_unref(struct http_page *page)
{
	if (page == NULL || !g_atomic_int_dec_and_test(&page->refs))
		return;
	if (page->front != NULL)
		page->front_free(page->front);
	g_array_unref(page->headers);
	if (page->body != NULL)
		g_bytes_unref(page->body);
	g_mutex_clear(&page->lock);
	g_free(page);
}

gpointer
http_response_page_front(const struct http_response *resp,
    http_page_front_new make, GDestroyNotify destroy)
{
	struct http_page	*page = resp->page;
	gpointer		 front;

	if (page == NULL)
		return NULL;
	/* Made once: after that, every thread only reads the pointer. */
	if ((front = g_atomic_pointer_get(&page->front)) != NULL)
		return front;
	g_mutex_lock(&page->lock);
	if (page->front == NULL && (front = make(resp)) != NULL) {
		page->front_free = destroy;
		g_atomic_pointer_set(&page->front, front);
	}
	front = page->front;
	g_mutex_unlock(&page->lock);
	return front;
}

const char *
http_status_text(int status)
{
	gsize	i;

	for (i = 0; i < G_N_ELEMENTS(status_texts); i++)
		if (status_texts[i].code == status)
			return status_texts[i].text;
	return "Unknown";
}

/* The range of GDateTime: 0001-01-01 to 9999-12-31T23:59:59 UTC. */
#define HTTP_DATE_MIN	G_GINT64_CONSTANT(-62135596800)
#define HTTP_DATE_MAX	G_GINT64_CONSTANT(253402300799)

char *
http_date(gint64 unix_time)
{
	GDateTime	*dt;
	char		*s;

	/* Day and month names must be English whatever the locale. */
	static const char *const days[] = { "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat", "Sun" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

	/*
	 * A file's mtime can be out of that range (touch -d on tmpfs):
	 * GDateTime would be NULL and the names indexed with -1.
	 */
	dt = g_date_time_new_from_unix_utc(CLAMP(unix_time, HTTP_DATE_MIN,
	    HTTP_DATE_MAX));
	s = g_strdup_printf("%s, %02d %s %04d %02d:%02d:%02d GMT",
	    days[g_date_time_get_day_of_week(dt) - 1],
	    g_date_time_get_day_of_month(dt),
	    months[g_date_time_get_month(dt) - 1],
	    g_date_time_get_year(dt), g_date_time_get_hour(dt),
	    g_date_time_get_minute(dt), g_date_time_get_second(dt));
	g_date_time_unref(dt);
	return s;
}
