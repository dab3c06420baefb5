/*
 * fuzz_mailview - message rendering: any bytes as one message of a
 * spool, parsed into a view, then every part downloaded.
 *
 * Promises checked (mailview.h):
 *  - a message GMime cannot parse is NULL with MAILVIEW_ERROR_PARSE; a
 *    start after the end is MAILVIEW_ERROR_RANGE, for both calls;
 *  - every string of a view is valid UTF-8 without control characters
 *    (C0, DEL, C1) but '\t' in headers, '\n' and '\t' in text, and
 *    without bidi embeddings, overrides and isolates (U+202A-U+202E,
 *    U+2066-U+2069); from, to, subject and date are never NULL;
 *  - at most MAILVIEW_PARTS_MAX parts, numbered 1, 2, ... in order; a
 *    part's content_type is "type/subtype", lower case, of token
 *    characters; a file name has no control or bidi characters, no
 *    '/' or '\\' (path parts removed) and is neither "", "." nor "..";
 *    text is there exactly for MAILVIEW_TEXT parts, at most
 *    MAILVIEW_TEXT_MAX bytes, and only they may be truncated;
 *  - the message is read between the offsets given and nothing else:
 *    the same bytes between others in a file give the same view;
 *  - mailview_part() of every part number succeeds and writes its
 *    decoded content, as many bytes as the part's size says, appended
 *    to out; its content type is the part's, maybe with "; charset=X"
 *    after it, X of token characters only; its file name is the part's;
 *    numbers 0 and past the last part are MAILVIEW_ERROR_NO_PART, with
 *    both outputs NULL.
 */
#include <sys/stat.h>

#include <string.h>

#include "fuzz.h"
#include "mailview.h"

/*
 * Bytes around the message in the second file: a From_ line and a
 * message of their own, which would show in the view (a subject, a
 * part) if the bounds leaked.
 */
#define BEFORE	"From leak@before.test  Mon Jan  6 10:00:00 2025\n" \
		"Subject: before\n\nbefore\n\n"
#define AFTER	"\n\nFrom leak@after.test  Mon Jan  6 10:00:01 2025\n" \
		"Subject: after\n\n--b\n\nafter\n"

/* The message's bytes, [start, end) of a file. */
struct message {
	int	fd;
	guint64	start;
	guint64	end;
};

/* A view of the message, which must not be NULL: it parsed once. */
static struct mailview *
view_of(const struct message *m)
{
	struct mailview	*mv;
	GError		*err = NULL;

	if ((mv = mailview_parse(m->fd, m->start, m->end, &err)) == NULL)
		g_error("mailview_parse: %s", err->message);
	return mv;
}

/* Valid UTF-8, no control character but those in allowed, no bidi. */
static void
check_clean(const char *s, const char *allowed)
{
	const char	*p;
	gunichar	 c;

	g_assert_nonnull(s);
	g_assert_true(g_utf8_validate(s, -1, NULL));
	for (p = s; *p != '\0'; p = g_utf8_next_char(p)) {
		c = g_utf8_get_char(p);
		if (c >= 0x80 || strchr(allowed, (int)c) == NULL)
			g_assert_false(fuzz_unsafe_char(c));
	}
}

/* A header string: NULL only where mailview.h allows it. */
static void
check_header(const char *s, gboolean may_be_null)
{
	if (s == NULL && may_be_null)
		return;
	check_clean(s, "\t");
}

/* RFC 9110's tchar: what a token, and so this header value, may hold. */
static gboolean
is_tchar(char c)
{
	return g_ascii_isalnum(c) || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Skip a token of at least one character; NULL if there is none. */
static const char *
skip_token(const char *s)
{
	const char	*p;

	for (p = s; is_tchar(*p); p++)
		;
	return p > s ? p : NULL;
}

/* "type/subtype" of token characters; what follows it. */
static const char *
skip_mime_type(const char *s)
{
	if ((s = skip_token(s)) == NULL || *s != '/')
		return NULL;
	return skip_token(s + 1);
}

/* A part's content_type: "type/subtype", lower case. */
static void
check_part_type(const char *s)
{
	const char	*p;

	g_assert_nonnull(s);
	p = skip_mime_type(s);
	g_assert_nonnull(p);
	g_assert_true(*p == '\0');
	for (p = s; *p != '\0'; p++)
		g_assert_false(g_ascii_isupper(*p));
}

/* A file name: clean of controls and bidi, no path, not "." or "..". */
static void
check_filename(const char *s)
{
	if (s == NULL)
		return;
	check_clean(s, "");
	g_assert_null(strchr(s, '/'));
	g_assert_null(strchr(s, '\\'));
	g_assert_cmpstr(s, !=, "");
	g_assert_cmpstr(s, !=, ".");
	g_assert_cmpstr(s, !=, "..");
}

/* One part of the list, number of them. */
static void
check_part(const struct mailview_part *p, guint number)
{
	g_assert_cmpuint(p->number, ==, number);
	g_assert_true(p->kind == MAILVIEW_TEXT || p->kind == MAILVIEW_HTML ||
	    p->kind == MAILVIEW_ATTACHMENT);
	check_part_type(p->content_type);
	check_filename(p->filename);
	if (p->kind != MAILVIEW_TEXT) {
		g_assert_null(p->text);
		g_assert_false(p->truncated);
		return;
	}
	check_clean(p->text, "\n\t");
	g_assert_cmpuint(strlen(p->text), <=, MAILVIEW_TEXT_MAX);
}

/* Every string of the view, every part. */
static void
check_view(const struct mailview *mv)
{
	guint	 i;

	check_header(mv->from, FALSE);
	check_header(mv->to, FALSE);
	check_header(mv->cc, TRUE);
	check_header(mv->subject, FALSE);
	check_header(mv->date, FALSE);
	check_header(mv->message_id, TRUE);
	check_header(mv->return_path, TRUE);
	g_assert_nonnull(mv->received);
	for (i = 0; i < mv->received->len; i++)
		check_header(mv->received->pdata[i], FALSE);
	g_assert_nonnull(mv->parts);
	g_assert_cmpuint(mv->parts->len, <=, MAILVIEW_PARTS_MAX);
	for (i = 0; i < mv->parts->len; i++)
		check_part(mv->parts->pdata[i], i + 1);
}

/* Two parses of the same bytes gave the same view. */
static void
assert_same_view(const struct mailview *a, const struct mailview *b)
{
	const struct mailview_part	*pa, *pb;
	guint				 i;

	g_assert_cmpstr(a->from, ==, b->from);
	g_assert_cmpstr(a->to, ==, b->to);
	g_assert_cmpstr(a->cc, ==, b->cc);
	g_assert_cmpstr(a->subject, ==, b->subject);
	g_assert_cmpstr(a->date, ==, b->date);
	g_assert_cmpint(a->date_unix, ==, b->date_unix);
	g_assert_cmpstr(a->message_id, ==, b->message_id);
	g_assert_cmpstr(a->return_path, ==, b->return_path);
	g_assert_cmpuint(a->received->len, ==, b->received->len);
	for (i = 0; i < a->received->len; i++)
		g_assert_cmpstr(a->received->pdata[i], ==,
		    b->received->pdata[i]);
	g_assert_cmpuint(a->parts->len, ==, b->parts->len);
	for (i = 0; i < a->parts->len; i++) {
		pa = a->parts->pdata[i];
		pb = b->parts->pdata[i];
		g_assert_cmpint(pa->kind, ==, pb->kind);
		g_assert_cmpstr(pa->content_type, ==, pb->content_type);
		g_assert_cmpstr(pa->filename, ==, pb->filename);
		g_assert_cmpuint(pa->size, ==, pb->size);
		g_assert_cmpstr(pa->text, ==, pb->text);
		g_assert_cmpint(pa->truncated, ==, pb->truncated);
	}
}

/* A file holding the message between other bytes. */
static int
padded_file(const uint8_t *data, size_t size)
{
	GByteArray	*b = g_byte_array_new();
	int		 fd;

	g_byte_array_append(b, (const guint8 *)BEFORE, strlen(BEFORE));
	if (size > 0)
		g_byte_array_append(b, data, (guint)size);
	g_byte_array_append(b, (const guint8 *)AFTER, strlen(AFTER));
	fd = fuzz_file(b->data, b->len);
	g_byte_array_free(b, TRUE);
	return fd;
}

/* How many bytes file fd holds. */
static gsize
file_size(int fd)
{
	struct stat	 st;

	g_assert(fstat(fd, &st) == 0);
	return (gsize)st.st_size;
}

/* The download's Content-Type: the part's, maybe "; charset=TOKEN". */
static void
check_download_type(const char *ct, const struct mailview_part *p)
{
	const char	*rest;
	gsize		 n = strlen(p->content_type);

	g_assert_nonnull(ct);
	g_assert_true(strncmp(ct, p->content_type, n) == 0);
	rest = ct + n;
	if (*rest == '\0')
		return;
	/* Not only after "text/": a text part whose type is refused is
	 * served as application/octet-stream, yet keeps its charset. */
	g_assert_true(g_str_has_prefix(rest, "; charset="));
	rest = skip_token(rest + strlen("; charset="));
	g_assert_nonnull(rest);
	g_assert_true(*rest == '\0');
}

/* Part p downloaded: its decoded bytes, its type, its file name. */
static void
check_download(const struct message *m, const struct mailview_part *p)
{
	char	*ct, *fn;
	GError	*err = NULL;
	int	 out;

	/* What out holds already stays: the part goes to its end. */
	out = fuzz_file((const uint8_t *)"x", 1);
	g_assert(lseek(out, 0, SEEK_END) == 1);
	if (!mailview_part(m->fd, m->start, m->end, p->number, out, &ct, &fn,
	    &err))
		g_error("mailview_part %u: %s", p->number, err->message);
	g_assert_cmpuint(file_size(out), ==, 1 + p->size);
	check_download_type(ct, p);
	g_assert_cmpstr(fn, ==, p->filename);
	g_free(ct);
	g_free(fn);
	close(out);
}

/* Part number does not exist: a 404, with nothing to serve. */
static void
check_no_part(const struct message *m, guint number)
{
	char	*ct = (char *)"set", *fn = (char *)"set";
	GError	*err = NULL;
	int	 out = fuzz_file(NULL, 0);

	g_assert_false(mailview_part(m->fd, m->start, m->end, number, out,
	    &ct, &fn, &err));
	g_assert_error(err, MAILVIEW_ERROR, MAILVIEW_ERROR_NO_PART);
	g_assert_null(ct);
	g_assert_null(fn);
	g_error_free(err);
	close(out);
}

/* A start after the end is refused by both calls. */
static void
check_range(int fd, size_t size)
{
	GError	*err = NULL;

	g_assert_null(mailview_parse(fd, size + 1, size, &err));
	g_assert_error(err, MAILVIEW_ERROR, MAILVIEW_ERROR_RANGE);
	g_clear_error(&err);
	g_assert_false(mailview_part(fd, size + 1, size, 1, -1, NULL, NULL,
	    &err));
	g_assert_error(err, MAILVIEW_ERROR, MAILVIEW_ERROR_RANGE);
	g_clear_error(&err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailview	*mv, *again;
	struct message	 m;
	GError		*err = NULL;
	guint		 i;
	int		 fd;

	fd = fuzz_file(data, size);
	check_range(fd, size);
	if ((mv = mailview_parse(fd, 0, size, &err)) == NULL) {
		g_assert_error(err, MAILVIEW_ERROR, MAILVIEW_ERROR_PARSE);
		g_error_free(err);
		close(fd);
		return 0;
	}
	check_view(mv);

	/* From here on, the message between a spool's other bytes. */
	m.fd = padded_file(data, size);
	m.start = strlen(BEFORE);
	m.end = m.start + size;
	again = view_of(&m);
	assert_same_view(mv, again);
	for (i = 0; i < mv->parts->len; i++)
		check_download(&m, mv->parts->pdata[i]);
	check_no_part(&m, 0);
	check_no_part(&m, mv->parts->len + 1);

	mailview_free(again);
	mailview_free(mv);
	close(m.fd);
	close(fd);
	return 0;
}
