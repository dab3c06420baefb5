/*
 * fuzz_compose - the send form: compose_check(), then compose_build().
 *
 * Input: one byte of options (bit 0: the server offers 8BITMIME), then
 * the fields from, to, cc, subject and body, separated by NUL bytes (a
 * field cannot hold one: the front end refuses it).
 *
 * Promises checked (compose.h): compose_check() gives a draft exactly
 * when it refuses no field, and a draft always builds.  An item named
 * in an error belongs to a refused field, lies inside its text, is valid
 * UTF-8 and has no blanks around it.  The message has CRLF line ends only and no line over 998 octets; its header holds each of
 * Date, From, To, Cc, Subject, Message-Id, MIME-Version, Content-Type
 * and Content-Transfer-Encoding at most once and no other field, so no
 * field of the form can add a header (header injection).  The envelope
 * has 1 to COMPOSE_RCPT_MAX recipients, no repeats, and no address can
 * carry a CR, LF, space or angle bracket into MAIL FROM or RCPT TO.
 * Without 8BITMIME and SMTPUTF8 the message is 7-bit ASCII, and its body
 * goes 8bit only when the server offers 8BITMIME.
 */
#include <string.h>

#include "compose.h"
#include "fuzz.h"

#define LINE_MAX_OCTETS	998

static const char *const header_names[] = {
	"Date", "From", "To", "Cc", "Subject", "Message-Id", "MIME-Version",
	"Content-Type", "Content-Transfer-Encoding",
};

/* Split the input into the form's fields; missing ones are "". */
static char **
split_fields(const uint8_t *data, size_t size, struct compose_form *f)
{
	GPtrArray	 *parts = g_ptr_array_new();
	char		**fields;
	size_t		  start = 0, i;

	for (i = 0; i <= size; i++)
		if (i == size || data[i] == '\0') {
			g_ptr_array_add(parts, g_strndup((const char *)data +
			    start, i - start));
			start = i + 1;
		}
	while (parts->len < COMPOSE_N_FIELDS)
		g_ptr_array_add(parts, g_strdup(""));
	g_ptr_array_add(parts, NULL);
	fields = (char **)g_ptr_array_free(parts, FALSE);
	f->from = fields[COMPOSE_FROM];
	f->to = fields[COMPOSE_TO];
	f->cc = fields[COMPOSE_CC];
	f->subject = fields[COMPOSE_SUBJECT];
	f->body = fields[COMPOSE_BODY];
	return fields;
}

/* Every line ends with CRLF, none is longer than RFC 5322 allows. */
static void
check_lines(const char *msg, gsize len)
{
	gsize	start = 0, i;

	g_assert(len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n');
	for (i = 0; i < len; i++) {
		if (msg[i] == '\r')
			g_assert(i + 1 < len && msg[i + 1] == '\n');
		if (msg[i] != '\n')
			continue;
		g_assert(i > 0 && msg[i - 1] == '\r');
		g_assert_cmpuint(i - 1 - start, <=, LINE_MAX_OCTETS);
		start = i + 1;
	}
}

/* The header holds known fields only, each at most once. */
static void
check_header(const char *msg, gsize len)
{
	guint		 seen[G_N_ELEMENTS(header_names)] = { 0 };
	const char	*p = msg, *end = msg + len, *eol, *colon;
	gsize		 i;

	while (p < end && (eol = memchr(p, '\n', end - p)) != NULL) {
		if (eol == p + 1)		/* the blank line: body next */
			return;
		if (*p != ' ' && *p != '\t') {	/* not a folded line */
			colon = memchr(p, ':', eol - p);
			g_assert(colon != NULL);
			for (i = 0; i < G_N_ELEMENTS(header_names); i++)
				if ((gsize)(colon - p) ==
				    strlen(header_names[i]) &&
				    g_ascii_strncasecmp(p, header_names[i],
				    colon - p) == 0)
					break;
			g_assert(i < G_N_ELEMENTS(header_names));
			g_assert(++seen[i] == 1);
		}
		p = eol + 1;
	}
	g_assert_not_reached();		/* no end of header */
}

/* An address that can go into MAIL FROM:<...> or RCPT TO:<...>. */
static void
check_envelope_addr(const char *addr)
{
	g_assert(strpbrk(addr, "\r\n <>") == NULL);
}

static void
check_mail(const struct compose_mail *m, const struct compose_options *o)
{
	const char	*msg;
	gsize		 len, i;

	msg = g_bytes_get_data(m->message, &len);
	g_assert(memchr(msg, '\0', len) == NULL);
	check_lines(msg, len);
	check_header(msg, len);
	check_envelope_addr(m->mail_from);
	g_assert_cmpuint(m->rcpt->len, >=, 1);
	g_assert_cmpuint(m->rcpt->len, <=, COMPOSE_RCPT_MAX);
	for (i = 0; i < m->rcpt->len; i++) {
		check_envelope_addr(m->rcpt->pdata[i]);
		if (i > 0)
			g_assert(g_ascii_strcasecmp(m->rcpt->pdata[i],
			    m->rcpt->pdata[i - 1]) != 0);
	}
	if (m->eightbit)
		g_assert(o->eightbit);
	if (!o->eightbit && !m->smtputf8)
		for (i = 0; i < len; i++)
			g_assert((unsigned char)msg[i] < 0x80);
}

/* The item that errs names in field f, if any, is a fair part of text. */
static void
check_item(const struct compose_errors *errs, int f, const char *text)
{
	const struct compose_span	*item = &errs->item[f];

	if (item->len == 0)
		return;
	g_assert_nonnull(errs->field[f]);
	g_assert_cmpuint(item->off + item->len, <=, strlen(text));
	g_assert(g_utf8_validate_len(text + item->off, item->len, NULL));
	g_assert(!g_ascii_isspace(text[item->off]));
	g_assert(!g_ascii_isspace(text[item->off + item->len - 1]));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct compose_form	 form;
	struct compose_errors	 errs;
	struct compose_options	 opts = { .id_domain = "mail181.com",
				    .date = 1700000000 };
	struct compose_draft	*draft;
	struct compose_mail	*mail;
	char			**fields;
	int			 f, refused = 0;

	if (size == 0)
		return 0;
	opts.eightbit = (data[0] & 1) != 0;
	fields = split_fields(data + 1, size - 1, &form);
	draft = compose_check(&form, G_MAXSIZE, &errs);
	for (f = 0; f < COMPOSE_N_FIELDS; f++) {
		refused += errs.field[f] != NULL;
		check_item(&errs, f, fields[f]);
	}
	/* A draft exactly when no field is refused. */
	g_assert((draft != NULL) == (refused == 0));
	if (draft != NULL) {
		mail = compose_build(draft, &opts);
		check_mail(mail, &opts);
		compose_mail_free(mail);
		compose_draft_free(draft);
	}
	g_strfreev(fields);
	return 0;
}
