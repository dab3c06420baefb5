/*
 * fuzz_smtp - the pure helpers of smtp.h, which read what a server
 * sends (reply lines, EHLO keywords, the final reply) and write the
 * message on the wire.
 *
 * The first byte chooses, as (byte - '0') % 4, so that a seed starts
 * with a digit; the rest is the helper's input:
 *  0	smtp_reply_parse_line();
 *  1	smtp_caps_parse_line();
 *  2	smtp_queue_id_from_reply(), on the rest and on replies made
 *	around it;
 *  3	smtp_dot_stuff(), on the exact bytes (NULs included).
 *
 * Promises checked:
 *  - a reply line parses only as "DDD-", "DDD " or a bare "DDD": the
 *    code is those digits, in 200..599, last is FALSE for '-' only,
 *    text points into the line just after the separator; a line of
 *    RFC 5321's reply-code grammar always parses;
 *  - an EHLO line sets at most the one flag its keyword names (never
 *    esmtp, which is not a keyword) and clears none; "8BITMIME" and
 *    the like set theirs; size_max changes only with has_size, "SIZE"
 *    alone gives 0 and "SIZE n" gives n; no limit is made up from a
 *    SIZE that cannot be read;
 *  - a queue id is a non-empty [A-Za-z0-9]+ that follows "queued as"
 *    (any case) and spaces in the reply, whole; none without "queued
 *    as"; "... queued as ID" gives ID back;
 *  - dot-stuffing appends to out; its output ends with CRLF "." CRLF
 *    (just "." CRLF for an empty message); every line end is CRLF, no
 *    bare CR or LF; no line but the last is "."; removing the final
 *    ".", one leading dot of each line and turning CRLF into LF gives
 *    back the message with each CRLF, CR or LF as LF, and a LF at its
 *    end unless it is empty.
 */
#include <string.h>

#include "fuzz.h"
#include "smtp.h"

/* What smtp_dot_stuff() must leave in out before its own bytes. */
#define STUFF_PREFIX	"354 go ahead\r\n"

/* RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39 */
static gboolean
is_reply_code(const char *s)
{
	return s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '5' &&
	    s[2] >= '0' && s[2] <= '9';
}

static void
fuzz_reply_line(const char *line)
{
	const char	*text = NULL;
	gboolean	 last = -1, ok;
	int		 code = -1;

	ok = smtp_reply_parse_line(line, &code, &last, &text);
	if (is_reply_code(line) && (line[3] == '\0' || line[3] == ' ' ||
	    line[3] == '-'))
		g_assert_true(ok);
	if (!ok)
		return;
	g_assert_cmpint(code, >=, 200);
	g_assert_cmpint(code, <=, 599);
	g_assert(g_ascii_isdigit(line[0]) && g_ascii_isdigit(line[1]) &&
	    g_ascii_isdigit(line[2]));
	g_assert_cmpint(code, ==, (line[0] - '0') * 100 +
	    (line[1] - '0') * 10 + (line[2] - '0'));
	/* text is in the line, its NUL included, after the separator. */
	g_assert(text >= line + 3 && text <= line + strlen(line));
	switch (line[3]) {
	case '\0':
		g_assert_true(last);
		g_assert(*text == '\0');
		break;
	case ' ':
		g_assert_true(last);
		g_assert(text == line + 4);
		break;
	case '-':
		g_assert_false(last);
		g_assert(text == line + 4);
		break;
	default:
		g_assert_not_reached();
	}
}

/* The flags of caps, in one order, for comparing two. */
static void
caps_flags(const struct smtp_caps *caps, gboolean flags[5])
{
	flags[0] = caps->eightbitmime;
	flags[1] = caps->smtputf8;
	flags[2] = caps->pipelining;
	flags[3] = caps->starttls;
	flags[4] = caps->has_size;
}

/* s as a number of octets if it is only digits and fits, else FALSE. */
static gboolean
size_value(const char *s, guint64 *v)
{
	const char	*p;

	for (p = s; *p != '\0'; p++)
		if (!g_ascii_isdigit(*p))
			return FALSE;
	return *s != '\0' &&
	    g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT64, v, NULL);
}

static void
fuzz_caps_line(const char *text)
{
	static const char *const names[5] = { "8BITMIME", "SMTPUTF8",
	    "PIPELINING", "STARTTLS", "SIZE" };
	struct smtp_caps	 caps, full;
	gboolean		 flags[5];
	char			*keyword = g_strndup(text, strcspn(text, " "));
	const char		*arg = text + strlen(keyword);
	guint64			 size;
	int			 i, set = 0;

	while (*arg == ' ')
		arg++;
	memset(&caps, 0, sizeof(caps));
	smtp_caps_parse_line(&caps, text);
	g_assert_false(caps.esmtp);
	if (!caps.has_size)
		g_assert_cmpuint(caps.size_max, ==, 0);
	caps_flags(&caps, flags);
	for (i = 0; i < 5; i++) {
		/* A flag is set by its keyword, and its keyword sets it
		 * (SIZE: when its argument can be read). */
		if (flags[i]) {
			g_assert_cmpint(g_ascii_strcasecmp(keyword, names[i]),
			    ==, 0);
			set++;
		} else if (i < 4)
			g_assert_cmpint(g_ascii_strcasecmp(keyword, names[i]),
			    !=, 0);
	}
	g_assert_cmpint(set, <=, 1);
	if (g_ascii_strcasecmp(keyword, "SIZE") == 0) {
		if (*arg == '\0') {
			g_assert_true(caps.has_size);
			g_assert_cmpuint(caps.size_max, ==, 0);
		} else if (size_value(arg, &size)) {
			g_assert_true(caps.has_size);
			g_assert_cmpuint(caps.size_max, ==, size);
		} else
			/* Not read: no limit may be made up. */
			g_assert_cmpuint(caps.size_max, ==, 0);
	}

	/* On caps that hold everything, nothing is cleared. */
	memset(&full, 0, sizeof(full));
	full.esmtp = full.eightbitmime = full.smtputf8 = full.pipelining =
	    full.starttls = full.has_size = TRUE;
	full.size_max = 42;
	smtp_caps_parse_line(&full, text);
	caps_flags(&full, flags);
	for (i = 0; i < 5; i++)
		g_assert_true(flags[i]);
	g_assert_true(full.esmtp);
	if (!caps.has_size)
		g_assert_cmpuint(full.size_max, ==, 42);
	else
		g_assert_cmpuint(full.size_max, ==, caps.size_max);
	g_free(keyword);
}

/* Whether id follows a "queued as" of text, after spaces, whole. */
static gboolean
follows_queued_as(const char *text, const char *id)
{
	char		*lower = g_ascii_strdown(text, -1);
	const char	*p = lower, *q;
	gboolean	 found = FALSE;

	while (!found && (p = strstr(p, "queued as")) != NULL) {
		for (q = p + 9; *q == ' '; q++)
			;
		/* Compared in text: the id keeps its case. */
		q = text + (q - lower);
		found = strncmp(q, id, strlen(id)) == 0 &&
		    !g_ascii_isalnum(q[strlen(id)]);
		p++;
	}
	g_free(lower);
	return found;
}

static gboolean
holds_queued_as(const char *text)
{
	char		*lower = g_ascii_strdown(text, -1);
	gboolean	 holds = strstr(lower, "queued as") != NULL;

	g_free(lower);
	return holds;
}

/* A reply made around id must give id back. */
static void
check_made_reply(const char *before, const char *id, const char *after)
{
	char	*reply = g_strconcat(before, id, after, NULL);
	char	*got = smtp_queue_id_from_reply(reply);

	if (*id == '\0')
		g_assert_null(got);
	else
		g_assert_cmpstr(got, ==, id);
	g_free(got);
	g_free(reply);
}

static void
fuzz_queue_id(const char *text)
{
	char		*id = smtp_queue_id_from_reply(text), *alnum;
	const char	*p;
	GString		*s;

	if (id != NULL) {
		g_assert_cmpstr(id, !=, "");
		for (p = id; *p != '\0'; p++)
			g_assert(g_ascii_isalnum(*p));
		g_assert_true(follows_queued_as(text, id));
	}
	if (!holds_queued_as(text))
		g_assert_null(id);
	g_free(id);

	/* The input's letters and digits as the id of a real reply. */
	s = g_string_new(NULL);
	for (p = text; *p != '\0' && s->len < 64; p++)
		if (g_ascii_isalnum(*p))
			g_string_append_c(s, *p);
	alnum = g_string_free(s, FALSE);
	check_made_reply("250 2.0.0 Ok: queued as ", alnum, "");
	check_made_reply("250 2.0.0 Ok: QUEUED AS   ", alnum, " (size 42)");
	check_made_reply("250-first line\n250 Queued As ", alnum, "\r");
	g_free(alnum);
}

/* The message with every CRLF, CR or LF as LF, and a LF at its end. */
static GString *
lf_message(const char *data, gsize len)
{
	GString	*out = g_string_sized_new(len + 1);
	gsize	 i;

	for (i = 0; i < len; i++) {
		if (data[i] == '\r') {
			g_string_append_c(out, '\n');
			if (i + 1 < len && data[i + 1] == '\n')
				i++;
		} else
			g_string_append_c(out, data[i]);
	}
	if (out->len > 0 && out->str[out->len - 1] != '\n')
		g_string_append_c(out, '\n');
	return out;
}

/* Undo the stuffing of w (ending in CRLF "." CRLF, checked): LF lines. */
static GString *
unstuff(const char *w, gsize len)
{
	GString		*out = g_string_sized_new(len);
	const char	*p = w, *end = w + len - 3, *eol;

	while (p < end) {
		eol = memmem(p, end - p, "\r\n", 2);
		g_assert_nonnull(eol);
		if (*p == '.')
			p++;
		g_string_append_len(out, p, eol - p);
		g_string_append_c(out, '\n');
		p = eol + 2;
	}
	return out;
}

static void
fuzz_dot_stuff(const char *data, gsize len)
{
	GString		*out = g_string_new(STUFF_PREFIX), *back, *want;
	const char	*w, *p, *eol;
	gsize		 wlen, i;

	smtp_dot_stuff(out, data, len);
	g_assert(memcmp(out->str, STUFF_PREFIX, strlen(STUFF_PREFIX)) == 0);
	w = out->str + strlen(STUFF_PREFIX);
	wlen = out->len - strlen(STUFF_PREFIX);

	/* An empty message is the "." alone: the CRLF before it is the
	 * one that ended the DATA reply. */
	if (len == 0)
		g_assert(wlen == 3 && memcmp(w, ".\r\n", 3) == 0);
	else
		g_assert(wlen >= 5 && memcmp(w + wlen - 5, "\r\n.\r\n", 5) == 0);
	for (i = 0; i < wlen; i++) {
		if (w[i] == '\r')
			g_assert(i + 1 < wlen && w[i + 1] == '\n');
		if (w[i] == '\n')
			g_assert(i > 0 && w[i - 1] == '\r');
	}
	/* Only the last line is a lone ".": it ends the message. */
	for (p = w; p < w + wlen - 3; p = eol + 2) {
		eol = memmem(p, w + wlen - p, "\r\n", 2);
		g_assert_nonnull(eol);
		g_assert(!(eol - p == 1 && *p == '.'));
	}

	back = unstuff(w, wlen);
	want = lf_message(data, len);
	g_assert_cmpuint(back->len, ==, want->len);
	g_assert(memcmp(back->str, want->str, want->len) == 0);
	g_string_free(back, TRUE);
	g_string_free(want, TRUE);
	g_string_free(out, TRUE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*text;

	if (size == 0)
		return 0;
	/* A C string for those that take one; up to a NUL, as a line
	 * read from a server would be cut. */
	text = g_strndup((const char *)data + 1, size - 1);
	switch (fuzz_selector(data[0], 4)) {
	case 0:
		fuzz_reply_line(text);
		break;
	case 1:
		fuzz_caps_line(text);
		break;
	case 2:
		fuzz_queue_id(text);
		break;
	default:
		fuzz_dot_stuff((const char *)data + 1, size - 1);
		break;
	}
	g_free(text);
	return 0;
}
