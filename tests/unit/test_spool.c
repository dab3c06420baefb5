/*
 * test_spool - unit tests of the spool module.
 *
 * Crafted spools are written to temporary files and indexed; each
 * message is then read back and compared with the text it was built
 * from, so an offset or a length off by one shows.  Layouts, From_
 * lines, ">From " unquoting and summaries are tables.  The incremental
 * update is checked two ways: the bytes it reads (the new bytes and the
 * fingerprint, not the whole file), and against a fresh index of the
 * same file after every append, with appends cut at every kind of
 * place (inside a separator, inside a From_ line, at a chunk boundary).
 * The lock is held by a child process with a classic fcntl write lock,
 * as Postfix's local(8) holds it.
 */

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gmime/gmime.h>

#include "spool.h"

#include "body_file.h"

#define T0		1795840581	/* Sat Nov 28 04:36:21 2026 UTC */
#define FROM_A		"From darth@starwars.univ  Sat Nov 28 04:36:21 2026\n"
#define FROM_B		"From luke@rebels.univ  Sat Nov 28 04:36:22 2026\n"
#define FROM_C		"From MAILER-DAEMON  Sun Nov  1 04:36:21 2026\n"
#define LONG50		"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
#define FROM_A_CRLF	"From darth@starwars.univ  Sat Nov 28 04:36:21 2026\r\n"
#define FROM_B_CRLF	"From luke@rebels.univ  Sat Nov 28 04:36:22 2026\r\n"

/* A message as Postfix's local(8) appends it: headers, body, blank. */
#define POSTFIX_MSG(from, subject, body)				\
	from "Return-Path: <darth@starwars.univ>\n"			\
	"X-Original-To: root@mail181.com\n"				\
	"Delivered-To: root@mail181.com\n"				\
	"Received: from [172.20.181.1] (unknown [172.20.181.1])\n"	\
	"\tby smtp181.mail181.com (Postfix) with ESMTP id 1210F36E6C\n"	\
	"\tfor <root@mail181.com>; Sat, 28 Nov 2026 05:36:21 +0100 (CET)\n" \
	"Subject: " subject "\n"					\
	"\n" body "\n\n"

/* A spool file under g_get_tmp_dir(), open read-write. */
struct tmpspool {
	char	*path;
	int	 fd;
};

/* Write all of len bytes to fd. */
static void
write_all(int fd, const void *p, gsize len)
{
	ssize_t	 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		assert_true(n > 0);
		p = (const char *)p + n;
		len -= (gsize)n;
	}
}

/* A new spool file holding len bytes of text. */
static struct tmpspool
spool_file(const void *text, gsize len)
{
	struct tmpspool	 t;

	t.path = g_build_filename(g_get_tmp_dir(), "test_spool.XXXXXX",
	    NULL);
	t.fd = mkstemp(t.path);
	assert_true(t.fd >= 0);
	write_all(t.fd, text, len);
	return t;
}

/* Remove the file and close its fd. */
static void
spool_file_done(struct tmpspool *t)
{
	close(t->fd);
	unlink(t->path);
	g_free(t->path);
}

/* Append len bytes to the file, as a delivery would. */
static void
append(const struct tmpspool *t, const void *text, gsize len)
{
	int	 fd;

	fd = open(t->path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	write_all(fd, text, len);
	close(fd);
}

/* Replace the file's content in place (same inode). */
static void
rewrite(const struct tmpspool *t, const void *text, gsize len)
{
	assert_int_equal(ftruncate(t->fd, 0), 0);
	assert_int_equal(pwrite(t->fd, text, len, 0), (ssize_t)len);
}

/* Index the file with a new index; assert it worked. */
static struct spool_index *
index_file(int fd, guint64 *bytes_read)
{
	struct spool_index	*idx = spool_index_new();
	GError			*err = NULL;

	assert_true(spool_index_update(idx, fd, bytes_read, &err));
	assert_null(err);
	return idx;
}

/* Update idx; assert it worked; the bytes read. */
static guint64
update(struct spool_index *idx, int fd)
{
	GError	*err = NULL;
	guint64	 n = G_MAXUINT64;

	assert_true(spool_index_update(idx, fd, &n, &err));
	assert_null(err);
	return n;
}

/*
 * Update idx and assert that it read the whole file: size bytes, and
 * perhaps the few before the old end that told it to.
 */
static void
assert_reindex(struct spool_index *idx, int fd, gsize size)
{
	guint64	 n = update(idx, fd);

	if (n < size || n > size + 1100)
		fail_msg("read %" G_GUINT64_FORMAT " bytes of %zu", n, size);
}

/* Message number's bytes through spool_copy_message(); NULL on failure. */
static GBytes *
copy_message(const struct spool_index *idx, int fd, guint number,
    GError **err)
{
	int	out = body_file();

	if (!spool_copy_message(idx, fd, number, out, err)) {
		close(out);
		return NULL;
	}
	return body_file_bytes(out);
}

/* Assert that message number reads as want (From_ line excluded). */
static void
assert_body(const struct spool_index *idx, int fd, guint number,
    const char *want, gsize want_len)
{
	GError		*err = NULL;
	GBytes		*b;
	gsize		 len;
	const char	*p;

	b = copy_message(idx, fd, number, &err);
	assert_null(err);
	assert_non_null(b);
	p = g_bytes_get_data(b, &len);
	if (len != want_len || (len > 0 && memcmp(p, want, len) != 0))
		fail_msg("message %u: got %zu bytes \"%.*s\", want %zu \"%s\"",
		    number, len, (int)MIN(len, 200), p, want_len, want);
	g_bytes_unref(b);
}

/* Assert that two indexes of one file agree on every message. */
static void
assert_same_index(const struct spool_index *a, const struct spool_index *b,
    const char *what)
{
	const struct spool_message *ma, *mb;
	guint	 i;

	if (spool_count(a) != spool_count(b))
		fail_msg("%s: %u messages, fresh index has %u", what,
		    spool_count(a), spool_count(b));
	for (i = 1; i <= spool_count(a); i++) {
		ma = spool_message(a, i);
		mb = spool_message(b, i);
		if (ma->offset != mb->offset || ma->length != mb->length ||
		    ma->body_offset != mb->body_offset)
			fail_msg("%s: message %u at %" G_GUINT64_FORMAT
			    "+%" G_GUINT64_FORMAT " body %" G_GUINT64_FORMAT
			    ", fresh index says %" G_GUINT64_FORMAT
			    "+%" G_GUINT64_FORMAT " body %" G_GUINT64_FORMAT,
			    what, i, ma->offset, ma->length, ma->body_offset,
			    mb->offset, mb->length, mb->body_offset);
	}
}

/* One spool layout and the message bodies it must yield. */
struct layout_case {
	const char	*name;
	const char	*text;
	gsize		 len;		/* 0: strlen(text) */
	guint		 count;
	const char	*bodies[4];
	gsize		 body_lens[4];	/* 0: strlen(body) */
};

static const struct layout_case layout_cases[] = {
	{ "empty file", "", 0, 0, { NULL }, { 0 } },
	{ "one message",
	    FROM_A "Subject: a\n\nhello\n\n", 0, 1,
	    { "Subject: a\n\nhello\n\n" }, { 0 } },
	{ "several messages",
	    FROM_A "Subject: a\n\nhello\n\n"
	    FROM_B "Subject: b\n\nbye\n\n"
	    FROM_C "Subject: c\n\nbounce\n\n", 0, 3,
	    { "Subject: a\n\nhello\n\n", "Subject: b\n\nbye\n\n",
	    "Subject: c\n\nbounce\n\n" }, { 0 } },
	{ "CRLF line ends",
	    FROM_A_CRLF "Subject: a\r\n\r\nhello\r\n\r\n"
	    FROM_B_CRLF "Subject: b\r\n\r\nbye\r\n", 0, 2,
	    { "Subject: a\r\n\r\nhello\r\n\r\n", "Subject: b\r\n\r\nbye\r\n" },
	    { 0 } },
	{ "blank line as LF CR LF",
	    FROM_A "Subject: a\n\nhello\n\r\n" FROM_B "\nbye\n", 0, 2,
	    { "Subject: a\n\nhello\n\r\n", "\nbye\n" }, { 0 } },
	{ "last message without final newline",
	    FROM_A "Subject: a\n\nhello\n\n" FROM_B "Subject: b\n\nbye", 0, 2,
	    { "Subject: a\n\nhello\n\n", "Subject: b\n\nbye" }, { 0 } },
	{ "From_ line at the very end, no newline",
	    FROM_A "\nhello\n\n"
	    "From luke@rebels.univ  Sat Nov 28 04:36:22 2026", 0, 2,
	    { "\nhello\n\n", "" }, { 0 } },
	{ "bytes before the first From_ line",
	    "junk\nmore junk\n" FROM_A "Subject: a\n\nhello\n", 0, 1,
	    { "Subject: a\n\nhello\n" }, { 0 } },
	{ "junk and a blank line before the first From_ line",
	    "junk\n\n" FROM_A "\nhello\n\n" FROM_B "\nbye\n", 0, 2,
	    { "\nhello\n\n", "\nbye\n" }, { 0 } },
	{ "junk only", "hello\nworld\n\nFrom here on\n", 0, 0,
	    { NULL }, { 0 } },
	{ "a From: header is not a From_ line",
	    "From: darth@starwars.univ\nSubject: s\n\nbody\n", 0, 0,
	    { NULL }, { 0 } },
	{ "From in a body after a blank line, not a From_ line",
	    FROM_A "Subject: a\n\nhello\n\nFrom the start, I said\n\nbye\n\n"
	    FROM_B "\nb\n", 0, 2,
	    { "Subject: a\n\nhello\n\nFrom the start, I said\n\nbye\n\n",
	    "\nb\n" }, { 0 } },
	{ "a From_ line in a body, not after a blank line",
	    FROM_A "Subject: a\n\nhello\n" FROM_B "bye\n\n", 0, 1,
	    { "Subject: a\n\nhello\n" FROM_B "bye\n\n" }, { 0 } },
	{ "a From_ line right after the headers' blank line",
	    FROM_A "Subject: a\n\n" FROM_B "bye\n\n", 0, 2,
	    { "Subject: a\n\n", "bye\n\n" }, { 0 } },
	{ ">From lines stay in the body",
	    FROM_A "\nhello\n\n>" FROM_B "\n>>From here\n>From there\n\n"
	    FROM_C "\nc\n", 0, 2,
	    { "\nhello\n\n>" FROM_B "\n>>From here\n>From there\n\n", "\nc\n" },
	    { 0 } },
	{ "empty messages",
	    FROM_A "\n" FROM_B "\n" FROM_C, 0, 3,
	    { "\n", "\n", "" }, { 0 } },
	{ "NUL bytes in a body",
	    FROM_A "\nx\0y\0\n\n" FROM_B "\nz\n", sizeof(FROM_A "\nx\0y\0\n\n"
	    FROM_B "\nz\n") - 1, 2,
	    { "\nx\0y\0\n\n", "\nz\n" }, { 7, 0 } },
	{ "CR LF From_ line after a LF blank line",
	    FROM_A "\nhello\n\n" FROM_B_CRLF "\r\nbye\r\n", 0, 2,
	    { "\nhello\n\n", "\r\nbye\r\n" }, { 0 } },
	{ "control characters in the sender, as Postfix writes them",
	    FROM_A "\nhello\n\n"
	    "From \"x\001y\"@evil.example  Sat Nov 28 04:36:22 2026\n"
	    "\nhidden?\n", 0, 2, { "\nhello\n\n", "\nhidden?\n" }, { 0 } },
	{ "words after the date: not a From_ line",
	    FROM_A "\nhello\n\nFrom a@x  Sat Nov 28 04:36:21 2026 "
	    "and then some words that make it long and not a From_ line\n", 0,
	    1, { "\nhello\n\nFrom a@x  Sat Nov 28 04:36:21 2026 "
	    "and then some words that make it long and not a From_ line\n" },
	    { 0 } },
};

/* Index each layout; read back every message. */
static void
test_layouts(void **state)
{
	const struct layout_case *c;
	struct spool_index	*idx;
	struct tmpspool		 t;
	gsize			 i, len;
	guint			 j;
	guint64			 n;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(layout_cases); i++) {
		c = &layout_cases[i];
		len = c->len ? c->len : strlen(c->text);
		t = spool_file(c->text, len);
		idx = index_file(t.fd, &n);
		if (spool_count(idx) != c->count)
			fail_msg("%s: %u messages, want %u", c->name,
			    spool_count(idx), c->count);
		assert_int_equal(n, len);
		for (j = 0; j < c->count; j++)
			assert_body(idx, t.fd, j + 1, c->bodies[j],
			    c->body_lens[j] ? c->body_lens[j] :
			    strlen(c->bodies[j]));
		assert_null(spool_message(idx, 0));
		assert_null(spool_message(idx, c->count + 1));
		spool_index_free(idx);
		spool_file_done(&t);
	}
}

/* Filler lines up to exactly len bytes, the last one cut short. */
static void
add_filler(GString *s, gsize len, gboolean crlf)
{
	gsize	 i;

	for (i = 0; i < len; i++) {
		if (i % 80 == 79 && i + 2 < len) {
			if (crlf && i + 3 < len) {
				g_string_append(s, "\r\n");
				i++;
			} else
				g_string_append_c(s, '\n');
		} else
			g_string_append_c(s, 'x');
	}
}

/*
 * Put the separator of a second message at every place around the end
 * of the first chunk: the blank line, the "\nFrom " and the From_ line
 * itself are cut by the chunk boundary in turn.
 */
static void
test_chunk_boundary(void **state)
{
	struct spool_index	*idx;
	struct tmpspool		 t;
	GString			*s, *body2;
	const char		*head, *from2, *sep;
	gsize			 sep_at, headlen;
	int			 d, crlf;

	(void)state;
	for (crlf = 0; crlf <= 1; crlf++) {
		head = crlf ? FROM_A_CRLF "Subject: pad\r\n\r\n" :
		    FROM_A "Subject: pad\n\n";
		from2 = crlf ? FROM_B_CRLF : FROM_B;
		sep = crlf ? "\r\n\r\n" : "\n\n";
		body2 = g_string_new(crlf ? "Subject: b\r\n\r\nbye\r\n" :
		    "Subject: b\n\nbye\n");
		headlen = strlen(head);
		for (d = -70; d <= 8; d++) {
			/* The '\n' just before "From " of message 2. */
			sep_at = SPOOL_CHUNK + d;
			s = g_string_new(head);
			add_filler(s, sep_at + 1 - strlen(sep) - headlen, crlf);
			g_string_append(s, sep);
			assert_int_equal(s->len, sep_at + 1);
			g_string_append(s, from2);
			g_string_append_len(s, body2->str, body2->len);
			t = spool_file(s->str, s->len);
			idx = index_file(t.fd, NULL);
			if (spool_count(idx) != 2)
				fail_msg("crlf %d, separator at chunk %+d: %u "
				    "messages", crlf, d, spool_count(idx));
			assert_int_equal(spool_message(idx, 2)->offset,
			    sep_at + 1);
			assert_int_equal(spool_message(idx, 1)->length,
			    sep_at + 1);
			assert_body(idx, t.fd, 2, body2->str, body2->len);
			spool_index_free(idx);
			spool_file_done(&t);
			g_string_free(s, TRUE);
		}
		g_string_free(body2, TRUE);
	}
}

/* A message of several MB, with a line longer than a chunk. */
static void
test_large_message(void **state)
{
	struct spool_index	*idx;
	struct tmpspool		 t;
	GString			*s, *big;
	guint64			 n;
	gsize			 i;

	(void)state;
	big = g_string_new("Subject: big\n\n");
	for (i = 0; i < 3 * 1024 * 1024; i++)
		g_string_append_c(big, 'a' + (char)(i % 26));
	g_string_append(big, "\n\nFrom the top\n");
	for (i = 0; i < 40000; i++)
		g_string_append(big, "0123456789012345678901234567890123456"
		    "7890123456789012345678901234567890123\n");
	g_string_append_c(big, '\n');
	s = g_string_new(FROM_A "\nsmall\n\n" FROM_B);
	g_string_append_len(s, big->str, big->len);
	g_string_append(s, FROM_C "\nlast\n");
	t = spool_file(s->str, s->len);
	idx = index_file(t.fd, &n);
	assert_int_equal(n, s->len);
	assert_int_equal(spool_count(idx), 3);
	assert_body(idx, t.fd, 1, "\nsmall\n\n", 8);
	assert_body(idx, t.fd, 2, big->str, big->len);
	assert_body(idx, t.fd, 3, "\nlast\n", 6);
	spool_index_free(idx);
	spool_file_done(&t);
	g_string_free(s, TRUE);
	g_string_free(big, TRUE);
}

/*
 * The longest sender Postfix takes (a MAIL FROM line of 2048 bytes),
 * every byte of its local part quoted: still a From_ line, not the end
 * of the message before.
 */
static void
test_long_sender(void **state)
{
	struct spool_index	*idx;
	struct tmpspool		 t;
	GString			*s;
	guint64			 n;
	gsize			 i;

	(void)state;
	s = g_string_new(FROM_A "\nhello\n\nFrom \"");
	for (i = 0; i < 2030; i++)
		g_string_append(s, "\\\"");
	g_string_append(s, "\"@x  Sat Nov 28 04:36:22 2026\n\nbye\n");
	t = spool_file(s->str, s->len);
	idx = index_file(t.fd, &n);
	assert_int_equal(spool_count(idx), 2);
	assert_body(idx, t.fd, 1, "\nhello\n\n", 8);
	assert_body(idx, t.fd, 2, "\nbye\n", 5);
	spool_index_free(idx);
	spool_file_done(&t);
	g_string_free(s, TRUE);
}

/* A spool of Postfix deliveries, the second of about 2 MB. */
static GString *
postfix_spool(void)
{
	GString	*s;
	gsize	 i;

	s = g_string_new(POSTFIX_MSG(FROM_A, "one", "hello"));
	g_string_append(s, POSTFIX_MSG(FROM_B, "two", ""));
	g_string_truncate(s, s->len - 2);
	for (i = 0; i < 30000; i++)
		g_string_append(s, ">From the archive, line of text, 64 "
		    "bytes long, more or less.\n");
	g_string_append(s, "\n");
	g_string_append(s, POSTFIX_MSG(FROM_C, "three", "bounce"));
	return s;
}

/*
 * New mail: the update reads the new bytes and the fingerprint, and
 * nothing at all changes in the messages that were there.
 */
static void
test_update_append(void **state)
{
	static const char	 msg4[] = POSTFIX_MSG(FROM_A, "four", "new");
	struct spool_index	*idx;
	struct tmpspool		 t;
	GString			*s;
	guint64			 n, len3;

	(void)state;
	s = postfix_spool();
	t = spool_file(s->str, s->len);
	idx = index_file(t.fd, &n);
	assert_int_equal(n, s->len);
	assert_int_equal(spool_count(idx), 3);
	len3 = spool_message(idx, 3)->length;

	/* Unchanged: the fingerprint alone is read. */
	assert_int_equal(update(idx, t.fd), SPOOL_FINGERPRINT);
	assert_int_equal(spool_count(idx), 3);

	append(&t, msg4, sizeof(msg4) - 1);
	n = update(idx, t.fd);
	if (n != sizeof(msg4) - 1 + SPOOL_FINGERPRINT)
		fail_msg("read %" G_GUINT64_FORMAT " bytes for %zu new", n,
		    sizeof(msg4) - 1);
	assert_int_equal(spool_count(idx), 4);
	assert_int_equal(spool_message(idx, 3)->length, len3);
	assert_int_equal(spool_message(idx, 4)->offset, s->len);
	assert_body(idx, t.fd, 4, msg4 + strlen(FROM_A),
	    sizeof(msg4) - 1 - strlen(FROM_A));
	assert_body(idx, t.fd, 1, s->str + strlen(FROM_A),
	    spool_message(idx, 1)->length - strlen(FROM_A));
	spool_index_free(idx);
	spool_file_done(&t);
	g_string_free(s, TRUE);
}

/* More bytes for the last message, no new From_ line: it grows. */
static void
test_update_grow_last(void **state)
{
	static const char	 more[] = "still the last message\n\n";
	struct spool_index	*idx;
	struct tmpspool		 t;
	GString			*s;
	const struct spool_summary *sum;
	GError			*err = NULL;
	guint64			 len3, n;

	(void)state;
	s = postfix_spool();
	t = spool_file(s->str, s->len);
	idx = index_file(t.fd, NULL);
	len3 = spool_message(idx, 3)->length;
	sum = spool_summary(idx, t.fd, 3, &err);
	assert_non_null(sum);
	assert_string_equal(sum->subject, "three");

	append(&t, more, sizeof(more) - 1);
	n = update(idx, t.fd);
	assert_int_equal(n, sizeof(more) - 1 + SPOOL_FINGERPRINT);
	assert_int_equal(spool_count(idx), 3);
	assert_int_equal(spool_message(idx, 3)->length,
	    len3 + sizeof(more) - 1);
	g_string_append(s, more);
	assert_body(idx, t.fd, 3, s->str + spool_message(idx, 3)->body_offset,
	    s->len - spool_message(idx, 3)->body_offset);
	/* Its header block was whole: the summary is kept, still right. */
	assert_true(spool_message(idx, 3)->summary == sum);
	sum = spool_summary(idx, t.fd, 3, &err);
	assert_non_null(sum);
	assert_string_equal(sum->subject, "three");
	spool_index_free(idx);
	spool_file_done(&t);
	g_string_free(s, TRUE);
}

/* A last message whose header block was cut: its summary is read again. */
static void
test_update_grow_cut_headers(void **state)
{
	static const char	 head[] = "From a@b.c  Sat Nov 28 04:36:21 2026\n"
				    "Subject: part";
	static const char	 more[] = "ial\n\nbody\n\n";
	struct spool_index	*idx;
	struct tmpspool		 t;
	const struct spool_summary *sum;
	GError			*err = NULL;

	(void)state;
	t = spool_file(head, sizeof(head) - 1);
	idx = index_file(t.fd, NULL);
	sum = spool_summary(idx, t.fd, 1, &err);
	assert_non_null(sum);
	assert_false(spool_message(idx, 1)->summary_complete);
	append(&t, more, sizeof(more) - 1);
	update(idx, t.fd);
	assert_int_equal(spool_count(idx), 1);
	sum = spool_summary(idx, t.fd, 1, &err);
	assert_non_null(sum);
	assert_string_equal(sum->subject, "partial");
	assert_true(spool_message(idx, 1)->summary_complete);
	spool_index_free(idx);
	spool_file_done(&t);
}

/* One spool text cut into appends; where the cuts fall. */
struct split_case {
	const char	*name;
	const char	*parts[6];
	guint		 count;
	guint64		 last_read_max;	/* bytes the last update may read */
};

static const struct split_case split_cases[] = {
	{ "separator after a last message with no blank line",
	    { FROM_A "\nhello\n", "\n" FROM_B "\nbye\n", NULL }, 2, 200 },
	{ "separator cut after its first newline",
	    { FROM_A "\nhello\n\n", FROM_B "\nbye\n", NULL }, 2, 200 },
	{ "old end inside \"\\nFrom \"",
	    { FROM_A "\nhello\n\nFr", "om luke@rebels.univ  Sat Nov 28 "
	    "04:36:22 2026\nbye\n", NULL }, 2, 200 },
	{ "old end inside the From_ line",
	    { FROM_A "\nhello\n\nFrom luke@rebels.univ  Sat Nov 2",
	    "8 04:36:22 2026\nbye\n", NULL }, 2, 200 },
	{ "old end inside a CR LF blank line",
	    { FROM_A_CRLF "\r\nhello\r\n\r", "\n" FROM_B_CRLF "\r\nbye\r\n",
	    NULL }, 2, 200 },
	{ "old end after a complete From_ line with no newline",
	    { FROM_A "\nhello\n\nFrom luke@rebels.univ  Sat Nov 28 04:36:22 "
	    "2026", "\nbye\n", NULL }, 2, 1000 },
	{ "From_ line at the end that stops being one",
	    { FROM_A "\nhello\n\nFrom luke@rebels.univ  Sat Nov 28 04:36:22 "
	    "2026", " and more\n", NULL }, 1, 1000 },
	{ "byte by byte",
	    { FROM_A "\nhello\n", "\n", "F", "rom luke@rebels.univ  Sat Nov "
	    "28 04:36:22 202", "6", "\nbye\n\n" }, 2, 200 },
	/* Found by fuzz_spool: the file's first line, with no line end
	 * yet, was never looked at again. */
	{ "old end inside the file's first line",
	    { "From darth@starwars.univ  Sat Nov 28 04:36",
	    ":21 2026\nhello\n", NULL }, 1, 1000 },
};

/* Each split: after every append, the same index as a fresh one. */
static void
test_update_splits(void **state)
{
	const struct split_case	*c;
	struct spool_index	*idx, *fresh;
	struct tmpspool		 t;
	gsize			 i, j;
	guint64			 n = 0;
	char			*what;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(split_cases); i++) {
		c = &split_cases[i];
		t = spool_file("", 0);
		idx = spool_index_new();
		for (j = 0; j < G_N_ELEMENTS(c->parts) && c->parts[j]; j++) {
			append(&t, c->parts[j], strlen(c->parts[j]));
			n = update(idx, t.fd);
			fresh = index_file(t.fd, NULL);
			what = g_strdup_printf("%s, part %zu", c->name, j + 1);
			assert_same_index(idx, fresh, what);
			g_free(what);
			spool_index_free(fresh);
		}
		if (spool_count(idx) != c->count)
			fail_msg("%s: %u messages, want %u", c->name,
			    spool_count(idx), c->count);
		if (n > c->last_read_max)
			fail_msg("%s: last update read %" G_GUINT64_FORMAT
			    " bytes", c->name, n);
		spool_index_free(idx);
		spool_file_done(&t);
	}
}

/*
 * A spool with every kind of trap, LF and CR LF mixed: 12 From_ lines
 * after a blank line but 2 not (i = 3, 7), so 10 messages.
 */
static GString *
tricky_spool(void)
{
	GString	*s = g_string_new("junk before\n");
	int	 i;

	for (i = 0; i < 12; i++) {
		g_string_append(s, i % 3 ? FROM_A : FROM_B_CRLF);
		g_string_append(s, "Subject: x\n\nbody\n\nFrom the start\n");
		g_string_append(s, ">" FROM_C FROM_C "not after blank\n");
		if (i % 4 == 0)
			g_string_append(s, "\r\n");
		else if (i % 4 != 3)
			g_string_append(s, "\n");
	}
	return s;
}

/*
 * Random cuts of a tricky spool, and cuts right around the first chunk
 * boundary: the incremental index always equals a fresh one.
 */
static void
test_update_random_splits(void **state)
{
	struct spool_index	*idx, *fresh;
	struct tmpspool		 t;
	GString			*s;
	GRand			*rand;
	gsize			 at, cut;
	int			 round;
	char			*what;

	(void)state;
	s = tricky_spool();
	rand = g_rand_new_with_seed(181);
	for (round = 0; round < 40; round++) {
		t = spool_file("", 0);
		idx = spool_index_new();
		for (at = 0; at < s->len; at += cut) {
			/* Not inside MIN(): it would draw twice. */
			cut = (gsize)g_rand_int_range(rand, 1, 90);
			cut = MIN(cut, s->len - at);
			append(&t, s->str + at, cut);
			update(idx, t.fd);
			fresh = index_file(t.fd, NULL);
			what = g_strdup_printf("round %d, %zu bytes", round,
			    at + cut);
			assert_same_index(idx, fresh, what);
			g_free(what);
			spool_index_free(fresh);
		}
		assert_int_equal(spool_count(idx), 10);
		spool_index_free(idx);
		spool_file_done(&t);
	}
	g_rand_free(rand);
	g_string_free(s, TRUE);
}

/* Growth across the first chunk boundary, in uneven steps. */
static void
test_update_across_chunk(void **state)
{
	struct spool_index	*idx, *fresh;
	struct tmpspool		 t;
	GString			*s, *unit;
	gsize			 at, cut;
	int			 k;

	(void)state;
	unit = tricky_spool();
	s = g_string_new(NULL);
	while (s->len < SPOOL_CHUNK + 4 * unit->len)
		g_string_append_len(s, unit->str, unit->len);
	t = spool_file(s->str, SPOOL_CHUNK - 3000);
	idx = index_file(t.fd, NULL);
	for (at = SPOOL_CHUNK - 3000, k = 0; at < s->len; at += cut, k++) {
		cut = MIN((gsize)(k % 2 ? 977 : 61), s->len - at);
		append(&t, s->str + at, cut);
		update(idx, t.fd);
		fresh = index_file(t.fd, NULL);
		assert_same_index(idx, fresh, "across the chunk boundary");
		spool_index_free(fresh);
	}
	spool_index_free(idx);
	spool_file_done(&t);
	g_string_free(s, TRUE);
	g_string_free(unit, TRUE);
}

/* Rewritten, shrunk, same size but new bytes or mtime: read it all. */
static void
test_update_rewrite(void **state)
{
	static const char	 two[] = FROM_A "\nhello\n\n" FROM_B "\nbye\n\n";
	static const char	 one[] = FROM_C "\nonly\n\n";
	static const char	 bigger[] = FROM_B "\nbye\n\n" FROM_A
	    "\nhello again, a longer text\n\n" FROM_C "\nc\n\n";
	static const char	 p1[] = FROM_A "\nhello\n\n" FROM_B
	    "\n" LONG50 LONG50 "\n\n";
	static const char	 p2[] = FROM_A "\nHELLO\n\n" FROM_B
	    "\n" LONG50 LONG50 "\n\n";
	struct spool_index	*idx;
	struct tmpspool		 t;
	struct timespec		 ts[2];

	(void)state;
	t = spool_file(two, sizeof(two) - 1);
	idx = index_file(t.fd, NULL);
	assert_int_equal(spool_count(idx), 2);

	rewrite(&t, one, sizeof(one) - 1);		/* shrunk */
	assert_reindex(idx, t.fd, sizeof(one) - 1);
	assert_int_equal(spool_count(idx), 1);
	assert_body(idx, t.fd, 1, "\nonly\n\n", 7);

	rewrite(&t, bigger, sizeof(bigger) - 1);	/* grown, new bytes */
	assert_reindex(idx, t.fd, sizeof(bigger) - 1);
	assert_int_equal(spool_count(idx), 3);
	assert_body(idx, t.fd, 2, "\nhello again, a longer text\n\n", 29);

	rewrite(&t, p1, sizeof(p1) - 1);
	assert_reindex(idx, t.fd, sizeof(p1) - 1);
	/* Same size, same last bytes, another mtime: read again. */
	rewrite(&t, p2, sizeof(p2) - 1);
	ts[0].tv_sec = ts[1].tv_sec = 1700000000;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(futimens(t.fd, ts), 0);
	assert_reindex(idx, t.fd, sizeof(p2) - 1);
	assert_body(idx, t.fd, 1, "\nHELLO\n\n", 8);
	assert_int_equal(update(idx, t.fd), SPOOL_FINGERPRINT);
	/* Same size, same mtime, other last bytes: read again. */
	assert_int_equal(pwrite(t.fd, "Y", 1, sizeof(p2) - 3), 1);
	assert_int_equal(futimens(t.fd, ts), 0);
	assert_reindex(idx, t.fd, sizeof(p2) - 1);
	assert_body(idx, t.fd, 2, "\n" LONG50 LONG50 "Y\n",
	    sizeof("\n" LONG50 LONG50 "Y\n") - 1);
	spool_index_free(idx);
	spool_file_done(&t);
}

/* Another file renamed over the spool: a new inode, read it all. */
static void
test_update_new_inode(void **state)
{
	static const char	 a[] = FROM_A "\n" LONG50 LONG50 "\n\n";
	static const char	 b[] = FROM_A "\n" LONG50 LONG50 "\n\n"
	    FROM_B "\nbye\n\n";
	struct spool_index	*idx;
	struct tmpspool		 t, t2;
	int			 fd;

	(void)state;
	t = spool_file(a, sizeof(a) - 1);
	idx = index_file(t.fd, NULL);
	assert_int_equal(spool_count(idx), 1);
	/* Bigger, with the same bytes where the old end was: only the
	 * inode tells it is another file. */
	t2 = spool_file(b, sizeof(b) - 1);
	assert_int_equal(rename(t2.path, t.path), 0);
	fd = open(t.path, O_RDONLY);
	assert_true(fd >= 0);
	assert_reindex(idx, fd, sizeof(b) - 1);
	assert_int_equal(spool_count(idx), 2);
	assert_body(idx, fd, 2, "\nbye\n\n", 6);
	close(fd);
	close(t2.fd);
	g_free(t2.path);
	spool_index_free(idx);
	spool_file_done(&t);
}

/*
 * Fork a child that holds a classic fcntl write lock, as local(8) does
 * while it appends, until *release is closed.
 */
static pid_t
hold_write_lock(const char *path, int *release)
{
	struct flock	 fl;
	int		 ready[2], rel[2], fd;
	pid_t		 pid;
	char		 c = 0;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(rel), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(rel[1]);
		fd = open(path, O_RDWR);
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fd < 0 || fcntl(fd, F_SETLK, &fl) == -1)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		if (read(rel[0], &c, 1) < 0)
			_exit(1);
		/*
		 * Done: end by SIGKILL rather than exit(0), so that valgrind
		 * (make check runs this under it) does not count what the
		 * child inherited as leaked and fail the run.
		 */
		kill(getpid(), SIGKILL);
	}
	close(ready[1]);
	close(rel[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*release = rel[1];
	return pid;
}

/* Wait for the child; it must have ended as planned (SIGKILL). */
static void
reap(pid_t pid)
{
	int	 status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* Close the fd given, after 300 ms: the delivery ends. */
static gpointer
release_later(gpointer fd)
{
	g_usleep(300 * 1000);
	close(GPOINTER_TO_INT(fd));
	return NULL;
}

/* A delivery in progress: the update waits, or gives up in time. */
static void
test_lock(void **state)
{
	static const char	 a[] = FROM_A "\nhello\n\n";
	static const char	 b[] = FROM_B "\nbye\n\n";
	struct spool_index	*idx;
	struct tmpspool		 t;
	GError			*err = NULL;
	GThread			*th;
	gint64			 t0, ms;
	pid_t			 pid;
	int			 release;

	(void)state;
	t = spool_file(a, sizeof(a) - 1);
	idx = index_file(t.fd, NULL);
	append(&t, b, sizeof(b) - 1);

	pid = hold_write_lock(t.path, &release);
	t0 = g_get_monotonic_time();
	spool_index_set_lock_wait(idx, 150);
	assert_false(spool_index_update(idx, t.fd, NULL, &err));
	ms = (g_get_monotonic_time() - t0) / 1000;
	assert_true(g_error_matches(err, SPOOL_ERROR, SPOOL_ERROR_LOCKED));
	g_clear_error(&err);
	if (ms < 150 || ms > 5000)
		fail_msg("gave up after %" G_GINT64_FORMAT " ms", ms);
	/* Nothing was read: the old index stays. */
	assert_int_equal(spool_count(idx), 1);
	assert_null(copy_message(idx, t.fd, 1, &err));
	assert_true(g_error_matches(err, SPOOL_ERROR, SPOOL_ERROR_LOCKED));
	g_clear_error(&err);
	assert_null(spool_summary(idx, t.fd, 1, &err));
	assert_true(g_error_matches(err, SPOOL_ERROR, SPOOL_ERROR_LOCKED));
	g_clear_error(&err);

	/* Released while the update waits: it goes on then. */
	spool_index_set_lock_wait(idx, SPOOL_LOCK_WAIT_MS);
	th = g_thread_new("release", release_later,
	    GINT_TO_POINTER(release));
	t0 = g_get_monotonic_time();
	assert_true(spool_index_update(idx, t.fd, NULL, &err));
	ms = (g_get_monotonic_time() - t0) / 1000;
	g_thread_join(th);
	if (ms < 250)
		fail_msg("did not wait for the lock: %" G_GINT64_FORMAT " ms",
		    ms);
	assert_int_equal(spool_count(idx), 2);
	reap(pid);
	spool_index_free(idx);
	spool_file_done(&t);
}

/* In a child: 0 if a classic write lock on path can be had now. */
static int
try_write_lock(const char *path)
{
	struct flock	 fl;
	pid_t		 pid;
	int		 fd, status;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fd = open(path, O_RDWR);
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		_exit(fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* spool_lock() keeps a delivery out until spool_unlock(). */
static void
test_lock_reader(void **state)
{
	static const char	 a[] = FROM_A "\nhello\n\n";
	struct tmpspool		 t;
	GError			*err = NULL;

	(void)state;
	t = spool_file(a, sizeof(a) - 1);
	assert_int_equal(try_write_lock(t.path), 0);
	assert_true(spool_lock(t.fd, &err));
	assert_null(err);
	assert_int_equal(try_write_lock(t.path), 1);
	spool_unlock(t.fd);
	assert_int_equal(try_write_lock(t.path), 0);
	assert_false(spool_lock(-1, &err));
	assert_true(g_error_matches(err, SPOOL_ERROR, SPOOL_ERROR_IO));
	g_clear_error(&err);
	spool_file_done(&t);
}

/* Bad descriptors, a folder, a spool that changed since its index. */
static void
test_errors(void **state)
{
	static const char	 two[] = FROM_A "\nhello\n\n" FROM_B "\nbye\n\n";
	struct spool_index	*idx;
	struct tmpspool		 t;
	GError			*err = NULL;
	int			 fd;

	(void)state;
	idx = spool_index_new();
	assert_false(spool_index_update(idx, -1, NULL, &err));
	assert_true(g_error_matches(err, SPOOL_ERROR, SPOOL_ERROR_IO));
	g_clear_error(&err);
	fd = open(g_get_tmp_dir(), O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_false(spool_index_update(idx, fd, NULL, &err));
	assert_true(g_error_matches(err, SPOOL_ERROR, SPOOL_ERROR_IO));
	g_clear_error(&err);
	close(fd);
	spool_index_free(idx);

	t = spool_file(two, sizeof(two) - 1);
	idx = index_file(t.fd, NULL);
	assert_null(copy_message(idx, t.fd, 0, &err));
	assert_true(g_error_matches(err, SPOOL_ERROR,
	    SPOOL_ERROR_NO_MESSAGE));
	g_clear_error(&err);
	assert_null(spool_summary(idx, t.fd, 3, &err));
	assert_true(g_error_matches(err, SPOOL_ERROR,
	    SPOOL_ERROR_NO_MESSAGE));
	g_clear_error(&err);
	/* Shrunk behind the index's back. */
	assert_int_equal(ftruncate(t.fd, sizeof(two) - 3), 0);
	assert_null(copy_message(idx, t.fd, 2, &err));
	assert_true(g_error_matches(err, SPOOL_ERROR, SPOOL_ERROR_CHANGED));
	g_clear_error(&err);
	/* Rewritten: no From_ line where message 1 was. */
	assert_int_equal(pwrite(t.fd, "X", 1, 0), 1);
	assert_null(spool_summary(idx, t.fd, 1, &err));
	assert_true(g_error_matches(err, SPOOL_ERROR, SPOOL_ERROR_CHANGED));
	g_clear_error(&err);
	assert_null(copy_message(idx, t.fd, 1, &err));
	assert_true(g_error_matches(err, SPOOL_ERROR, SPOOL_ERROR_CHANGED));
	g_clear_error(&err);
	/* A failed update leaves an empty index. */
	assert_false(spool_index_update(idx, -1, NULL, &err));
	g_clear_error(&err);
	assert_int_equal(spool_count(idx), 0);
	spool_index_free(idx);
	spool_file_done(&t);
}

/* Random bytes with separators and From_ lines sprinkled in. */
static void
test_garbage(void **state)
{
	static const char *const bits[] = {
		"\n\n", "\nFrom ", FROM_A, FROM_B_CRLF, "\r\n", "From ",
		"\n\nFrom x  Sat Nov 28 04:36:21", " 2026\n", "\0", ">",
	};
	struct spool_index	*idx, *fresh;
	struct tmpspool		 t;
	GString			*s;
	GRand			*rand;
	gsize			 at, cut;
	int			 i, k;

	(void)state;
	rand = g_rand_new_with_seed(42);
	for (k = 0; k < 8; k++) {
		s = g_string_new(NULL);
		for (i = 0; i < 4000; i++) {
			if (g_rand_int_range(rand, 0, 3) == 0)
				g_string_append(s, bits[g_rand_int_range(rand,
				    0, G_N_ELEMENTS(bits))]);
			else
				g_string_append_c(s,
				    (char)g_rand_int_range(rand, 0, 256));
		}
		t = spool_file("", 0);
		idx = spool_index_new();
		for (at = 0; at < s->len; at += cut) {
			cut = (gsize)g_rand_int_range(rand, 1, 2000);
			cut = MIN(cut, s->len - at);
			append(&t, s->str + at, cut);
			update(idx, t.fd);
		}
		fresh = index_file(t.fd, NULL);
		assert_same_index(idx, fresh, "garbage");
		for (i = 1; i <= (int)spool_count(idx); i++) {
			GError	*err = NULL;
			GBytes	*b = copy_message(idx, t.fd, i, &err);

			assert_non_null(b);
			g_bytes_unref(b);
			assert_non_null(spool_summary(idx, t.fd, i, &err));
			assert_null(err);
		}
		spool_index_free(fresh);
		spool_index_free(idx);
		spool_file_done(&t);
		g_string_free(s, TRUE);
	}
	g_rand_free(rand);
}

/* One From_ line and what it says. */
struct from_case {
	const char	*line;
	gboolean	 ok;
	gint64		 when;
};

static const struct from_case from_cases[] = {
	{ "From darth@starwars.univ  Sat Nov 28 04:36:21 2026", TRUE, T0 },
	{ "From darth@starwars.univ Sat Nov 28 04:36:21 2026", TRUE, T0 },
	{ "From MAILER-DAEMON  Sat Nov 28 04:36:21 2026", TRUE, T0 },
	{ "From a@x  Sun Nov  1 04:36:21 2026", TRUE, 1793507781 },
	{ "From a@x  Sun Nov 1 04:36:21 2026", TRUE, 1793507781 },
	{ "From a@x  Sat Nov 28 04:36:21 2026 ", TRUE, T0 },
	{ "From a@x  sat nov 28 04:36:21 2026", TRUE, T0 },
	{ "From a@x  Sat Nov 28 04:36:21 CET 2026", TRUE, T0 },
	{ "From a@x  Sat Nov 28 04:36:21 UTC 2026", TRUE, T0 },
	{ "From a@x  Sat Nov 28 00:36:21 EDT 2026", TRUE, T0 },
	{ "From a@x  Sat Nov 28 05:36:21 +0100 2026", TRUE, T0 },
	{ "From a@x  Sat Nov 28 05:36:21 2026 +0100", TRUE, T0 },
	{ "From a@x  Fri Nov 27 20:36:21 2026 -0800", TRUE, T0 },
	{ "From a@x  Sat Nov 28 04:36:21 2026 GMT", TRUE, T0 },
	{ "From a@x  Sat Nov 28 04:36 2026", TRUE, T0 - 21 },
	{ "From a@x  Sat Nov 28 4:36:21 2026", TRUE, T0 },
	{ "From \"a b\"@x  Sat Nov 28 04:36:21 2026", TRUE, T0 },
	{ "From <>  Sat Nov 28 04:36:21 2026", TRUE, T0 },
	{ "From a@x  Thu Jan  1 00:00:00 1970", TRUE, 0 },
	{ "From a@x  Wed Dec 31 23:59:60 2025", TRUE, 1767225599 },
	{ "", FALSE, 0 },
	{ "From ", FALSE, 0 },
	{ "From", FALSE, 0 },
	{ "From: x", FALSE, 0 },
	{ "From x", FALSE, 0 },
	{ "from a@x  Sat Nov 28 04:36:21 2026", FALSE, 0 },
	{ ">From a@x  Sat Nov 28 04:36:21 2026", FALSE, 0 },
	{ "From  Sat Nov 28 04:36:21 2026", FALSE, 0 },
	{ "From Sat Nov 28 04:36:21 2026", FALSE, 0 },
	{ "From a@x  Sat Nov 28 04:36:21", FALSE, 0 },
	{ "From a@x  Sat Nov 28 04:36:21 26", FALSE, 0 },
	{ "From a@x  Sat Nov 28 04:36:21 20261", FALSE, 0 },
	{ "From a@x  Sat Nov 28 2026", FALSE, 0 },
	{ "From a@x  Sat Nov 31 04:36:21 2026", FALSE, 0 },
	{ "From a@x  Sat Feb 29 04:36:21 2026", FALSE, 0 },
	{ "From a@x  Sat Nov 28 24:00:00 2026", FALSE, 0 },
	{ "From a@x  Sat Nov 28 04:60:00 2026", FALSE, 0 },
	{ "From a@x  Sat Nov 28 04:36:61 2026", FALSE, 0 },
	{ "From a@x  Xyz Nov 28 04:36:21 2026", FALSE, 0 },
	{ "From a@x  Sat Noo 28 04:36:21 2026", FALSE, 0 },
	{ "From a@x  SatNov 28 04:36:21 2026", FALSE, 0 },
	{ "From a@x  Sat Nov 128 04:36:21 2026", FALSE, 0 },
	{ "From a@x  Sat Nov 28 04:36:21 2026 and more words", FALSE, 0 },
	{ "From a@x  Sat Nov 28 04:36:21 +0100 2026 +0100", FALSE, 0 },
	{ "From a@x  Sat Nov 28 04:36:21 +2500 2026", FALSE, 0 },
	{ "From a@x  Sat Nov 28 04:36:21 +01 2026", FALSE, 0 },
	{ "From a@x  Sat Nov 28 04:36:21 LONGZONE 2026", FALSE, 0 },
	{ "From a@x\tSat Nov 28 04:36:21 2026", FALSE, 0 },
	{ "From a@x  Sat Nov 28 04:36:21 2026\r", FALSE, 0 },
	{ "From \"a b@x  Sat Nov 28 04:36:21 2026", FALSE, 0 },
	{ "From the start of time, Sat Nov 28 04:36:21 2026", FALSE, 0 },
	{ "From a@x  Sat Nov 28 04:36:21 1899", FALSE, 0 },
};

/* Set the local time zone (a POSIX TZ string: no tzdata needed). */
static void
set_tz(const char *tz)
{
	g_setenv("TZ", tz, TRUE);
	tzset();
}

/* The From_ line table, with and without a place for the date; a date
 * without a zone is local time, here UTC. */
static void
test_from_line(void **state)
{
	const struct from_case	*c;
	gsize			 i;
	gint64			 when;
	gboolean		 ok;

	(void)state;
	set_tz("UTC0");
	for (i = 0; i < G_N_ELEMENTS(from_cases); i++) {
		c = &from_cases[i];
		when = -1;
		ok = spool_is_from_line(c->line, strlen(c->line), &when);
		if (ok != c->ok)
			fail_msg("\"%s\": %s, want %s", c->line,
			    ok ? "a From_ line" : "not one",
			    c->ok ? "a From_ line" : "not one");
		if (ok && when != c->when)
			fail_msg("\"%s\": date %" G_GINT64_FORMAT ", want %"
			    G_GINT64_FORMAT, c->line, when, c->when);
		assert_int_equal(spool_is_from_line(c->line, strlen(c->line),
		    NULL), c->ok);
	}
	/* The length is obeyed: a valid line cut short is not one. */
	assert_false(spool_is_from_line(from_cases[0].line,
	    strlen(from_cases[0].line) - 1, NULL));
}

/*
 * Postfix writes the server's local time without a zone: in Paris, the
 * line says 05:36 for 04:36 UTC in winter, 06:36 in summer.  A line
 * that gives its zone means it, whatever ours.
 */
static void
test_from_line_local_time(void **state)
{
	static const struct from_case cases[] = {
		{ "From a@x  Sat Nov 28 05:36:21 2026", TRUE, T0 },
		{ "From a@x  Sat Jun 27 06:36:21 2026", TRUE, 1782534981 },
		{ "From a@x  Sat Nov 28 04:36:21 2026 +0000", TRUE, T0 },
		{ "From a@x  Sat Nov 28 04:36:21 UTC 2026", TRUE, T0 },
		{ "From a@x  Fri Nov 27 23:36:21 EST 2026", TRUE, T0 },
	};
	gint64	 when;
	gsize	 i;

	(void)state;
	set_tz("CET-1CEST,M3.5.0,M10.5.0/3");
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		when = -1;
		assert_true(spool_is_from_line(cases[i].line,
		    strlen(cases[i].line), &when));
		if (when != cases[i].when)
			fail_msg("\"%s\": date %" G_GINT64_FORMAT ", want %"
			    G_GINT64_FORMAT, cases[i].line, when, cases[i].when);
	}
	set_tz("UTC0");
}

/* One line before and after unquoting. */
struct unquote_case {
	const char	*in;
	const char	*out;
};

static const struct unquote_case unquote_cases[] = {
	{ ">From x", "From x" },
	{ ">From ", "From " },
	/* Postfix quotes "From " alone (mboxo): these came as they are. */
	{ ">>From x", ">>From x" },
	{ ">>>From a@x  Sat Nov 28 04:36:21 2026", ">>>From a@x  Sat Nov 28 "
	    "04:36:21 2026" },
	{ "From x", "From x" },
	{ "> From x", "> From x" },
	{ ">From", ">From" },
	{ ">from x", ">from x" },
	{ ">Fromx", ">Fromx" },
	{ "x>From x", "x>From x" },
	{ ">>", ">>" },
	{ ">", ">" },
	{ "", "" },
};

/* The unquoting table. */
static void
test_unquote(void **state)
{
	char	 buf[128];
	gsize	 i, n;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(unquote_cases); i++) {
		memset(buf, '#', sizeof(buf));
		n = strlen(unquote_cases[i].in);
		memcpy(buf, unquote_cases[i].in, n);
		n = spool_unquote_from(buf, n);
		if (n != strlen(unquote_cases[i].out) ||
		    memcmp(buf, unquote_cases[i].out, n) != 0)
			fail_msg("\"%s\" -> \"%.*s\", want \"%s\"",
			    unquote_cases[i].in, (int)n, buf,
			    unquote_cases[i].out);
	}
}

/* A message's headers and the summary they must give. */
struct summary_case {
	const char	*from_line;	/* NULL: FROM_A */
	const char	*headers;
	const char	*name;
	const char	*addr;
	const char	*subject;
	gint64		 date;
	gboolean	 attachment;
};

static const struct summary_case summary_cases[] = {
	{ NULL, "From: Darth Vader <darth@starwars.univ>\n"
	    "Subject: plain\nDate: Sat, 28 Nov 2026 05:36:21 +0100\n",
	    "Darth Vader", "darth@starwars.univ", "plain", T0, FALSE },
	{ NULL, "Subject: =?ISO-8859-1?Q?=C9t=E9_=E0_Paris?=\n"
	    "From: =?ISO-8859-1?Q?=C9lodie_Dupr=E9?= <e@mail181.com>\n",
	    "Élodie Dupré", "e@mail181.com", "Été à Paris", T0, FALSE },
	{ NULL, "Subject: =?UTF-8?B?w4l0w6kgw6AgUGFyaXMg4pyT?=\n"
	    "From: =?utf-8?q?=C3=89lodie?= <e@mail181.com>\n",
	    "Élodie", "e@mail181.com", "Été à Paris ✓", T0, FALSE },
	{ NULL, "Subject: folded\n over two lines\nFrom: a@x\n",
	    "", "a@x", "folded over two lines", T0, FALSE },
	{ FROM_C, "Subject: no Date, no From\n",
	    "", "MAILER-DAEMON", "no Date, no From", 1793507781, FALSE },
	{ NULL, "Subject: bad Date\nDate: yesterday-ish\n",
	    "", "darth@starwars.univ", "bad Date", T0, FALSE },
	{ NULL, "Date: Tue, 14 Nov 2023 22:13:20 +0000\n",
	    "", "darth@starwars.univ", "", 1700000000, FALSE },
	{ NULL, "Subject: mixed\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=\"b1\"\n",
	    "", "darth@starwars.univ", "mixed", T0, TRUE },
	{ NULL, "Subject: alternative\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/alternative; boundary=\"b1\"\n",
	    "", "darth@starwars.univ", "alternative", T0, FALSE },
	{ NULL, "Subject: pdf\nContent-Type: application/pdf\n"
	    "Content-Disposition: attachment; filename=\"tp.pdf\"\n",
	    "", "darth@starwars.univ", "pdf", T0, TRUE },
	{ NULL, "Subject: inline\nContent-Type: text/plain\n"
	    "Content-Disposition: inline\n",
	    "", "darth@starwars.univ", "inline", T0, FALSE },
	{ NULL, "Subject: "
	    "=?UTF-8?B?5a6e6LCiOzrpgq7lj5E75Y+R6KaB5Y"
	    "+R5ZCI5a6e5LitPOmCruWQiOimgeS7tjzmlofmlofosKLnmoTpgq7osKI66LCi5Y"
	    "+R5ZCI5a6e5paH6YKu5Lit5ZCI5ZCIPOimgeWQiDs=?="
	    "\n =?UTF-8?B?55qE5Lu25Lu26LCi5Y+R?=\n",
	    "", "darth@starwars.univ", "实谢;:邮发;发要发合实中<邮合要件<文文谢的邮谢:谢发合实文邮中合合<要合;的件件谢发", T0, FALSE },
	{ NULL, "Subject: =?UTF-8?Q?a=0D=0Ab=1B[31m?=\n",
	    "", "darth@starwars.univ", "a  b [31m", T0, FALSE },
	{ NULL, "From: team: luke@rebels.univ, leia@rebels.univ;\n",
	    "", "luke@rebels.univ", "", T0, FALSE },
	{ NULL, "Subject: " LONG50 LONG50 LONG50 LONG50 LONG50 LONG50 "\n",
	    "", "darth@starwars.univ",
	    LONG50 LONG50 LONG50 LONG50 LONG50 "012345", T0, FALSE },
	{ FROM_A_CRLF, "From: Luke <luke@rebels.univ>\r\nSubject: crlf\r\n",
	    "Luke", "luke@rebels.univ", "crlf", T0, FALSE },
	{ NULL, "", "", "darth@starwars.univ", "", T0, FALSE },
};

/* Write each summary case as a message, then read its summary. */
static void
test_summaries(void **state)
{
	const struct summary_case *c;
	const struct spool_summary *sum, *again;
	struct spool_index	*idx;
	struct tmpspool		 t;
	GString			*s;
	GError			*err = NULL;
	gsize			 i;
	gboolean		 crlf;

	(void)state;
	s = g_string_new(NULL);
	for (i = 0; i < G_N_ELEMENTS(summary_cases); i++) {
		c = &summary_cases[i];
		crlf = c->from_line != NULL &&
		    strstr(c->from_line, "\r\n") != NULL;
		g_string_append(s, c->from_line ? c->from_line : FROM_A);
		g_string_append(s, c->headers);
		g_string_append(s, crlf ? "\r\nFrom: not@this.one\r\n\r\n" :
		    "\nFrom: not@this.one\n--b1--\n\n");
	}
	t = spool_file(s->str, s->len);
	idx = index_file(t.fd, NULL);
	assert_int_equal(spool_count(idx), G_N_ELEMENTS(summary_cases));
	for (i = 0; i < G_N_ELEMENTS(summary_cases); i++) {
		c = &summary_cases[i];
		sum = spool_summary(idx, t.fd, i + 1, &err);
		assert_null(err);
		assert_non_null(sum);
		if (strcmp(sum->from_name, c->name) != 0 ||
		    strcmp(sum->from_addr, c->addr) != 0 ||
		    strcmp(sum->subject, c->subject) != 0 ||
		    sum->date != c->date ||
		    sum->has_attachment != c->attachment)
			fail_msg("case %zu: \"%s\" <%s> \"%s\" %" G_GINT64_FORMAT
			    " %d; want \"%s\" <%s> \"%s\" %" G_GINT64_FORMAT
			    " %d", i, sum->from_name, sum->from_addr,
			    sum->subject, sum->date, sum->has_attachment,
			    c->name, c->addr, c->subject, c->date,
			    c->attachment);
		again = spool_summary(idx, t.fd, i + 1, &err);
		assert_ptr_equal(again, sum);	/* kept */
		assert_ptr_equal(spool_message(idx, i + 1)->summary, sum);
	}
	spool_index_free(idx);
	spool_file_done(&t);
	g_string_free(s, TRUE);
}

/* Raw 8-bit headers, and a header block past SPOOL_HEADER_MAX. */
static void
test_summary_hostile(void **state)
{
	const struct spool_summary *sum;
	struct spool_index	*idx;
	struct tmpspool		 t;
	GString			*s;
	GError			*err = NULL;
	gsize			 i;

	(void)state;
	s = g_string_new(FROM_A "Subject: caf\xe9 \xff\xfe\nFrom: "
	    "\"\xc3\x28\" <a@x>\n\nbody\n\n");
	g_string_append(s, FROM_B "Subject: first\n");
	for (i = 0; i < SPOOL_HEADER_MAX / 40 + 100; i++)
		g_string_append(s, "X-Filler: 0123456789012345678901234567\n");
	g_string_append(s, "Subject: too far\n\nbody\n\n");
	/* Bidi controls, raw and encoded: the inbox list shows these. */
	g_string_append(s, FROM_A "Subject: invoice\xe2\x80\xae" "fdp.exe\n"
	    "From: =?UTF-8?Q?x=E2=81=A6y?= <a@x>\n\nbody\n");
	t = spool_file(s->str, s->len);
	idx = index_file(t.fd, NULL);
	assert_int_equal(spool_count(idx), 3);
	sum = spool_summary(idx, t.fd, 1, &err);
	assert_non_null(sum);
	assert_true(g_utf8_validate(sum->subject, -1, NULL));
	assert_true(g_utf8_validate(sum->from_name, -1, NULL));
	/* Not UTF-8: read in GMime's fallback charset, Latin-1. */
	assert_string_equal(sum->subject, "caf\xc3\xa9 \xc3\xbf\xc3\xbe");
	assert_string_equal(sum->from_addr, "a@x");
	sum = spool_summary(idx, t.fd, 2, &err);
	assert_non_null(sum);
	assert_string_equal(sum->subject, "first");
	sum = spool_summary(idx, t.fd, 3, &err);
	assert_non_null(sum);
	assert_string_equal(sum->subject, "invoice\xef\xbf\xbd" "fdp.exe");
	assert_string_equal(sum->from_name, "x\xef\xbf\xbdy");
	spool_index_free(idx);
	spool_file_done(&t);
	g_string_free(s, TRUE);
}

/* GMime, once for all the tests. */
static int
setup(void **state)
{
	(void)state;
	g_mime_init();
	return 0;
}

/* Let valgrind tell GMime's one-time state from leaks. */
static int
teardown(void **state)
{
	(void)state;
	g_mime_shutdown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_from_line),
		cmocka_unit_test(test_from_line_local_time),
		cmocka_unit_test(test_unquote),
		cmocka_unit_test(test_layouts),
		cmocka_unit_test(test_chunk_boundary),
		cmocka_unit_test(test_large_message),
		cmocka_unit_test(test_long_sender),
		cmocka_unit_test(test_update_append),
		cmocka_unit_test(test_update_grow_last),
		cmocka_unit_test(test_update_grow_cut_headers),
		cmocka_unit_test(test_update_splits),
		cmocka_unit_test(test_update_random_splits),
		cmocka_unit_test(test_update_across_chunk),
		cmocka_unit_test(test_update_rewrite),
		cmocka_unit_test(test_update_new_inode),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_lock_reader),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_summaries),
		cmocka_unit_test(test_summary_hostile),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
