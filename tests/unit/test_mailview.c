/*
 * test_mailview - unit tests of the message view.
 *
 * Golden files: tests/unit/mail/NAME.eml is written to a temporary file
 * between bytes that must never be read (a message of their own before
 * start, a body line after end), parsed, and the struct mailview dumped
 * as plain text; the dump must equal tests/unit/mail/NAME.ref, so that a
 * change of the renderer shows as a diff.  LABMAIL_UPDATE_REF=1 rewrites
 * the .ref files instead (then read the diff before committing it).
 * Every dump is also checked for what must hold of any message: valid
 * UTF-8, no control or bidi character, and each part downloadable with
 * as many bytes as its listed size.
 *
 * Other cases build their message in code: limits, truncation, the
 * exact bytes of an attachment, bad ranges and part numbers.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gmime/gmime.h>

#include "mailview.h"

#include "body_file.h"

/* Bytes around the message in its file: reading them is a bug. */
#define BEFORE	"From nobody Mon Jan  1 00:00:00 2024\n" \
		"From: BEFORE-START <before@example>\n" \
		"Subject: BEFORE-START\n\nBEFORE-START body\n\n" \
		"From nobody Mon Jan  1 00:00:00 2024\n"
#define AFTER	"\nAFTER-END body\n--AFTER-END--\n"

/* Part number's decoded bytes through mailview_part(); NULL on failure. */
static GBytes *
part_bytes(int fd, guint64 start, guint64 end, guint number,
    char **content_type, char **filename, GError **err)
{
	int	out = body_file();

	if (!mailview_part(fd, start, end, number, out, content_type,
	    filename, err)) {
		close(out);
		return NULL;
	}
	return body_file_bytes(out);
}

/* A temporary file holding BEFORE, msg, AFTER; [*start, *end) is msg. */
static int
region_file(const char *msg, gsize len, guint64 *start, guint64 *end)
{
	GError	*err = NULL;
	char	*path = NULL;
	GString	*all = g_string_new(BEFORE);
	int	 fd;

	g_string_append_len(all, msg, len);
	g_string_append(all, AFTER);
	fd = g_file_open_tmp("test_mailview-XXXXXX", &path, &err);
	if (fd == -1)
		fail_msg("g_file_open_tmp: %s", err->message);
	g_unlink(path);
	g_free(path);
	assert_int_equal(write(fd, all->str, all->len), all->len);
	*start = strlen(BEFORE);
	*end = *start + len;
	g_string_free(all, TRUE);
	return fd;
}

/* The top of the checkout: LABMAIL_TOP, else the current directory. */
static const char *
top_dir(void)
{
	const char	*top = g_getenv("LABMAIL_TOP");

	return top != NULL && *top != '\0' ? top : ".";
}

/* Read tests/unit/mail/NAME.ext (which must exist). */
static char *
read_mail_file(const char *name, const char *ext, gsize *len)
{
	GError	*err = NULL;
	char	*file = g_strconcat(name, ext, NULL);
	char	*path = g_build_filename(top_dir(), "tests", "unit", "mail",
		    file, NULL);
	char	*data;

	if (!g_file_get_contents(path, &data, len, &err))
		fail_msg("%s", err->message);
	g_free(path);
	g_free(file);
	return data;
}

/*
 * Fail unless s is valid UTF-8 without control characters (but '\n' if
 * nl, '\t') and without bidi embeddings, overrides or isolates.
 */
static void
assert_clean(const char *what, const char *s, gboolean nl)
{
	const char	*p;

	if (s == NULL)
		return;
	if (!g_utf8_validate(s, -1, NULL))
		fail_msg("%s: not valid UTF-8", what);
	for (p = s; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar	 c = g_utf8_get_char(p);

		if ((c == '\n' && nl) || c == '\t')
			continue;
		if (c < 0x20 || (c >= 0x7f && c <= 0x9f) ||
		    (c >= 0x202a && c <= 0x202e) ||
		    (c >= 0x2066 && c <= 0x2069))
			fail_msg("%s: U+%04X at byte %td", what, c, p - s);
	}
}

static const char *const kind_names[] = { "text", "html", "attachment" };

/* The struct as text, one field a line; a text part's lines as "| ". */
static char *
dump(const struct mailview *mv)
{
	GString		*out = g_string_new(NULL);
	guint		 i;

	g_string_append_printf(out, "from: %s\n", mv->from);
	g_string_append_printf(out, "to: %s\n", mv->to);
	g_string_append_printf(out, "cc: %s\n", mv->cc ? mv->cc : "(none)");
	g_string_append_printf(out, "subject: %s\n", mv->subject);
	g_string_append_printf(out, "date: %s\n", mv->date);
	g_string_append_printf(out, "date_unix: %" G_GINT64_FORMAT "\n",
	    mv->date_unix);
	g_string_append_printf(out, "message_id: %s\n",
	    mv->message_id ? mv->message_id : "(none)");
	g_string_append_printf(out, "return_path: %s\n",
	    mv->return_path ? mv->return_path : "(none)");
	for (i = 0; i < mv->received->len; i++)
		g_string_append_printf(out, "received: %s\n",
		    (char *)mv->received->pdata[i]);
	for (i = 0; i < mv->parts->len; i++) {
		struct mailview_part *p = mv->parts->pdata[i];
		const char	*line, *nl;

		g_string_append_printf(out, "part %u %s %s size=%zu", p->number,
		    kind_names[p->kind], p->content_type, (size_t)p->size);
		if (p->filename != NULL)
			g_string_append_printf(out, " filename=%s",
			    p->filename);
		if (p->truncated)
			g_string_append(out, " truncated");
		g_string_append_c(out, '\n');
		if (p->text == NULL)
			continue;
		for (line = p->text; *line != '\0'; line = nl + 1) {
			if ((nl = strchr(line, '\n')) == NULL) {
				g_string_append_printf(out, "| %s\n"
				    "\\ no newline at end\n", line);
				break;
			}
			g_string_append(out, "| ");
			g_string_append_len(out, line, nl - line + 1);
		}
	}
	return g_string_free(out, FALSE);
}

/*
 * Checks that hold for any parsed message (see the top comment).  Each
 * download parses the message again: for the first few parts only.
 */
#define DOWNLOADS_CHECKED	40

static void
check_invariants(const struct mailview *mv, int fd, guint64 start,
    guint64 end)
{
	GError		*err = NULL;
	guint		 i;

	assert_non_null(mv->from);
	assert_non_null(mv->to);
	assert_non_null(mv->subject);
	assert_non_null(mv->date);
	assert_clean("from", mv->from, FALSE);
	assert_clean("to", mv->to, FALSE);
	assert_clean("cc", mv->cc, FALSE);
	assert_clean("subject", mv->subject, FALSE);
	assert_clean("date", mv->date, FALSE);
	assert_clean("message_id", mv->message_id, FALSE);
	assert_clean("return_path", mv->return_path, FALSE);
	for (i = 0; i < mv->received->len; i++) {
		assert_clean("received", mv->received->pdata[i], FALSE);
		assert_null(strpbrk(mv->received->pdata[i], "\t\r\n"));
	}
	assert_true(mv->parts->len <= MAILVIEW_PARTS_MAX);
	for (i = 0; i < mv->parts->len; i++) {
		struct mailview_part *p = mv->parts->pdata[i];
		char		*ct = NULL, *fn = NULL;
		GBytes		*b;

		assert_int_equal(p->number, i + 1);
		assert_clean("text", p->text, TRUE);
		assert_clean("filename", p->filename, FALSE);
		if (p->filename != NULL) {
			assert_null(strpbrk(p->filename, "/\\\t"));
			assert_true(strlen(p->filename) <= 255);
		}
		assert_true((p->kind == MAILVIEW_TEXT) == (p->text != NULL));
		if (p->text != NULL)
			assert_true(strlen(p->text) <= MAILVIEW_TEXT_MAX);
		assert_null(strpbrk(p->content_type, " \t\r\n;\"<>"));

		/* The download has the listed size, type and name. */
		if (i >= DOWNLOADS_CHECKED)
			continue;
		b = part_bytes(fd, start, end, p->number, &ct, &fn, &err);
		if (b == NULL)
			fail_msg("part %u: %s", p->number, err->message);
		assert_int_equal(g_bytes_get_size(b), p->size);
		assert_true(g_str_has_prefix(ct, p->content_type));
		assert_null(strpbrk(ct, "\r\n\"<>"));
		if (p->filename == NULL)
			assert_null(fn);
		else
			assert_string_equal(fn, p->filename);
		g_bytes_unref(b);
		g_free(ct);
		g_free(fn);
	}
	assert_null(part_bytes(fd, start, end, mv->parts->len + 1, NULL,
	    NULL, &err));
	assert_true(g_error_matches(err, MAILVIEW_ERROR,
	    MAILVIEW_ERROR_NO_PART));
	g_clear_error(&err);
}

/* Print where two dumps first differ. */
static void
report_diff(const char *name, const char *want, const char *got)
{
	char	**w = g_strsplit(want, "\n", -1);
	char	**g = g_strsplit(got, "\n", -1);
	guint	 i;

	for (i = 0; w[i] != NULL && g[i] != NULL; i++)
		if (strcmp(w[i], g[i]) != 0)
			break;
	print_error("%s.ref line %u:\n  want: %s\n  got:  %s\n", name, i + 1,
	    w[i] ? w[i] : "(end)", g[i] ? g[i] : "(end)");
	g_strfreev(w);
	g_strfreev(g);
}

/* One golden case: NAME.eml parsed must dump as NAME.ref. */
static void
test_golden(void **state)
{
	const char	*name = *state;
	GError		*err = NULL;
	struct mailview	*mv;
	guint64		 start, end;
	gsize		 len;
	char		*msg, *got, *want;
	int		 fd;

	msg = read_mail_file(name, ".eml", &len);
	fd = region_file(msg, len, &start, &end);
	mv = mailview_parse(fd, start, end, &err);
	if (mv == NULL)
		fail_msg("%s: %s", name, err->message);
	got = dump(mv);
	assert_null(strstr(got, "BEFORE-START"));
	assert_null(strstr(got, "AFTER-END"));
	check_invariants(mv, fd, start, end);

	if (g_getenv("LABMAIL_UPDATE_REF") != NULL) {
		char	*file = g_strconcat(name, ".ref", NULL);
		char	*path = g_build_filename(top_dir(), "tests", "unit",
			    "mail", file, NULL);

		if (!g_file_set_contents(path, got, -1, &err))
			fail_msg("%s", err->message);
		g_free(path);
		g_free(file);
	} else {
		want = read_mail_file(name, ".ref", &len);
		if (strcmp(want, got) != 0) {
			report_diff(name, want, got);
			fail_msg("%s: dump differs from %s.ref", name, name);
		}
		g_free(want);
	}
	g_free(got);
	mailview_free(mv);
	close(fd);
	g_free(msg);
}

/* Parse msg (placed between BEFORE and AFTER); *fd is left open. */
static struct mailview *
parse_string(const char *msg, gsize len, int *fd, guint64 *start,
    guint64 *end)
{
	GError		*err = NULL;
	struct mailview	*mv;

	*fd = region_file(msg, len, start, end);
	if ((mv = mailview_parse(*fd, *start, *end, &err)) == NULL)
		fail_msg("mailview_parse: %s", err->message);
	check_invariants(mv, *fd, *start, *end);
	return mv;
}

/* Part number (1-based) of mv, which must exist. */
static struct mailview_part *
part(struct mailview *mv, guint number)
{
	assert_true(number >= 1 && number <= mv->parts->len);
	return mv->parts->pdata[number - 1];
}

/*
 * Properties the golden files show, asserted on their own, so that a
 * careless LABMAIL_UPDATE_REF=1 cannot bless a regression of these.
 */
static void
test_golden_facts(void **state)
{
	struct {
		const char	*name;
		guint		 n_parts;
		const char	*kinds;		/* t, h, a per part */
	} cases[] = {
		{ "plain-ascii", 1, "t" },
		{ "qp-utf8", 1, "t" },
		{ "base64-latin1", 1, "t" },
		{ "alternative", 2, "th" },
		{ "mixed-attach", 4, "taaa" },
		{ "html-only", 1, "h" },
		{ "nested", 5, "thaat" },
	};
	gsize		 i, j, len;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct mailview	*mv;
		guint64		 start, end;
		char		*msg;
		int		 fd;

		msg = read_mail_file(cases[i].name, ".eml", &len);
		mv = parse_string(msg, len, &fd, &start, &end);
		if (mv->parts->len != cases[i].n_parts)
			fail_msg("%s: %u parts", cases[i].name, mv->parts->len);
		for (j = 0; j < cases[i].n_parts; j++) {
			enum mailview_kind k = part(mv, j + 1)->kind;

			if ("tha"[k] != cases[i].kinds[j])
				fail_msg("%s: part %zu is %s", cases[i].name,
				    j + 1, kind_names[k]);
		}
		mailview_free(mv);
		close(fd);
		g_free(msg);
	}
}

/* Attacker-chosen headers and names come out as text, neutralised. */
static void
test_attacker(void **state)
{
	struct mailview	*mv;
	guint64		 start, end;
	gsize		 len;
	char		*msg = read_mail_file("attacker", ".eml", &len);
	int		 fd;

	(void)state;
	mv = parse_string(msg, len, &fd, &start, &end);
	/* Escaping is the page's job: the text is exactly what was sent. */
	assert_string_equal(mv->subject,
	    "<script>alert(1)</script> & \"quotes\" 'too'");
	/* U+202E in a display name, encoded and raw: replaced. */
	assert_null(strstr(mv->from, "\xe2\x80\xae"));
	assert_non_null(strstr(mv->from, "PayPal\xef\xbf\xbd moc.lapyap"));
	assert_non_null(strstr(mv->cc, "\xef\xbf\xbd" "admin"));
	assert_null(strchr(mv->message_id, '\x1b'));
	assert_string_equal(part(mv, 2)->filename, "invoicefdp.exe");
	assert_null(part(mv, 3)->filename);	/* "a/b/.." */
	assert_string_equal(part(mv, 3)->content_type,
	    "application/octet-stream");
	mailview_free(mv);
	close(fd);
	g_free(msg);
}

#define SPLIT_SUBJECT	\
	"=?UTF-8?B?5a6e6LCiOzrpgq7lj5E75Y+R6KaB5Y+R5ZCI5a6e5LitPOmCruWQiOimgeS7tjzm" \
	"lofmlofosKLnmoTpgq7osKI66LCi5Y+R5ZCI5a6e5paH6YKu5Lit5ZCI5ZCIPOimgeWQiDs=?=" \
	"\n =?UTF-8?B?55qE5Lu25Lu26LCi5Y+R?="
#define SPLIT_SUBJECT_TEXT	"实谢;:邮发;发要发合实中<邮合要件<文文谢的邮谢:谢发合实文邮中合合<要合;的件件谢发"

/*
 * Subjects as GMime decodes them, then neutralised: what is dangerous
 * inside an encoded word (ESC, bidi override, CR LF) is replaced, and
 * markup is left as the text it is.
 */
static void
test_subjects(void **state)
{
	static const struct {
		const char	*header;	/* NULL: no Subject at all */
		const char	*want;
	} cases[] = {
		{ "<script>alert(1)</script>", "<script>alert(1)</script>" },
		{ "=?UTF-8?Q?=3Cb=3Ebold=3C/b=3E?=", "<b>bold</b>" },
		{ "=?UTF-8?Q?a=1B[31mb?=", "a\xef\xbf\xbd[31mb" },
		{ "=?UTF-8?Q?x=E2=80=AEy=E2=81=A6z?=",
		  "x\xef\xbf\xbdy\xef\xbf\xbdz" },
		{ "=?UTF-8?B?YQ0KU2V0LUNvb2tpZTogeD0x?=",
		  "a\xef\xbf\xbd\xef\xbf\xbdSet-Cookie: x=1" },
		{ "=?UTF-8?Q?nul=00end?=", "nul?end" },	/* GMime's '?' */
		{ "=?ISO-8859-1?Q?caf=E9?= =?ISO-8859-1?B?6XTp?=",
		  "caf\xc3\xa9\xc3\xa9t\xc3\xa9" },
		{ "tab\there", "tab\there" },
		/* As GMime itself folds a long subject, in two base64
		 * words, the first padded: its own decoder stopped at the
		 * '=' (jstedfast/gmime#133). */
		{ SPLIT_SUBJECT, SPLIT_SUBJECT_TEXT },
		{ "=?utf-8?b?w6k=?==?utf-8?b?w6k=?=", "\xc3\xa9\xc3\xa9" },
		/* As GMime reads them: spaces left inside a word, a word
		 * inside text, white space between words dropped. */
		{ "=?UTF-8?Q?hello world?=", "hello world" },
		{ "abc=?utf-8?q?x?=def", "abcxdef" },
		{ "=?utf-8?q?a?=\n =?utf-8?q?b?= x =?utf-8?q?c?=", "ab x c" },
		{ "", "" },
		{ NULL, "" },
	};
	gsize		 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct mailview	*mv;
		guint64		 start, end;
		char		*msg;
		int		 fd;

		msg = g_strdup_printf("From: a@b.example\n%s%s%sTo: c@d\n\n"
		    "body\n", cases[i].header ? "Subject: " : "",
		    cases[i].header ? cases[i].header : "",
		    cases[i].header ? "\n" : "");
		mv = parse_string(msg, strlen(msg), &fd, &start, &end);
		if (strcmp(mv->subject, cases[i].want) != 0)
			fail_msg("case %zu: subject \"%s\"", i, mv->subject);
		mailview_free(mv);
		close(fd);
		g_free(msg);
	}
}

/*
 * Empty parts (found by fuzz_mailview: an empty text part crashed the
 * parse) and the charset of a download: a declared name that is no
 * token goes out by its canonical name, which is one.
 */
static void
test_empty_parts_and_charset(void **state)
{
	struct mailview	*mv;
	guint64		 start, end;
	gsize		 len;
	char		*msg = read_mail_file("empty-parts", ".eml", &len);
	char		*type = NULL, *name = NULL;
	GBytes		*bytes;
	int		 fd;

	(void)state;
	mv = parse_string(msg, len, &fd, &start, &end);
	assert_int_equal(mv->parts->len, 3);
	assert_string_equal(((struct mailview_part *)
	    mv->parts->pdata[0])->text, "");
	bytes = part_bytes(fd, start, end, 2, &type, &name, NULL);
	assert_non_null(bytes);
	assert_string_equal(type, "text/plain; charset=iso-8859-1");
	assert_null(name);
	g_bytes_unref(bytes);
	g_free(type);
	bytes = part_bytes(fd, start, end, 1, &type, &name, NULL);
	assert_non_null(bytes);
	assert_int_equal(g_bytes_get_size(bytes), 0);
	assert_string_equal(type, "text/plain; charset=utf-8");
	assert_null(name);
	g_bytes_unref(bytes);
	g_free(type);
	mailview_free(mv);
	close(fd);
	g_free(msg);
}

/* A message of one text part with this body (8bit, UTF-8). */
static char *
text_message(const char *body, gsize len, gsize *msg_len)
{
	GString	*s = g_string_new("From: a@b.example\nSubject: big\n"
		    "MIME-Version: 1.0\n"
		    "Content-Type: text/plain; charset=utf-8\n"
		    "Content-Transfer-Encoding: 8bit\n\n");

	g_string_append_len(s, body, len);
	*msg_len = s->len;
	return g_string_free(s, FALSE);
}

/*
 * Over MAILVIEW_TEXT_MAX, text is cut at a character boundary (here the
 * limit falls inside a two-byte "é") and marked truncated; the size is
 * still the whole part's.  At exactly the limit nothing is cut.
 */
static void
test_truncation(void **state)
{
	struct {
		gsize		 ascii;	/* leading 'a's, then "é" repeated */
		gsize		 total;
		gboolean	 truncated;
		gsize		 text_len;
	} cases[] = {
		{ MAILVIEW_TEXT_MAX - 1, MAILVIEW_TEXT_MAX + 3, TRUE,
		  MAILVIEW_TEXT_MAX - 1 },
		{ MAILVIEW_TEXT_MAX, MAILVIEW_TEXT_MAX, FALSE,
		  MAILVIEW_TEXT_MAX },
		{ MAILVIEW_TEXT_MAX, MAILVIEW_TEXT_MAX + 1, TRUE,
		  MAILVIEW_TEXT_MAX },
		{ 10, 5 * MAILVIEW_TEXT_MAX, TRUE, MAILVIEW_TEXT_MAX },
	};
	gsize	 i, j;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct mailview	*mv;
		struct mailview_part *p;
		guint64		 start, end;
		gsize		 len;
		char		*body = g_malloc(cases[i].total), *msg;
		int		 fd;

		memset(body, 'a', cases[i].ascii);
		for (j = cases[i].ascii; j + 1 < cases[i].total; j += 2)
			memcpy(body + j, "\xc3\xa9", 2);
		if (j < cases[i].total)
			body[j] = '\n';
		msg = text_message(body, cases[i].total, &len);
		mv = parse_string(msg, len, &fd, &start, &end);
		p = part(mv, 1);
		assert_int_equal(p->size, cases[i].total);
		if (p->truncated != cases[i].truncated)
			fail_msg("case %zu: truncated %d", i, p->truncated);
		assert_int_equal(strlen(p->text), cases[i].text_len);
		assert_memory_equal(p->text, body, cases[i].text_len);
		mailview_free(mv);
		close(fd);
		g_free(msg);
		g_free(body);
	}
}

/*
 * Text that shrinks when unquoted (">From " lines) is still marked
 * truncated when it was not all read, though it ends under the limit.
 */
static void
test_truncation_unquoted(void **state)
{
	GString		*body = g_string_new(NULL);
	struct mailview	*mv;
	struct mailview_part *p;
	guint64		 start, end;
	gsize		 len;
	char		*msg;
	int		 fd;

	(void)state;
	while (body->len < MAILVIEW_TEXT_MAX + MAILVIEW_TEXT_MAX / 2)
		g_string_append(body, ">From \n");
	msg = text_message(body->str, body->len, &len);
	mv = parse_string(msg, len, &fd, &start, &end);
	p = part(mv, 1);
	assert_int_equal(p->size, body->len);
	assert_true(strlen(p->text) < MAILVIEW_TEXT_MAX);
	assert_true(g_str_has_prefix(p->text, "From \nFrom \n"));
	assert_true(p->truncated);
	mailview_free(mv);
	close(fd);
	g_free(msg);
	g_string_free(body, TRUE);
}

/* Bytes every value 0-255, as an attachment must come back. */
static GBytes *
binary_blob(gsize len)
{
	guint8	*b = g_malloc(len);
	gsize	 i;

	for (i = 0; i < len; i++)
		b[i] = (guint8)(i * 7 + i / 256);
	memcpy(b, "%PDF-1.4\n", 9);
	return g_bytes_new_take(b, len);
}

/* The message of test_download: text, then the blob in base64. */
static char *
blob_message(GBytes *blob, gsize *len)
{
	GString	*s = g_string_new(NULL);
	char	*b64 = g_base64_encode(g_bytes_get_data(blob, NULL),
		    g_bytes_get_size(blob));
	gsize	 i, n = strlen(b64);

	g_string_append(s, "From: a@b.example\nSubject: pdf\n"
	    "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n"
	    "--B\nContent-Type: text/plain; charset=ISO-8859-1\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n"
	    "caf=E9\n--B\nContent-Type: application/pdf\n"
	    "Content-Disposition: attachment; filename=\"../../etc/passwd\"\n"
	    "Content-Transfer-Encoding: base64\n\n");
	for (i = 0; i < n; i += 76) {
		g_string_append_len(s, b64 + i, MIN(76, n - i));
		g_string_append_c(s, '\n');
	}
	g_string_append(s, "--B--\n");
	g_free(b64);
	*len = s->len;
	return g_string_free(s, FALSE);
}

/*
 * mailview_part() gives the attachment's original bytes, with its type
 * and a safe name; a text part keeps its charset, declared in the type.
 */
static void
test_download(void **state)
{
	GError		*err = NULL;
	GBytes		*blob = binary_blob(100000), *got;
	struct mailview	*mv;
	guint64		 start, end;
	gsize		 len;
	char		*msg = blob_message(blob, &len), *ct, *fn;
	int		 fd;

	(void)state;
	mv = parse_string(msg, len, &fd, &start, &end);
	assert_int_equal(mv->parts->len, 2);
	/* The line end before a boundary is the boundary's (RFC 2046). */
	assert_string_equal(part(mv, 1)->text, "caf\xc3\xa9");
	assert_int_equal(part(mv, 2)->size, 100000);

	got = part_bytes(fd, start, end, 2, &ct, &fn, &err);
	assert_non_null(got);
	assert_true(g_bytes_equal(got, blob));
	assert_string_equal(ct, "application/pdf");
	assert_string_equal(fn, "passwd");
	g_bytes_unref(got);
	g_free(ct);
	g_free(fn);

	got = part_bytes(fd, start, end, 1, &ct, &fn, &err);
	assert_non_null(got);
	assert_int_equal(g_bytes_get_size(got), 4);
	assert_memory_equal(g_bytes_get_data(got, NULL), "caf\xe9", 4);
	assert_string_equal(ct, "text/plain; charset=iso-8859-1");
	assert_null(fn);
	g_bytes_unref(got);
	g_free(ct);

	/* The out parameters may be NULL. */
	got = part_bytes(fd, start, end, 2, NULL, NULL, &err);
	assert_true(g_bytes_equal(got, blob));
	g_bytes_unref(got);

	mailview_free(mv);
	close(fd);
	g_free(msg);
	g_bytes_unref(blob);
}

/* Part numbers that do not exist, and ranges that are no message. */
static void
test_errors(void **state)
{
	static const guint bad_numbers[] = { 0, 3, 4, 1000, G_MAXUINT };
	GError		*err = NULL;
	GBytes		*blob = binary_blob(100);
	guint64		 start, end;
	gsize		 len, i;
	char		*msg = blob_message(blob, &len);
	char		*ct = (char *)"unset", *fn = (char *)"unset";
	int		 fd;

	(void)state;
	fd = region_file(msg, len, &start, &end);
	for (i = 0; i < G_N_ELEMENTS(bad_numbers); i++) {
		assert_null(part_bytes(fd, start, end, bad_numbers[i], &ct,
		    &fn, &err));
		assert_true(g_error_matches(err, MAILVIEW_ERROR,
		    MAILVIEW_ERROR_NO_PART));
		assert_null(ct);
		assert_null(fn);
		g_clear_error(&err);
	}

	/* start after end */
	assert_null(mailview_parse(fd, end, start, &err));
	assert_true(g_error_matches(err, MAILVIEW_ERROR,
	    MAILVIEW_ERROR_RANGE));
	g_clear_error(&err);
	assert_null(part_bytes(fd, end, start, 1, NULL, NULL, &err));
	assert_true(g_error_matches(err, MAILVIEW_ERROR,
	    MAILVIEW_ERROR_RANGE));
	g_clear_error(&err);
	assert_null(mailview_parse(fd, 0, G_MAXUINT64, &err));
	assert_true(g_error_matches(err, MAILVIEW_ERROR,
	    MAILVIEW_ERROR_RANGE));
	g_clear_error(&err);

	/* nothing at all: an empty range, a closed descriptor */
	assert_null(mailview_parse(fd, start, start, &err));
	assert_true(g_error_matches(err, MAILVIEW_ERROR,
	    MAILVIEW_ERROR_PARSE));
	g_clear_error(&err);
	close(fd);
	assert_null(mailview_parse(fd, start, end, &err));
	assert_true(g_error_matches(err, MAILVIEW_ERROR,
	    MAILVIEW_ERROR_PARSE));
	g_clear_error(&err);

	/* mailview_free(NULL) is a no-op */
	mailview_free(NULL);
	g_free(msg);
	g_bytes_unref(blob);
}

/* More leaves than MAILVIEW_PARTS_MAX: the first ones are listed. */
static void
test_parts_max(void **state)
{
	GError		*err = NULL;
	GString		*s = g_string_new("From: a@b.example\nSubject: many\n"
			    "MIME-Version: 1.0\n"
			    "Content-Type: multipart/mixed; boundary=M\n\n");
	struct mailview	*mv;
	guint64		 start, end;
	GBytes		*b;
	guint		 i;
	int		 fd;

	(void)state;
	for (i = 1; i <= MAILVIEW_PARTS_MAX + 50; i++)
		g_string_append_printf(s, "--M\nContent-Type: text/plain\n\n"
		    "part %u\n", i);
	g_string_append(s, "--M--\n");
	mv = parse_string(s->str, s->len, &fd, &start, &end);
	assert_int_equal(mv->parts->len, MAILVIEW_PARTS_MAX);
	assert_string_equal(part(mv, MAILVIEW_PARTS_MAX)->text, "part 256");
	b = part_bytes(fd, start, end, MAILVIEW_PARTS_MAX, NULL, NULL,
	    &err);
	assert_non_null(b);
	assert_int_equal(g_bytes_get_size(b), 8);
	assert_memory_equal(g_bytes_get_data(b, NULL), "part 256", 8);
	g_bytes_unref(b);
	mailview_free(mv);
	close(fd);
	g_string_free(s, TRUE);
}

/*
 * Hundreds of nested multiparts (ten times the limit): no crash.  With
 * a text part at each level, the levels down to the nesting limit are
 * listed depth-first, then the multipart at the limit as one
 * attachment; with none, that attachment alone.
 */
static void
test_deep_nesting(void **state)
{
	guint		 depth = 300, i, with_text;

	(void)state;
	for (with_text = 0; with_text <= 1; with_text++) {
		GString		*s = g_string_new("From: a@b.example\n"
				    "Subject: deep\nMIME-Version: 1.0\n");
		struct mailview	*mv;
		struct mailview_part *last;
		guint64		 start, end;
		int		 fd;

		for (i = 0; i < depth; i++) {
			g_string_append_printf(s, "Content-Type: "
			    "multipart/mixed; boundary=d%u\n\n--d%u\n", i, i);
			if (with_text)
				g_string_append_printf(s, "Content-Type: "
				    "text/plain\n\nlevel %u\n--d%u\n", i, i);
		}
		g_string_append(s, "Content-Type: text/plain\n\nbottom\n");
		for (i = depth; i-- > 0;)
			g_string_append_printf(s, "--d%u--\n", i);
		mv = parse_string(s->str, s->len, &fd, &start, &end);
		assert_true(mv->parts->len < MAILVIEW_PARTS_MAX);
		last = part(mv, mv->parts->len);
		assert_int_equal(last->kind, MAILVIEW_ATTACHMENT);
		assert_string_equal(last->content_type, "multipart/mixed");
		assert_true(last->size > 0);
		if (with_text) {
			assert_true(mv->parts->len >= 3);
			for (i = 0; i + 1 < mv->parts->len; i++) {
				char	*want = g_strdup_printf("level %u", i);

				assert_string_equal(part(mv, i + 1)->text,
				    want);
				g_free(want);
			}
		} else
			assert_int_equal(mv->parts->len, 1);
		mailview_free(mv);
		close(fd);
		g_string_free(s, TRUE);
	}
}

/* A message of one part with these two header lines, parsed. */
static struct mailview *
one_part(const char *type, const char *disposition, int *fd,
    guint64 *start, guint64 *end)
{
	char		*msg;
	struct mailview	*mv;

	msg = g_strdup_printf("From: a@b.example\nSubject: one\n"
	    "MIME-Version: 1.0\nContent-Type: %s\n%s%s"
	    "Content-Transfer-Encoding: 8bit\n\ncaf\xe9\n", type,
	    disposition ? "Content-Disposition: " : "",
	    disposition ? disposition : "");
	mv = parse_string(msg, strlen(msg), fd, start, end);
	g_free(msg);
	assert_int_equal(mv->parts->len, 1);
	return mv;
}

/*
 * The type listed, and the Content-Type a download is served with: a
 * charset only when iconv knows it and its name is plain (no way to
 * smuggle header syntax through it); odd types become octet-stream.
 */
static void
test_content_types(void **state)
{
	static const struct {
		const char	*type;	/* the Content-Type header */
		const char	*listed;
		const char	*served;
		enum mailview_kind kind;
	} cases[] = {
		{ "text/plain; charset=ISO-8859-1", "text/plain",
		  "text/plain; charset=iso-8859-1", MAILVIEW_TEXT },
		{ "TEXT/HTML; CHARSET=\"UTF-8\"", "text/html",
		  "text/html; charset=utf-8", MAILVIEW_HTML },
		{ "text/plain", "text/plain", "text/plain", MAILVIEW_TEXT },
		{ "text/plain; charset=x-nonsense", "text/plain", "text/plain",
		  MAILVIEW_TEXT },
		/* iconv accepts these, with a meaning of its own */
		{ "text/plain; charset=\"iso-8859-1//TRANSLIT\"", "text/plain",
		  "text/plain", MAILVIEW_TEXT },
		{ "text/plain; charset=\"iso-8859-1,\"", "text/plain",
		  "text/plain", MAILVIEW_TEXT },
		{ "text/plain; charset*=utf-8''latin1%0D%0AX-Injected:%20yes",
		  "text/plain", "text/plain", MAILVIEW_TEXT },
		{ "text/x-c; charset=us-ascii", "text/x-c",
		  "text/x-c; charset=us-ascii", MAILVIEW_TEXT },
		{ "application/pdf; charset=utf-8", "application/pdf",
		  "application/pdf", MAILVIEW_ATTACHMENT },
		{ "image/svg+xml", "image/svg+xml", "image/svg+xml",
		  MAILVIEW_ATTACHMENT },
		{ "application/x\"y\"", "application/x", "application/x",
		  MAILVIEW_ATTACHMENT },
		/* GMime passes these on; a response header must not */
		{ "application/pdf\xc3\xa9", "application/octet-stream",
		  "application/octet-stream", MAILVIEW_ATTACHMENT },
		{ "\xff/\xfe", "application/octet-stream",
		  "application/octet-stream", MAILVIEW_ATTACHMENT },
		{ "/pdf", "application/octet-stream",
		  "application/octet-stream", MAILVIEW_ATTACHMENT },
		{ "appl{i}cation/x", "application/octet-stream",
		  "application/octet-stream", MAILVIEW_ATTACHMENT },
		{ "application/(comment)pdf", "application/pdf",
		  "application/pdf", MAILVIEW_ATTACHMENT },
	};
	GError		*err = NULL;
	gsize		 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct mailview	*mv;
		guint64		 start, end;
		GBytes		*b;
		char		*ct;
		int		 fd;

		mv = one_part(cases[i].type, NULL, &fd, &start, &end);
		if (strcmp(part(mv, 1)->content_type, cases[i].listed) != 0 ||
		    part(mv, 1)->kind != cases[i].kind)
			fail_msg("%s: listed %s (%s)", cases[i].type,
			    part(mv, 1)->content_type,
			    kind_names[part(mv, 1)->kind]);
		b = part_bytes(fd, start, end, 1, &ct, NULL, &err);
		assert_non_null(b);
		if (strcmp(ct, cases[i].served) != 0)
			fail_msg("%s: served as %s", cases[i].type, ct);
		g_free(ct);
		g_bytes_unref(b);
		mailview_free(mv);
		close(fd);
	}
}

/*
 * File names: decoded (RFC 2231, RFC 2047), the last path component
 * only, control and bidi characters removed, at most 255 bytes cut at a
 * character boundary, and none rather than "", "." or "..".
 */
static void
test_filenames(void **state)
{
	static const struct {
		const char	*type;
		const char	*disposition;
		const char	*want;	/* NULL: no file name */
	} cases[] = {
		{ "application/pdf",
		  "attachment; filename=\"../../etc/passwd\"\n", "passwd" },
		{ "application/pdf", "attachment; filename=\"/etc/passwd\"\n",
		  "passwd" },
		{ "application/pdf",
		  "attachment; filename=\"C:\\\\Windows\\\\evil.exe\"\n",
		  "evil.exe" },
		{ "application/pdf",
		  "attachment; filename=\"..\\\\x/..\\\\y\"\n", "y" },
		{ "application/pdf", "attachment; filename=\"dir/\"\n", NULL },
		{ "application/pdf", "attachment; filename=\"..\"\n", NULL },
		{ "application/pdf", "attachment; filename=\".\"\n", NULL },
		{ "application/pdf", "attachment; filename=\"\"\n", NULL },
		{ "application/pdf", "attachment\n", NULL },
		{ "application/pdf", NULL, NULL },
		{ "application/pdf; name=\"from-type.pdf\"", "attachment\n",
		  "from-type.pdf" },
		{ "application/pdf", "attachment; filename*=UTF-8''"
		  "%E2%80%AEgpj.exe\n", "gpj.exe" },
		{ "application/pdf", "attachment; filename*=UTF-8''"
		  "a%0D%0Ab%1B%09c%7F.txt\n", "abc.txt" },
		{ "application/pdf", "attachment; filename*=UTF-8''"
		  "%E2%81%A6%E2%80%AD\n", NULL },
		{ "application/pdf", "attachment; filename*=iso-8859-1''"
		  "%E9t%E9.txt\n", "\xc3\xa9t\xc3\xa9.txt" },
		{ "application/pdf", "attachment; filename*0*=UTF-8''"
		  "%C3%A9t; filename*1=\"\xc3\xa9.txt\"\n",
		  "\xc3\xa9t\xc3\xa9.txt" },
		{ "application/pdf", "attachment; "
		  "filename=\"=?UTF-8?B?w6l0w6kudHh0?=\"\n",
		  "\xc3\xa9t\xc3\xa9.txt" },
		{ "text/plain; charset=utf-8", "inline; filename=notes.txt\n",
		  "notes.txt" },
	};
	gsize		 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct mailview	*mv;
		const char	*fn;
		guint64		 start, end;
		int		 fd;

		mv = one_part(cases[i].type, cases[i].disposition, &fd,
		    &start, &end);
		fn = part(mv, 1)->filename;
		if (g_strcmp0(fn, cases[i].want) != 0)
			fail_msg("case %zu (%s): got %s", i,
			    cases[i].disposition ? cases[i].disposition : "-",
			    fn ? fn : "(null)");
		mailview_free(mv);
		close(fd);
	}
}

/* A name of 200 "é" (400 bytes) is cut to 127 of them (254 bytes). */
static void
test_filename_length(void **state)
{
	GString		*d = g_string_new("attachment; filename*=UTF-8''");
	struct mailview	*mv;
	guint64		 start, end;
	GString		*want = g_string_new(NULL);
	guint		 i;
	int		 fd;

	(void)state;
	for (i = 0; i < 200; i++)
		g_string_append(d, "%C3%A9");
	g_string_append_c(d, '\n');
	for (i = 0; i < 127; i++)
		g_string_append(want, "\xc3\xa9");
	mv = one_part("application/pdf", d->str, &fd, &start, &end);
	assert_string_equal(part(mv, 1)->filename, want->str);
	mailview_free(mv);
	close(fd);
	g_string_free(d, TRUE);
	g_string_free(want, TRUE);
}

/* One golden test per file, named after it. */
#define GOLDEN(name)	{ "golden " name, test_golden, NULL, NULL, name }

/* Run every case with GMime initialised, and shut down for valgrind. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		GOLDEN("plain-ascii"),
		GOLDEN("qp-utf8"),
		GOLDEN("base64-latin1"),
		GOLDEN("rfc2047"),
		GOLDEN("alternative"),
		GOLDEN("mixed-attach"),
		GOLDEN("html-only"),
		GOLDEN("from-quoted"),
		GOLDEN("crlf"),
		GOLDEN("broken-encodings"),
		GOLDEN("truncated-multipart"),
		GOLDEN("attacker"),
		GOLDEN("received"),
		GOLDEN("nested"),
		GOLDEN("empty-parts"),
		GOLDEN("return-path"),
		cmocka_unit_test(test_golden_facts),
		cmocka_unit_test(test_attacker),
		cmocka_unit_test(test_subjects),
		cmocka_unit_test(test_empty_parts_and_charset),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_truncation_unquoted),
		cmocka_unit_test(test_download),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_parts_max),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_content_types),
		cmocka_unit_test(test_filenames),
		cmocka_unit_test(test_filename_length),
	};
	int	 rc;

	g_mime_init();
	rc = cmocka_run_group_tests_name("mailview", tests, NULL, NULL);
	g_mime_shutdown();
	return rc;
}
