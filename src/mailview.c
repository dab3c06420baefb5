/*
 * mailview - one message of a spool, parsed with GMime into what a page
 * may show (see mailview.h for the contract).
 *
 * Everything MIME is GMime's: the parser reads the message through a
 * GMimeStreamFs bounded to [start, end) of the spool, headers are decoded
 * by GMime, transfer encodings are undone by GMime's decoders and
 * charsets converted by its iconv filter.  What is ours is the policy:
 * which part is text, how much of it is kept, and which characters are
 * too dangerous to reach a page as themselves (terminal escapes, bidi
 * overrides that make "fdp.exe" display as "exe.pdf", NUL).
 *
 * Text is decoded streaming and kept up to MAILVIEW_TEXT_MAX, so a huge
 * text part costs no more memory than that; every part is counted
 * (decoded into a null stream) for its size, and decoded into memory
 * only when mailview_part() asks for it.
 */

#include <string.h>

#include <gmime/gmime.h>

#include "mailview.h"
#include "spool.h"
#include "textsafe.h"

#define DEPTH_MAX	32	/* multipart nesting followed */
#define NAME_MAX_BYTES	255	/* of a file name, as most file systems */
#define CHARSET_MAX	64	/* of a charset name we accept */
#define READ_CHUNK	8192

/* What clean_text() does with a character: keep '\n', keep '\t', drop. */
#define CLEAN_KEEP_NL	0x1
#define CLEAN_KEEP_TAB	0x2
#define CLEAN_DROP	0x4

#define REPLACEMENT	"\357\277\275"	/* U+FFFD in UTF-8 */

G_DEFINE_QUARK(mailview-error-quark, mailview_error)

/*
 * Any bytes to valid UTF-8 (invalid sequences become U+FFFD, as do NUL
 * bytes), with unsafe characters replaced by U+FFFD or dropped.
 */
static GString *
clean_text(const char *s, gsize len, guint flags)
{
	GString		*out;
	char		*valid;
	const char	*p, *end;

	/* A part that decodes to nothing has no buffer at all. */
	if (len == 0)
		return g_string_new(NULL);
	valid = g_utf8_make_valid(s, len);
	out = g_string_sized_new(strlen(valid));
	end = valid + strlen(valid);
	for (p = valid; p < end; p = g_utf8_next_char(p)) {
		gunichar	 c = g_utf8_get_char(p);

		if ((c == '\n' && (flags & CLEAN_KEEP_NL)) ||
		    (c == '\t' && (flags & CLEAN_KEEP_TAB)) ||
		    !textsafe_is_unsafe(c))
			g_string_append_len(out, p, g_utf8_next_char(p) - p);
		else if (!(flags & CLEAN_DROP))
			g_string_append(out, REPLACEMENT);
	}
	g_free(valid);
	return out;
}

/* Cut s to at most max bytes, never inside a UTF-8 sequence. */
static gboolean
utf8_cut(GString *s, gsize max)
{
	gsize	 n = max;

	if (s->len <= max)
		return FALSE;
	while (n > 0 && ((guchar)s->str[n] & 0xc0) == 0x80)
		n--;
	g_string_truncate(s, n);
	return TRUE;
}

/*
 * A header value for display: CR, LF and runs of white space become one
 * space (unfolding, and no line break smuggled into a one-line field),
 * then cleaned as any header.  NULL stays NULL.
 */
static char *
clean_header_line(const char *s)
{
	GString		*flat, *out;
	gboolean	 space = FALSE;

	if (s == NULL)
		return NULL;
	flat = g_string_new(NULL);
	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
			space = TRUE;
			continue;
		}
		if (space && flat->len > 0)
			g_string_append_c(flat, ' ');
		space = FALSE;
		g_string_append_c(flat, *s);
	}
	out = clean_text(flat->str, flat->len, CLEAN_KEEP_TAB);
	g_string_free(flat, TRUE);
	return g_string_free(out, FALSE);
}

/* A decoded header (subject, addresses) cleaned; NULL gives dflt. */
static char *
clean_header(const char *s, const char *dflt)
{
	if (s == NULL)
		return g_strdup(dflt);
	return g_string_free(clean_text(s, strlen(s), CLEAN_KEEP_TAB), FALSE);
}

/*
 * Undo the MDA's ">From " quoting on every line of s, in place, with the
 * spool's own rule (spool_unquote_from()).  Returns the new length.
 */
static gsize
unquote_from_lines(char *s, gsize len)
{
	gsize	r = 0, w = 0, n, kept;

	while (r < len) {
		const char *nl = memchr(s + r, '\n', len - r);

		n = nl != NULL ? (gsize)(nl - (s + r)) + 1 : len - r;
		kept = spool_unquote_from(s + r, n);
		memmove(s + w, s + r, kept);
		w += kept;
		r += n;
	}
	return w;
}

/*
 * TRUE if s is a plausible charset name.  It comes from the mail and may
 * end up in a Content-Type response header: anything but these
 * characters could split or extend that header (response splitting).
 */
static gboolean
charset_name_ok(const char *s)
{
	gsize	 i;

	if (s == NULL || *s == '\0' || strlen(s) > CHARSET_MAX)
		return FALSE;
	for (i = 0; s[i] != '\0'; i++)
		if (!g_ascii_isalnum(s[i]) && strchr("-_.:+", s[i]) == NULL)
			return FALSE;
	return TRUE;
}

/*
 * The declared charset of a text part if it is a name we accept and
 * iconv can convert from it to UTF-8, else NULL ("x-nonsense" is then
 * read as UTF-8 with invalid bytes replaced).  The filter, if asked
 * for, is set to the converter, or NULL when the text is UTF-8 (or
 * ASCII, read as UTF-8: mislabelled 8-bit mail is common) already.
 */
static const char *
part_charset(GMimeObject *obj, GMimeFilter **filter)
{
	const char	*cs;
	GMimeFilter	*f;

	if (filter != NULL)
		*filter = NULL;
	cs = g_mime_object_get_content_type_parameter(obj, "charset");
	if (!charset_name_ok(cs))
		return NULL;
	if (g_ascii_strcasecmp(cs, "utf-8") == 0 ||
	    g_ascii_strcasecmp(cs, "utf8") == 0 ||
	    g_ascii_strcasecmp(cs, "us-ascii") == 0) {
		return cs;
	}
	if ((f = g_mime_filter_charset_new(cs, "utf-8")) == NULL)
		return NULL;
	if (filter != NULL)
		*filter = f;
	else
		g_object_unref(f);
	return cs;
}

/*
 * "type/subtype" in lower case.  A type with other characters than
 * RFC 6838 allows becomes application/octet-stream: the string goes
 * into a Content-Type response header, where anything else could split
 * it, and an odd type only serves to confuse content sniffing.
 */
static char *
part_mime_type(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	char		*mt, *lower, *p;
	gboolean	 ok;
	int		 slashes = 0;

	if (ct == NULL || (mt = g_mime_content_type_get_mime_type(ct)) == NULL)
		return g_strdup("application/octet-stream");
	lower = g_ascii_strdown(mt, -1);
	g_free(mt);
	ok = lower[0] != '/' && strlen(lower) <= 255;
	for (p = lower; ok && *p != '\0'; p++) {
		if (*p == '/') {
			ok = ++slashes == 1 && p[1] != '\0';
			continue;
		}
		ok = g_ascii_isalnum(*p) || strchr("!#$&-^_.+", *p) != NULL;
	}
	if (!ok || slashes != 1) {
		g_free(lower);
		return g_strdup("application/octet-stream");
	}
	return lower;
}

/*
 * The file name to offer for a download, or NULL.  Only the last path
 * component is kept ("../../etc/passwd" must not become a path when
 * saved: directory traversal on the user's machine), control and bidi
 * characters are removed (a name that displays as something else), the
 * length capped, and "." and ".." refused.
 */
static char *
clean_filename(const char *name)
{
	const char	*base, *p;
	GString		*s;

	if (name == NULL)
		return NULL;
	base = name;
	for (p = name; *p != '\0'; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	s = clean_text(base, strlen(base), CLEAN_DROP);
	utf8_cut(s, NAME_MAX_BYTES);
	if (s->len == 0 || strcmp(s->str, ".") == 0 ||
	    strcmp(s->str, "..") == 0) {
		g_string_free(s, TRUE);
		return NULL;
	}
	return g_string_free(s, FALSE);
}

/* The file name GMime decoded (RFC 2231, RFC 2047) for a leaf, raw. */
static const char *
part_filename(GMimeObject *obj)
{
	const char	*name;

	if (GMIME_IS_PART(obj))
		return g_mime_part_get_filename(GMIME_PART(obj));
	name = g_mime_object_get_content_disposition_parameter(obj,
	    "filename");
	if (name == NULL)
		name = g_mime_object_get_content_type_parameter(obj, "name");
	return name;
}

/*
 * What a leaf is for the page.  Only a GMimePart of text/ can be text;
 * text/html never is (it is markup: listed, shown sandboxed), and an
 * embedded message/rfc822 is an attachment, not descended into.
 */
static enum mailview_kind
part_kind(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	GMimeContentDisposition *cd;

	if (!GMIME_IS_PART(obj) || ct == NULL)
		return MAILVIEW_ATTACHMENT;
	if (g_mime_content_type_is_type(ct, "text", "html"))
		return MAILVIEW_HTML;
	if (!g_mime_content_type_is_type(ct, "text", "*"))
		return MAILVIEW_ATTACHMENT;
	cd = g_mime_object_get_content_disposition(obj);
	if (cd != NULL && g_mime_content_disposition_is_attachment(cd))
		return MAILVIEW_ATTACHMENT;
	return MAILVIEW_TEXT;
}

/*
 * Collect the leaves under obj depth-first, at most MAILVIEW_PARTS_MAX.
 * A multipart nested DEPTH_MAX deep is a leaf itself (an attachment, to
 * download whole): a message of thousands of nested multiparts must not
 * exhaust the stack here, and nothing in it silently disappears.
 */
static void
collect_leaves(GMimeObject *obj, guint depth, GPtrArray *leaves)
{
	int	 i, n;

	if (obj == NULL || leaves->len >= MAILVIEW_PARTS_MAX)
		return;
	if (!GMIME_IS_MULTIPART(obj) || depth >= DEPTH_MAX) {
		g_ptr_array_add(leaves, obj);
		return;
	}
	n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
	for (i = 0; i < n; i++)
		collect_leaves(g_mime_multipart_get_part(GMIME_MULTIPART(obj),
		    i), depth + 1, leaves);
}

/*
 * Write the decoded content of a leaf to dest: a part's transfer
 * encoding undone; an embedded message, or a multipart too deep to
 * follow, as it is.  FALSE on failure.
 */
static gboolean
write_leaf(GMimeObject *obj, GMimeStream *dest)
{
	GMimeDataWrapper *dw;

	if (GMIME_IS_PART(obj)) {
		dw = g_mime_part_get_content(GMIME_PART(obj));
		if (dw == NULL)
			return TRUE;
		if (g_mime_data_wrapper_write_to_stream(dw, dest) == -1)
			return FALSE;
	} else if (g_mime_object_write_content_to_stream(obj, NULL,
	    dest) == -1)
		return FALSE;
	return g_mime_stream_flush(dest) != -1;
}

/* The decoded size of a leaf, counted through a null stream. */
static gsize
leaf_size(GMimeObject *obj)
{
	GMimeStream	*null = g_mime_stream_null_new();
	gsize		 n;

	write_leaf(obj, null);
	n = GMIME_STREAM_NULL(null)->written;
	g_object_unref(null);
	return n;
}

/*
 * The text of a text part, for the page: its raw bytes pushed through
 * GMime's filters (the transfer decoder, as g_mime_data_wrapper_write_
 * to_stream() picks it; the charset to UTF-8; CRLF to LF) into memory,
 * until more than MAILVIEW_TEXT_MAX bytes came out; then made valid,
 * unquoted and cleaned, and cut at a character boundary.  A text part
 * of 50 MB costs reading about 1 MB of it, never 50 MB of memory.
 */
static char *
part_text(GMimePart *part, gboolean *truncated)
{
	GMimeDataWrapper *dw = g_mime_part_get_content(part);
	GMimeContentEncoding enc;
	GMimeStream	*raw, *mem, *conv;
	GMimeFilter	*f;
	GByteArray	*buf;
	GString		*text;
	char		 chunk[READ_CHUNK];
	ssize_t		 n;
	gboolean	 full = FALSE;

	*truncated = FALSE;
	if (dw == NULL || (raw = g_mime_data_wrapper_get_stream(dw)) == NULL ||
	    g_mime_stream_reset(raw) == -1)
		return g_strdup("");
	enc = g_mime_data_wrapper_get_encoding(dw);

	mem = g_mime_stream_mem_new();
	conv = g_mime_stream_filter_new(mem);
	if (enc == GMIME_CONTENT_ENCODING_BASE64 ||
	    enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
	    enc == GMIME_CONTENT_ENCODING_UUENCODE) {
		f = g_mime_filter_basic_new(enc, FALSE);
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(conv), f);
		g_object_unref(f);
	}
	part_charset(GMIME_OBJECT(part), &f);
	if (f != NULL) {
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(conv), f);
		g_object_unref(f);
	}
	f = g_mime_filter_dos2unix_new(FALSE);
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(conv), f);
	g_object_unref(f);

	/* One chunk read past the limit tells whether any text was lost. */
	buf = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	while ((n = g_mime_stream_read(raw, chunk, sizeof(chunk))) > 0) {
		if (full) {
			*truncated = TRUE;
			break;
		}
		if (g_mime_stream_write(conv, chunk, n) == -1)
			break;
		full = buf->len > MAILVIEW_TEXT_MAX;
	}
	g_mime_stream_flush(conv);

	/*
	 * The MDA quotes ">From " in the lines of the spool; base64 and
	 * uuencoded text had none of its decoded lines there, so only the
	 * other encodings are unquoted, lest an author's own ">From " lose
	 * its '>'.
	 */
	text = clean_text((const char *)buf->data, buf->len, CLEAN_KEEP_NL |
	    CLEAN_KEEP_TAB);
	if (enc != GMIME_CONTENT_ENCODING_BASE64 &&
	    enc != GMIME_CONTENT_ENCODING_UUENCODE)
		g_string_set_size(text, unquote_from_lines(text->str,
		    text->len));
	if (utf8_cut(text, MAILVIEW_TEXT_MAX))
		*truncated = TRUE;

	g_object_unref(conv);
	g_object_unref(mem);
	return g_string_free(text, FALSE);
}

/* Free a part (a GDestroyNotify for the parts array). */
static void
part_free(gpointer data)
{
	struct mailview_part *p = data;

	g_free(p->content_type);
	g_free(p->filename);
	g_free(p->text);
	g_free(p);
}

/* Describe leaf number (1-based) for the page. */
static struct mailview_part *
part_new(GMimeObject *obj, guint number)
{
	struct mailview_part *p = g_new0(struct mailview_part, 1);

	p->kind = part_kind(obj);
	p->number = number;
	p->content_type = part_mime_type(obj);
	p->filename = clean_filename(part_filename(obj));
	p->size = leaf_size(obj);
	if (p->kind == MAILVIEW_TEXT)
		p->text = part_text(GMIME_PART(obj), &p->truncated);
	return p;
}

/*
 * Parse the message in [start, end) of fd.  Parts are not read now:
 * GMime keeps bounded substreams of fd (owner FALSE, so never closed),
 * read when a part is decoded, so fd must stay open while the message
 * lives.  Content-Length is not trusted (GMime's default): the mbox
 * framing is the spool's, and a lying header must not swallow mail.
 */
static GMimeMessage *
open_message(int fd, guint64 start, guint64 end, GError **err)
{
	GMimeStream	*stream;
	GMimeParser	*parser;
	GMimeMessage	*msg;

	if (start > end || end > G_MAXINT64) {
		g_set_error(err, MAILVIEW_ERROR, MAILVIEW_ERROR_RANGE,
		    "bad message range %" G_GUINT64_FORMAT "-%"
		    G_GUINT64_FORMAT, start, end);
		return NULL;
	}
	stream = g_mime_stream_fs_new_with_bounds(fd, (gint64)start,
	    (gint64)end);
	g_mime_stream_fs_set_owner(GMIME_STREAM_FS(stream), FALSE);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	if (msg == NULL)
		g_set_error(err, MAILVIEW_ERROR, MAILVIEW_ERROR_PARSE,
		    "no message at offset %" G_GUINT64_FORMAT, start);
	return msg;
}

/* The leaves of msg, borrowed from it, numbered by their index + 1. */
static GPtrArray *
message_leaves(GMimeMessage *msg)
{
	GPtrArray	*leaves = g_ptr_array_new();

	collect_leaves(g_mime_message_get_mime_part(msg), 0, leaves);
	return leaves;
}

/* An address list as GMime formats it, decoded; NULL if empty. */
static char *
address_list(InternetAddressList *list)
{
	char	*s, *clean;

	if (list == NULL || internet_address_list_length(list) == 0)
		return NULL;
	if ((s = internet_address_list_to_string(list, NULL, FALSE)) == NULL)
		return NULL;
	clean = clean_header(s, NULL);
	g_free(s);
	return clean;
}

/*
 * Every header called name, as written (not RFC 2047 decoded: these are
 * trace fields, and "=?...?=" in an address is part of it), cleaned, in
 * the order written: for Received, newest first.
 */
static GPtrArray *
raw_headers(GMimeObject *obj, const char *name)
{
	GMimeHeaderList	*hl = g_mime_object_get_header_list(obj);
	GPtrArray	*found = g_ptr_array_new_with_free_func(g_free);
	GMimeHeader	*h;
	const char	*raw;
	int		 i, n;

	n = hl == NULL ? 0 : g_mime_header_list_get_count(hl);
	for (i = 0; i < n; i++) {
		h = g_mime_header_list_get_header_at(hl, i);
		if (g_ascii_strcasecmp(g_mime_header_get_name(h), name) != 0)
			continue;
		if ((raw = g_mime_header_get_raw_value(h)) == NULL)
			raw = "";
		g_ptr_array_add(found, clean_header_line(raw));
	}
	return found;
}

/* The first Return-Path as written (the one the delivery added), or
 * NULL if there is none or it is empty. */
static char *
return_path(GMimeObject *obj)
{
	GPtrArray	*all = raw_headers(obj, "Return-Path");
	char		*first = NULL;

	if (all->len > 0 && *(char *)all->pdata[0] != '\0')
		first = g_strdup(all->pdata[0]);
	g_ptr_array_free(all, TRUE);
	return first;
}

/* Parse the message in [start, end) of fd into a view (see mailview.h). */
struct mailview *
mailview_parse(int fd, guint64 start, guint64 end, GError **err)
{
	GMimeMessage	*msg;
	GMimeObject	*obj;
	GDateTime	*date;
	GPtrArray	*leaves;
	struct mailview	*mv;
	char		*s;
	guint		 i;

	if ((msg = open_message(fd, start, end, err)) == NULL)
		return NULL;
	obj = GMIME_OBJECT(msg);
	mv = g_new0(struct mailview, 1);

	s = address_list(g_mime_message_get_from(msg));
	mv->from = s != NULL ? s : g_strdup("");
	s = address_list(g_mime_message_get_to(msg));
	mv->to = s != NULL ? s : g_strdup("");
	mv->cc = address_list(g_mime_message_get_cc(msg));
	s = spool_header_text(obj, "Subject");
	mv->subject = clean_header(s, "");
	g_free(s);
	s = clean_header_line(g_mime_object_get_header(obj, "Date"));
	mv->date = s != NULL ? s : g_strdup("");
	/* The message owns the GDateTime (transfer none). */
	if ((date = g_mime_message_get_date(msg)) != NULL)
		mv->date_unix = g_date_time_to_unix(date);
	mv->message_id = clean_header_line(g_mime_message_get_message_id(msg));
	mv->return_path = return_path(obj);
	mv->received = raw_headers(obj, "Received");

	leaves = message_leaves(msg);
	mv->parts = g_ptr_array_new_with_free_func(part_free);
	for (i = 0; i < leaves->len; i++)
		g_ptr_array_add(mv->parts, part_new(leaves->pdata[i], i + 1));
	g_ptr_array_free(leaves, TRUE);
	g_object_unref(msg);
	return mv;
}

/* Free a view and everything in it; NULL is fine. */
void
mailview_free(struct mailview *mv)
{
	if (mv == NULL)
		return;
	g_free(mv->from);
	g_free(mv->to);
	g_free(mv->cc);
	g_free(mv->subject);
	g_free(mv->date);
	g_free(mv->message_id);
	g_free(mv->return_path);
	if (mv->received != NULL)
		g_ptr_array_free(mv->received, TRUE);
	if (mv->parts != NULL)
		g_ptr_array_free(mv->parts, TRUE);
	g_free(mv);
}

/* TRUE if s is an RFC 9110 token, as a parameter value may be bare. */
static gboolean
is_token(const char *s)
{
	for (; *s != '\0'; s++)
		if (!g_ascii_isalnum(*s) && strchr("!#$%&'*+-.^_`|~", *s) ==
		    NULL)
			return FALSE;
	return TRUE;
}

/*
 * The Content-Type to serve a leaf with: its type, and for text/ the
 * declared charset when iconv knows it, so that the browser decodes the
 * bytes as the sender meant (and does not sniff).  A charset name that
 * is no token ("ISO_8859-1:1987") goes by GMime's canonical name
 * ("iso-8859-1") if that one is, else is left out.
 */
static char *
part_content_type(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	const char	*cs;
	char		*mt, *lower, *full;

	mt = part_mime_type(obj);
	if (!GMIME_IS_PART(obj) || ct == NULL ||
	    !g_mime_content_type_is_type(ct, "text", "*") ||
	    (cs = part_charset(obj, NULL)) == NULL)
		return mt;
	if (!is_token(cs) && !is_token(cs = g_mime_charset_canon_name(cs)))
		return mt;
	lower = g_ascii_strdown(cs, -1);
	full = g_strdup_printf("%s; charset=%s", mt, lower);
	g_free(lower);
	g_free(mt);
	return full;
}

/* Decode leaf number of the message in [start, end) to out. */
gboolean
mailview_part(int fd, guint64 start, guint64 end, guint number, int out,
    char **content_type, char **filename, GError **err)
{
	GMimeMessage	*msg;
	GMimeObject	*obj;
	GMimeStream	*file;
	GPtrArray	*leaves;
	gboolean	 ok = FALSE;

	if (content_type != NULL)
		*content_type = NULL;
	if (filename != NULL)
		*filename = NULL;
	if ((msg = open_message(fd, start, end, err)) == NULL)
		return FALSE;
	leaves = message_leaves(msg);
	if (number == 0 || number > leaves->len) {
		g_set_error(err, MAILVIEW_ERROR, MAILVIEW_ERROR_NO_PART,
		    "no part %u", number);
		goto done;
	}
	obj = leaves->pdata[number - 1];
	/* Written as it is decoded: an attachment of tens of MB never sits
	 * in memory. */
	file = g_mime_stream_fs_new(out);
	g_mime_stream_fs_set_owner(GMIME_STREAM_FS(file), FALSE);
	ok = write_leaf(obj, file);
	g_object_unref(file);
	if (!ok) {
		g_set_error(err, MAILVIEW_ERROR, MAILVIEW_ERROR_IO,
		    "cannot decode part %u", number);
		goto done;
	}
	if (content_type != NULL)
		*content_type = part_content_type(obj);
	if (filename != NULL)
		*filename = clean_filename(part_filename(obj));
done:
	g_ptr_array_free(leaves, TRUE);
	g_object_unref(msg);
	return ok;
}
