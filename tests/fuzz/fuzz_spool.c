/*
 * fuzz_spool - the mbox spool index: any bytes as a spool file, indexed,
 * every message summarised and copied out, then indexed again.
 *
 * Promises checked (spool.h):
 *  - the index tiles the file from its first From_ line to its end:
 *    messages in increasing offset order, each starting where the one
 *    before it ends, the last ending at the end of the file; each starts
 *    with "From " and its body right after that line (after its line
 *    end, or at the end of a file that ends inside it);
 *  - a message starts at each line, and only at each line, that has the
 *    form of a From_ line (spool_is_from_line(), CR of a CRLF dropped)
 *    at the start of the file or after a blank line; before the first
 *    message any line start will do (the bytes there are ignored);
 *  - spool_message() and the readers refuse numbers 0 and count + 1
 *    (SPOOL_ERROR_NO_MESSAGE);
 *  - every summary of the unchanged file is had, is kept (the same
 *    pointer the second time), and its strings are valid UTF-8, at most
 *    SPOOL_SUMMARY_CHARS characters, without control characters nor
 *    bidi controls;
 *  - spool_copy_message() appends exactly the bytes from body_offset to
 *    the message's end (the From_ line excluded, nothing unquoted);
 *  - a second update of the unchanged file gives the same messages and
 *    reads the fingerprint only (the whole file if it ends inside a
 *    From_ line);
 *  - a file indexed, then grown (its first half, then the rest
 *    appended), gives the same messages and summaries as a fresh index,
 *    and reads the new bytes and under 1 KiB plus the fingerprint more;
 *  - spool_unquote_from() on each line drops one '>' exactly when the
 *    line starts with '>'s then "From ".
 */
#include <sys/stat.h>

#include <string.h>

#include "fuzz.h"
#include "spool.h"

/* A "From " line this long is not judged by the model below: spool.c
 * reads one of 1 KiB or more as body text, a limit spool.h leaves out. */
#define MODEL_LINE_MAX	1000
/* What an update of a grown file may re-read before the old end, as
 * spool.h says: a line "under 1 KiB", and the fingerprint. */
#define REREAD_MAX	(SPOOL_FROM_LINE_MAX + SPOOL_FINGERPRINT)
#define LOCK_WAIT_MS	1

/* Where each message of the file is, copied out of an index. */
struct where {
	guint64	offset;
	guint64	length;
	guint64	body_offset;
};

/* A new index of fd, which must succeed: the file is ours, unlocked. */
static struct spool_index *
index_of(int fd, guint64 *bytes_read)
{
	struct spool_index	*idx = spool_index_new();
	GError			*err = NULL;

	spool_index_set_lock_wait(idx, LOCK_WAIT_MS);
	if (!spool_index_update(idx, fd, bytes_read, &err))
		g_error("spool_index_update: %s", err->message);
	return idx;
}

/* The messages of idx, to compare with those of another update. */
static GArray *
where_all(const struct spool_index *idx)
{
	GArray				*a;
	const struct spool_message	*m;
	struct where			 w;
	guint				 i;

	a = g_array_new(FALSE, FALSE, sizeof(struct where));
	for (i = 1; i <= spool_count(idx); i++) {
		m = spool_message(idx, i);
		w.offset = m->offset;
		w.length = m->length;
		w.body_offset = m->body_offset;
		g_array_append_val(a, w);
	}
	return a;
}

/* Two updates of one file found the same messages. */
static void
assert_same_where(GArray *a, GArray *b)
{
	g_assert_cmpuint(a->len, ==, b->len);
	g_assert_true(a->len == 0 ||
	    memcmp(a->data, b->data, a->len * sizeof(struct where)) == 0);
}

/* Where the line at off ends: its '\n', or the end of the file. */
static gsize
line_end(const uint8_t *data, size_t size, gsize off)
{
	const uint8_t	*nl = memchr(data + off, '\n', size - off);

	return nl != NULL ? (gsize)(nl - data) : size;
}

/*
 * The message starts spool.h describes, found line by line, slowly and
 * plainly; NULL when a "From " line is too long for the model to judge.
 */
static GArray *
model_starts(const uint8_t *data, size_t size)
{
	GArray		*starts = g_array_new(FALSE, FALSE, sizeof(guint64));
	gsize		 off, e, textlen, prev = 0;
	gboolean	 blank;
	guint64		 o;

	for (off = 0; off < size; prev = off, off = e + 1) {
		e = line_end(data, size, off);
		/* The line before is empty or a lone CR; the file's start
		 * counts as after a blank line. */
		blank = off == 0 || off - 1 == prev ||
		    (off - 2 == prev && data[prev] == '\r');
		if (!blank && starts->len > 0)
			continue;
		if (e - off < 5 || memcmp(data + off, "From ", 5) != 0)
			continue;
		if (e - off >= MODEL_LINE_MAX) {
			g_array_free(starts, TRUE);
			return NULL;
		}
		textlen = e - off;
		if (data[e - 1] == '\r')
			textlen--;
		if (spool_is_from_line((const char *)data + off, textlen, NULL)) {
			o = off;
			g_array_append_val(starts, o);
		}
	}
	return starts;
}

/* The messages tile the file from the first From_ line on. */
static void
check_layout(const struct spool_index *idx, const uint8_t *data, size_t size)
{
	const struct spool_message	*m, *next;
	GArray				*starts;
	guint				 i, n = spool_count(idx);

	for (i = 1; i <= n; i++) {
		m = spool_message(idx, i);
		g_assert_nonnull(m);
		g_assert_cmpuint(m->offset, <, size);
		g_assert_cmpuint(m->offset + m->length, <=, size);
		g_assert_cmpuint(m->body_offset, >, m->offset);
		g_assert_cmpuint(m->body_offset, <=, m->offset + m->length);
		g_assert_true(memcmp(data + m->offset, "From ", 5) == 0);
		/* The body starts after the From_ line's end, or at the end
		 * of a file that ends inside that line. */
		g_assert_true(m->body_offset == size ||
		    data[m->body_offset - 1] == '\n');
		g_assert_null(memchr(data + m->offset, '\n',
		    m->body_offset - 1 - m->offset));
		next = spool_message(idx, i + 1);
		if (next != NULL)
			g_assert_cmpuint(m->offset + m->length, ==,
			    next->offset);
		else
			g_assert_cmpuint(m->offset + m->length, ==, size);
	}
	g_assert_null(spool_message(idx, 0));
	g_assert_null(spool_message(idx, n + 1));

	if ((starts = model_starts(data, size)) == NULL)
		return;
	g_assert_cmpuint(starts->len, ==, n);
	for (i = 1; i <= n; i++)
		g_assert_cmpuint(spool_message(idx, i)->offset, ==,
		    g_array_index(starts, guint64, i - 1));
	g_array_free(starts, TRUE);
}

/* Valid UTF-8, at most SPOOL_SUMMARY_CHARS characters, no control nor
 * bidi control character. */
static void
check_summary_text(const char *s)
{
	const char	*p;

	g_assert_nonnull(s);
	g_assert_true(g_utf8_validate(s, -1, NULL));
	g_assert_cmpint(g_utf8_strlen(s, -1), <=, SPOOL_SUMMARY_CHARS);
	for (p = s; *p != '\0'; p = g_utf8_next_char(p))
		g_assert_false(fuzz_unsafe_char(g_utf8_get_char(p)));
}

/* Summary number of the unchanged file: had, clean, then kept. */
static const struct spool_summary *
check_summary(struct spool_index *idx, int fd, guint number)
{
	const struct spool_summary	*sum;
	GError				*err = NULL;

	if ((sum = spool_summary(idx, fd, number, &err)) == NULL)
		g_error("spool_summary %u: %s", number, err->message);
	check_summary_text(sum->from_name);
	check_summary_text(sum->from_addr);
	check_summary_text(sum->subject);
	g_assert_true(spool_summary(idx, fd, number, NULL) == sum);
	g_assert_true(spool_message(idx, number)->summary == sum);
	return sum;
}

/* Every byte of file fd, which holds len bytes. */
static char *
file_bytes(int fd, gsize *len)
{
	struct stat	 st;
	char		*buf;

	g_assert(fstat(fd, &st) == 0);
	*len = (gsize)st.st_size;
	buf = g_malloc(*len + 1);
	g_assert(pread(fd, buf, *len, 0) == (ssize_t)*len);
	return buf;
}

/* Message number copied out: its bytes after the From_ line, as is. */
static void
check_copy(const struct spool_index *idx, int fd, guint number,
    const uint8_t *data)
{
	const struct spool_message	*m = spool_message(idx, number);
	GError				*err = NULL;
	char				*got;
	gsize				 len;
	int				 out;

	/* Something already in out stays: the copy goes to its end. */
	out = fuzz_file((const uint8_t *)"x", 1);
	g_assert(lseek(out, 0, SEEK_END) == 1);
	if (!spool_copy_message(idx, fd, number, out, &err))
		g_error("spool_copy_message %u: %s", number, err->message);
	got = file_bytes(out, &len);
	g_assert_cmpuint(len, ==, 1 + m->offset + m->length - m->body_offset);
	g_assert_true(got[0] == 'x');
	g_assert_true(memcmp(got + 1, data + m->body_offset, len - 1) == 0);
	g_free(got);
	close(out);
}

/* The readers refuse a number that has no message. */
static void
check_no_message(struct spool_index *idx, int fd, guint number)
{
	GError	*err = NULL;
	int	 out;

	g_assert_null(spool_summary(idx, fd, number, &err));
	g_assert_error(err, SPOOL_ERROR, SPOOL_ERROR_NO_MESSAGE);
	g_clear_error(&err);
	out = fuzz_file(NULL, 0);
	g_assert_false(spool_copy_message(idx, fd, number, out, &err));
	g_assert_error(err, SPOOL_ERROR, SPOOL_ERROR_NO_MESSAGE);
	g_clear_error(&err);
	close(out);
}

/* TRUE if the file ends inside the last message's From_ line. */
static gboolean
ends_in_from_line(const struct spool_index *idx, const uint8_t *data,
    size_t size)
{
	const struct spool_message	*m;

	m = spool_message(idx, spool_count(idx));
	return m != NULL && m->body_offset == size && data[size - 1] != '\n';
}

/* A summary kept across an update says what a fresh one says. */
static void
assert_same_summary(const struct spool_summary *a,
    const struct spool_summary *b)
{
	g_assert_cmpstr(a->from_name, ==, b->from_name);
	g_assert_cmpstr(a->from_addr, ==, b->from_addr);
	g_assert_cmpstr(a->subject, ==, b->subject);
	g_assert_cmpint(a->date, ==, b->date);
	g_assert_cmpint(a->has_attachment, ==, b->has_attachment);
}

/*
 * The file's first half indexed and summarised, then the rest appended:
 * the update reads little and agrees with a fresh index, summaries kept
 * from before included.
 */
static void
check_growth(const uint8_t *data, size_t size)
{
	struct spool_index	*idx, *fresh;
	GArray			*a, *b;
	guint64			 nread;
	gsize			 half = size / 2;
	gboolean		 was_cut;
	GError			*err = NULL;
	guint			 i;
	int			 fd;

	fd = fuzz_file(data, half);
	idx = index_of(fd, NULL);
	for (i = 1; i <= spool_count(idx); i++)
		(void)check_summary(idx, fd, i);
	was_cut = ends_in_from_line(idx, data, half);
	g_assert(pwrite(fd, data + half, size - half, (off_t)half) ==
	    (ssize_t)(size - half));
	if (!spool_index_update(idx, fd, &nread, &err))
		g_error("spool_index_update, grown: %s", err->message);
	/* A From_ line cut by the old end makes it read everything. */
	if (!was_cut)
		g_assert_cmpuint(nread, <=, size - half + REREAD_MAX);
	fresh = index_of(fd, NULL);
	a = where_all(idx);
	b = where_all(fresh);
	assert_same_where(a, b);
	for (i = 1; i <= spool_count(idx); i++)
		assert_same_summary(check_summary(idx, fd, i),
		    check_summary(fresh, fd, i));
	g_array_free(a, TRUE);
	g_array_free(b, TRUE);
	spool_index_free(fresh);
	spool_index_free(idx);
	close(fd);
}

/* spool_unquote_from() on every line of the file. */
static void
check_unquote(const uint8_t *data, size_t size)
{
	gsize	 off, e, len, got;
	char	*line;

	for (off = 0; off < size; off = e + 1) {
		e = line_end(data, size, off);
		len = e - off;
		/* Not g_strndup(): the line may hold NUL bytes. */
		line = g_malloc(len + 1);
		memcpy(line, data + off, len);
		got = spool_unquote_from(line, len);
		if (len >= 6 && memcmp(data + off, ">From ", 6) == 0) {
			g_assert_cmpuint(got, ==, len - 1);
			g_assert_true(memcmp(line, data + off + 1, len - 1) == 0);
		} else {
			g_assert_cmpuint(got, ==, len);
			g_assert_true(memcmp(line, data + off, len) == 0);
		}
		g_free(line);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_index	*idx;
	GArray			*before, *after;
	GError			*err = NULL;
	guint64			 nread;
	guint			 i, n;
	int			 fd;

	fd = fuzz_file(data, size);
	idx = index_of(fd, &nread);
	g_assert_cmpuint(nread, ==, size);
	check_layout(idx, data, size);
	n = spool_count(idx);
	for (i = 1; i <= n; i++) {
		(void)check_summary(idx, fd, i);
		check_copy(idx, fd, i, data);
	}
	check_no_message(idx, fd, 0);
	check_no_message(idx, fd, n + 1);

	/* The same file again: the same messages, from the fingerprint. */
	before = where_all(idx);
	if (!spool_index_update(idx, fd, &nread, &err))
		g_error("spool_index_update, again: %s", err->message);
	after = where_all(idx);
	assert_same_where(before, after);
	if (ends_in_from_line(idx, data, size))
		g_assert_cmpuint(nread, ==, size);
	else
		g_assert_cmpuint(nread, ==, MIN(size, SPOOL_FINGERPRINT));
	g_array_free(before, TRUE);
	g_array_free(after, TRUE);
	spool_index_free(idx);
	close(fd);

	check_growth(data, size);
	check_unquote(data, size);
	return 0;
}
