/*
 * compose - check the send form and turn it into an RFC 5322/MIME message.
 *
 * GMime does the mail formats: address lists, RFC 2047 words, header
 * folding, quoted-printable, the Message-ID and the Date.  This file
 * decides what is acceptable.  GMime's address parser is lenient on
 * purpose (it reads "foo" as a mailbox without a domain and silently
 * skips "<>" or a stray ">"), and in 3.2.13 it leaks on some malformed
 * input.  So a list is cut into items here; each item must have the
 * shape of a mailbox before GMime parses it, on its own; any parser
 * warning is a refusal; and the addr-spec that SMTP will carry is
 * checked again, strictly, after parsing.
 */

#include <string.h>

#include <gmime/gmime.h>

#include "compose.h"
#include "smtp.h"

/* RFC 5322 2.1.1: a line is at most 998 octets, CRLF excluded. */
#define MIME_LINE_MAX		998

/* Right side of the Message-ID when the caller gives no usable one. */
#define ID_DOMAIN_FALLBACK	"labmail.invalid"

/* What the user reads next to a field. */
#define MSG_UTF8	"is not valid UTF-8"
#define MSG_MULTILINE	"must be a single line"
#define MSG_CONTROL	"contains a control character"
#define MSG_TOO_LONG	"is too long (at most " \
			    G_STRINGIFY(COMPOSE_LINE_FIELD_MAX) " bytes)"
#define MSG_FROM_NONE	"is required"
#define MSG_FROM_BAD	"is not an e-mail address"
#define MSG_FROM_MANY	"must be a single address"
#define MSG_TO_NONE	"needs at least one recipient"
#define MSG_LIST_BAD	"is not a list of e-mail addresses"
#define MSG_ADDR_LONG	"has an address longer than SMTP allows (at most " \
			    G_STRINGIFY(ADDR_LOCAL_MAX) " bytes before the @, " \
			    G_STRINGIFY(ADDR_PATH_MAX) " in all)"
#define MSG_RCPT_MANY	"has too many recipients (at most " \
			    G_STRINGIFY(COMPOSE_RCPT_MAX) " in To and Cc)"
#define MSG_BODY_LARGE	"is too large"
#define MSG_ENCODED	"holds \"=?\", which starts MIME encoding: type " \
			    "the text itself, labmail encodes it"
#define MSG_REENCODED	"has a name with an \"=\" that its MIME " \
			    "encoding would change: leave the \"=\" out"

/* RFC 5321 4.5.3.1: the longest local part and path (256 octets with
 * its angle brackets, so the domain is shorter than its own limit of
 * 255) that a server must accept. */
#define ADDR_LOCAL_MAX		64
#define ADDR_PATH_MAX		254
#define LABEL_MAX		63

struct compose_draft {
	const struct compose_form *form;	/* borrowed */
	InternetAddressList	*from, *to, *cc;
};

/* Initialise GMime once; main calls this before starting threads. */
void
compose_init(void)
{
	static gsize	 done;

	if (g_once_init_enter(&done)) {
		g_mime_init();
		g_once_init_leave(&done, 1);
	}
}

/* One field's text and length in octets; a NULL field is "". */
static const char *
form_text(const struct compose_form *form, enum compose_field field,
    gsize *len)
{
	const char	*s;

	switch (field) {
	case COMPOSE_FROM:
		s = form->from;
		break;
	case COMPOSE_TO:
		s = form->to;
		break;
	case COMPOSE_CC:
		s = form->cc;
		break;
	case COMPOSE_SUBJECT:
		s = form->subject;
		break;
	default:
		s = form->body;
		break;
	}
	if (s == NULL) {
		*len = 0;
		return "";
	}
	*len = strlen(s);
	return s;
}

/* TRUE if s has an ASCII control character other than TAB. */
static gboolean
has_control(const char *s, gsize len)
{
	gsize	 i;

	for (i = 0; i < len; i++)
		if (g_ascii_iscntrl(s[i]) && s[i] != '\t')
			return TRUE;
	return FALSE;
}

/* TRUE if s holds the "=?" that opens an RFC 2047 encoded word; in an
 * address field (quoted), also as "=\?" in a quoted string, where the
 * backslash only quotes the "?" and GMime decodes the word all the
 * same.  A subject has no quoting: its "=\?" is text. */
static gboolean
has_encoded_word(const char *s, gsize len, gboolean quoted)
{
	gsize	 i, j;

	for (i = 0; i < len; i++) {
		if (s[i] != '=')
			continue;
		for (j = i + 1; quoted && j < len && s[j] == '\\'; j++)
			;
		if (j < len && s[j] == '?')
			return TRUE;
	}
	return FALSE;
}

/*
 * Octet-level checks of one field.  A CR or LF in a header field is
 * refused, never stripped: it would let the sender add headers of their
 * own (header injection) or, through the envelope, SMTP commands (SMTP
 * command injection).  Other control characters have no place in a
 * header either.  Nor has an RFC 2047 word typed by hand: GMime passes
 * it through and the reader decodes it, to a CR LF or, in Latin-1, a
 * NUL that would cut any check of the decoded text short; and a "=?"
 * alone can be closed by the "?=" of a word GMime adds after it, then
 * read across the space by a lenient decoder (GMime's own).  labmail
 * writes the words itself, from the text as typed.
 */
static const char *
check_text(enum compose_field field, const char *s, gsize len)
{
	if (!g_utf8_validate_len(s, len, NULL))
		return MSG_UTF8;
	if (field == COMPOSE_BODY)
		return NULL;
	if (memchr(s, '\r', len) != NULL || memchr(s, '\n', len) != NULL)
		return MSG_MULTILINE;
	if (has_control(s, len))
		return MSG_CONTROL;
	if (len > COMPOSE_LINE_FIELD_MAX)
		return MSG_TOO_LONG;
	if (has_encoded_word(s, len, field != COMPOSE_SUBJECT))
		return MSG_ENCODED;
	return NULL;
}

/* RFC 5322 3.2.3 atext, plus UTF-8 octets (RFC 6532 3.2). */
static gboolean
is_atext(char c)
{
	return g_ascii_isalnum(c) || (guchar)c >= 0x80 ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * A local part as a dot-atom: no quoted strings, spaces, brackets or
 * empty atoms, so that it goes into MAIL FROM:<...> and RCPT TO:<...>
 * without any quoting (RFC 5321 4.1.2).
 */
static gboolean
local_part_ok(const char *s, gsize len)
{
	gsize	 i;

	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return FALSE;
	for (i = 0; i < len; i++) {
		if (s[i] == '.' ? s[i + 1] == '.' : !is_atext(s[i]))
			return FALSE;
	}
	return TRUE;
}

/*
 * One label of a host name: letters, digits, inner hyphens, or UTF-8.
 * An ASCII label, the A-label of an IDN included, has at most 63
 * octets (RFC 1035 2.3.4); a UTF-8 one must have an A-label form,
 * which only_mailbox() checks.
 */
static gboolean
label_ok(const char *s, gsize len)
{
	gboolean	 ascii = TRUE;
	gsize		 i;

	if (len == 0 || s[0] == '-' || s[len - 1] == '-')
		return FALSE;
	for (i = 0; i < len; i++) {
		if ((guchar)s[i] >= 0x80)
			ascii = FALSE;
		else if (!g_ascii_isalnum(s[i]) && s[i] != '-')
			return FALSE;
	}
	return !ascii || len <= LABEL_MAX;
}

/* A domain: a host name, or an address literal "[...]" (RFC 5321 4.1.3). */
static gboolean
domain_ok(const char *s)
{
	const char	*dot;

	if (s[0] == '[')
		return smtp_address_literal_ok(s);
	while ((dot = strchr(s, '.')) != NULL) {
		if (!label_ok(s, dot - s))
			return FALSE;
		s = dot + 1;
	}
	return label_ok(s, strlen(s));
}

/* What is wrong with an item of an address field, if anything. */
enum item_fault {		/* in order of precedence */
	ITEM_OK,
	ITEM_TOO_LONG,		/* a mailbox, but SMTP's sizes forbid it */
	ITEM_BAD,		/* not a mailbox */
};

/* local@domain within RFC 5321's sizes, checked again after GMime's
 * lenient parser. */
static enum item_fault
addr_spec_fault(const char *addr)
{
	const char	*at;

	if (addr == NULL || (at = strchr(addr, '@')) == NULL ||
	    !local_part_ok(addr, at - addr) || !domain_ok(at + 1))
		return ITEM_BAD;
	if (at - addr > ADDR_LOCAL_MAX || strlen(addr) > ADDR_PATH_MAX)
		return ITEM_TOO_LONG;
	return ITEM_OK;
}

/* GMime reports what it skipped or guessed: flag the item as bad. */
static void
parse_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
    gpointer data)
{
	gboolean	*warned = data;

	(void)offset;
	(void)code;
	(void)item;
	*warned = TRUE;
}

/* Parser options as strict as GMime allows, reporting into *warned. */
static GMimeParserOptions *
strict_options(gboolean *warned)
{
	GMimeParserOptions	*options;

	options = g_mime_parser_options_new();
	g_mime_parser_options_set_address_compliance_mode(options,
	    GMIME_RFC_COMPLIANCE_STRICT);
	g_mime_parser_options_set_allow_addresses_without_domain(options,
	    FALSE);
	g_mime_parser_options_set_warning_callback(options, parse_warning,
	    warned);
	return options;
}

/*
 * Cut the first item off an address list: up to a comma outside quoted
 * strings and comments (RFC 5322 3.2.2, 3.2.4), so that "Vader, Darth"
 * <darth@starwars.univ> stays one item.  Returns its length and leaves
 * in skel its skeleton: the item with each quoted string turned into
 * '"', each comment into ' ', and a '\\' if one is left open.
 */
static gsize
item_skeleton(const char *s, gsize len, GString *skel)
{
	gsize		 i;
	int		 depth = 0;
	gboolean	 quoted = FALSE;

	g_string_truncate(skel, 0);
	for (i = 0; i < len; i++) {
		if ((quoted || depth > 0) && s[i] == '\\' && i + 1 < len)
			i++;
		else if (quoted)
			quoted = s[i] != '"';
		else if (s[i] == '(') {
			if (depth++ == 0)
				g_string_append_c(skel, ' ');
		} else if (depth > 0)
			depth -= s[i] == ')';
		else if (s[i] == '"') {
			quoted = TRUE;
			g_string_append_c(skel, '"');
		} else if (s[i] == ',')
			break;
		else
			g_string_append_c(skel, s[i]);
	}
	if (quoted || depth > 0)
		g_string_append_c(skel, '\\');
	return i;
}

/*
 * The shape of a mailbox, as a regex on the skeleton of an item:
 * "local@domain" or "phrase <local@domain>", the local part a dot-atom,
 * the domain dot-atoms or one [literal].
 */
#define RE_ATEXT	"-A-Za-z0-9!#$%&'*+/=?^_`{|}~\\x80-\\xff"
#define RE_ATOM		"[" RE_ATEXT "]+"
#define RE_DOT_ATOM	RE_ATOM "(?:\\." RE_ATOM ")*"
#define RE_ADDR_SPEC	RE_DOT_ATOM "@(?:" RE_DOT_ATOM "|\\[[!-Z^-~]+\\])"
/* One class, not a repeat of RE_ATOM's repeat: "(?:[a]+)*" would try
 * every way to cut a long run of atext before failing (backtracking
 * that costs tens of milliseconds a field). */
#define RE_PHRASE	"[" RE_ATEXT "\\s.\"]*"
#define RE_MAILBOX	"^\\s*(?:" RE_ADDR_SPEC "|" RE_PHRASE \
			    "<\\s*" RE_ADDR_SPEC "\\s*>)\\s*$"

/*
 * TRUE if the skeleton of an item has the shape of a mailbox.  Checked
 * before GMime sees the item: GMime 3.2.13 leaks memory on many
 * malformed items (a stray '>' or '[', an addr-spec before '<', junk in
 * a quoted string), and a user posting such lists in a loop would grow
 * the process without bound (memory exhaustion).
 */
static gboolean
shape_ok(const char *skel)
{
	static GRegex	*mailbox;

	if (g_once_init_enter(&mailbox))
		g_once_init_leave(&mailbox, g_regex_new(RE_MAILBOX,
		    G_REGEX_RAW | G_REGEX_OPTIMIZE, 0, NULL));
	return g_regex_match(mailbox, skel, 0, NULL);
}

/* Whether the one mailbox GMime found in list is a clean one; if so,
 * *mailbox gets it. */
static enum item_fault
only_mailbox(InternetAddressList *list, InternetAddress **mailbox)
{
	InternetAddress		*ia;
	InternetAddressMailbox	*box;
	const char		*name, *idn;
	enum item_fault		 fault;

	if (list == NULL || internet_address_list_length(list) != 1)
		return ITEM_BAD;
	ia = internet_address_list_get_address(list, 0);
	if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
		return ITEM_BAD;
	box = INTERNET_ADDRESS_MAILBOX(ia);
	/* The IDNA form goes into the envelope and the headers: its
	 * mapping turns full-width "＞", "＝" or an ideographic space in a
	 * domain into ASCII ones, which would add parameters to MAIL FROM
	 * or RCPT TO.  Check it as strictly as the address typed. */
	idn = internet_address_mailbox_get_idn_addr(box);
	fault = MAX(addr_spec_fault(internet_address_mailbox_get_addr(box)),
	    addr_spec_fault(idn));
	/* GMime leaves a domain that IDNA cannot convert (a label whose
	 * A-label would pass 63 octets, say) as it was typed. */
	if (fault == ITEM_OK && !g_str_is_ascii(strrchr(idn, '@')))
		fault = ITEM_BAD;
	/* GMime unquotes the name: nothing it yields may be a control. */
	name = internet_address_get_name(ia);
	if (name != NULL && has_control(name, strlen(name)))
		return ITEM_BAD;
	if (fault == ITEM_OK)
		*mailbox = ia;
	return fault;
}

/*
 * Parse one item of a list: blank, or exactly one mailbox that GMime
 * read without a warning.  Appends it to out (if not NULL) and counts
 * it in *n.
 */
static enum item_fault
parse_item(const char *s, gsize len, const char *skel,
    InternetAddressList *out, int *n)
{
	GMimeParserOptions	*options;
	InternetAddressList	*parsed;
	InternetAddress		*ia = NULL;
	char			*text;
	gboolean		 warned = FALSE;
	enum item_fault		 fault;

	text = g_strstrip(g_strndup(s, len));
	if (*text == '\0' || !shape_ok(skel)) {
		fault = *text == '\0' ? ITEM_OK : ITEM_BAD;
		g_free(text);
		return fault;
	}
	options = strict_options(&warned);
	parsed = internet_address_list_parse(options, text);
	fault = warned ? ITEM_BAD : only_mailbox(parsed, &ia);
	if (fault == ITEM_OK) {
		(*n)++;
		if (out != NULL) {
			/* UTF-8 words for non-ASCII names, never Latin-1. */
			internet_address_set_charset(ia, "utf-8");
			internet_address_list_append(out, parsed);
		}
	}
	if (parsed != NULL)
		g_object_unref(parsed);
	g_mime_parser_options_free(options);
	g_free(text);
	return fault;
}

/* The item s[0..len) without the blanks around it, as a span of the
 * field that begins at field. */
static struct compose_span
item_span(const char *field, const char *s, gsize len)
{
	struct compose_span	 span;

	while (len > 0 && g_ascii_isspace(*s)) {
		s++;
		len--;
	}
	while (len > 0 && g_ascii_isspace(s[len - 1]))
		len--;
	span.off = s - field;
	span.len = len;
	return span;
}

/*
 * Parse a comma-separated list of mailboxes, item by item so that
 * nothing GMime would skip goes unnoticed.  Empty items (a trailing
 * comma, ",,") are allowed.  Appends to out if not NULL; *n gets the
 * number of mailboxes.  At the first item that is not a mailbox, stops
 * and says what is wrong with it, and where it is in *bad.
 */
static enum item_fault
parse_mailboxes(const char *s, gsize len, InternetAddressList *out, int *n,
    struct compose_span *bad)
{
	GString		*skel;
	gsize		 off = 0, ilen;
	enum item_fault	 fault;

	*n = 0;
	skel = g_string_new(NULL);
	for (;;) {
		ilen = item_skeleton(s + off, len - off, skel);
		fault = parse_item(s + off, ilen, skel->str, out, n);
		if (fault != ITEM_OK)
			*bad = item_span(s, s + off, ilen);
		off += ilen;
		if (fault != ITEM_OK || off == len)
			break;
		off++;		/* the comma */
	}
	g_string_free(skel, TRUE);
	return fault;
}

/* Parse an address field into list; *n counts its mailboxes. */
static const char *
check_list(const struct compose_form *form, enum compose_field field,
    InternetAddressList *list, int *n, struct compose_span *bad)
{
	const char	*s;
	gsize		 len;
	enum item_fault	 fault;

	s = form_text(form, field, &len);
	if ((fault = parse_mailboxes(s, len, list, n, bad)) == ITEM_OK)
		return NULL;
	*n = 0;
	if (fault == ITEM_TOO_LONG)
		return MSG_ADDR_LONG;
	return field == COMPOSE_FROM ? MSG_FROM_BAD : MSG_LIST_BAD;
}

/* Address checks of From, To and Cc, for the fields whose text is
 * clean; the mailboxes go into the draft's lists. */
static void
check_addresses(struct compose_draft *d, struct compose_errors *errs)
{
	const char	**msg = errs->field;
	int		  n_from = 0, n_to = 0, n_cc = 0;

	if (msg[COMPOSE_FROM] == NULL) {
		msg[COMPOSE_FROM] = check_list(d->form, COMPOSE_FROM, d->from,
		    &n_from, &errs->item[COMPOSE_FROM]);
		if (msg[COMPOSE_FROM] == NULL && n_from != 1)
			msg[COMPOSE_FROM] = n_from == 0 ? MSG_FROM_NONE :
			    MSG_FROM_MANY;
	}
	if (msg[COMPOSE_TO] == NULL) {
		msg[COMPOSE_TO] = check_list(d->form, COMPOSE_TO, d->to,
		    &n_to, &errs->item[COMPOSE_TO]);
		if (msg[COMPOSE_TO] == NULL && n_to > COMPOSE_RCPT_MAX)
			msg[COMPOSE_TO] = MSG_RCPT_MANY;
	}
	/* Blame Cc for the excess only if To alone was within the limit. */
	if (msg[COMPOSE_CC] == NULL) {
		msg[COMPOSE_CC] = check_list(d->form, COMPOSE_CC, d->cc, &n_cc,
		    &errs->item[COMPOSE_CC]);
		if (msg[COMPOSE_CC] == NULL && n_to <= COMPOSE_RCPT_MAX &&
		    n_to + n_cc > COMPOSE_RCPT_MAX)
			msg[COMPOSE_CC] = MSG_RCPT_MANY;
	}
	/* RFC 5322 needs no To: a mail to Cc alone has its recipients. */
	if (msg[COMPOSE_TO] == NULL && msg[COMPOSE_CC] == NULL &&
	    n_to + n_cc == 0)
		msg[COMPOSE_TO] = MSG_TO_NONE;
}

/*
 * TRUE if a name of list holds an '=' that GMime would put inside an
 * RFC 2047 word of its own: its phrase encoder leaves a typed '=' as it
 * is there, so "Élodie=0D=0ABcc: ..." would decode to a CR LF.  Each
 * mailbox is written alone: another one's words must not count.
 */
static gboolean
name_equals_in_words(InternetAddressList *list)
{
	InternetAddress	*ia;
	const char	*name;
	char		*written;
	gboolean	 bad = FALSE;
	int		 i, n = internet_address_list_length(list);

	for (i = 0; i < n && !bad; i++) {
		ia = internet_address_list_get_address(list, i);
		name = internet_address_get_name(ia);
		if (name == NULL || strchr(name, '=') == NULL)
			continue;
		written = internet_address_to_string(ia, NULL, TRUE);
		bad = strstr(written, "=?") != NULL;
		g_free(written);
	}
	return bad;
}

/* What the text alone does not show: how GMime will write the names. */
static void
check_encoding(struct compose_draft *d, struct compose_errors *errs)
{
	const char	**msg = errs->field;

	if (msg[COMPOSE_FROM] == NULL && name_equals_in_words(d->from))
		msg[COMPOSE_FROM] = MSG_REENCODED;
	if (msg[COMPOSE_TO] == NULL && name_equals_in_words(d->to))
		msg[COMPOSE_TO] = MSG_REENCODED;
	if (msg[COMPOSE_CC] == NULL && name_equals_in_words(d->cc))
		msg[COMPOSE_CC] = MSG_REENCODED;
}

void
compose_draft_free(struct compose_draft *d)
{
	if (d == NULL)
		return;
	g_object_unref(d->from);
	g_object_unref(d->to);
	g_object_unref(d->cc);
	g_free(d);
}

/* Check every field; see compose.h. */
struct compose_draft *
compose_check(const struct compose_form *form, gsize body_max,
    struct compose_errors *errs)
{
	struct compose_draft	*d = g_new0(struct compose_draft, 1);
	const char		*s;
	gsize			 len;
	int			 f;

	d->form = form;
	d->from = internet_address_list_new();
	d->to = internet_address_list_new();
	d->cc = internet_address_list_new();
	memset(errs, 0, sizeof(*errs));
	for (f = 0; f < COMPOSE_N_FIELDS; f++) {
		s = form_text(form, f, &len);
		if (f == COMPOSE_BODY && len > body_max) {
			errs->too_large = TRUE;
			errs->field[f] = MSG_BODY_LARGE;
		} else
			errs->field[f] = check_text(f, s, len);
	}
	check_addresses(d, errs);
	check_encoding(d, errs);

	for (f = 0; f < COMPOSE_N_FIELDS; f++)
		if (errs->field[f] != NULL) {
			compose_draft_free(d);
			return NULL;
		}
	return d;
}

/*
 * The body with CRLF and lone CR turned into LF, as GMime wants it; it
 * writes CRLF itself.  A lone CR left in would reach the server as a
 * bare CR, which RFC 5321 2.3.8 forbids and which some servers read as
 * a line end (the "SMTP smuggling" family of attacks).
 */
static GString *
body_lf(const char *s, gsize len)
{
	GString		*text;
	gsize		 i;

	text = g_string_sized_new(len);
	for (i = 0; i < len; i++) {
		if (s[i] != '\r')
			g_string_append_c(text, s[i]);
		else if (i + 1 == len || s[i + 1] != '\n')
			g_string_append_c(text, '\n');
	}
	return text;
}

/* Length in octets of the longest line of an LF-separated text. */
static gsize
longest_line(const char *s, gsize len)
{
	const char	*nl, *end = s + len;
	gsize		 longest = 0;

	while ((nl = memchr(s, '\n', end - s)) != NULL) {
		longest = MAX(longest, (gsize)(nl - s));
		s = nl + 1;
	}
	return MAX(longest, (gsize)(end - s));
}

/*
 * Content-Transfer-Encoding of the body (RFC 2045 6): 7bit for ASCII in
 * short lines; 8bit for UTF-8 in short lines when the server offers
 * 8BITMIME (RFC 6152); quoted-printable otherwise, which also breaks
 * lines too long for SMTP.
 */
static GMimeContentEncoding
body_encoding(const GString *text, gboolean eightbit_ok)
{
	if (longest_line(text->str, text->len) > MIME_LINE_MAX)
		return GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
	if (!g_mime_utils_text_is_8bit((const unsigned char *)text->str,
	    text->len))
		return GMIME_CONTENT_ENCODING_7BIT;
	return eightbit_ok ? GMIME_CONTENT_ENCODING_8BIT :
	    GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
}

/*
 * The text/plain part.  g_mime_text_part_set_text() is not used: it
 * converts the text to the "best" charset (Latin-1 for French), and
 * the contract is UTF-8 as typed.
 */
static GMimeObject *
body_part(const char *s, gsize len, gboolean eightbit_ok,
    gboolean *eightbit)
{
	GMimeTextPart		*part;
	GMimeStream		*stream;
	GMimeDataWrapper	*content;
	GMimeContentEncoding	 encoding;
	GString			*text;

	text = body_lf(s, len);
	encoding = body_encoding(text, eightbit_ok);
	*eightbit = encoding == GMIME_CONTENT_ENCODING_8BIT;

	part = g_mime_text_part_new();
	g_mime_text_part_set_charset(part, "utf-8");
	stream = g_mime_stream_mem_new_with_buffer(text->str, text->len);
	content = g_mime_data_wrapper_new_with_stream(stream,
	    GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(GMIME_PART(part), content);
	g_mime_part_set_content_encoding(GMIME_PART(part), encoding);

	g_object_unref(content);
	g_object_unref(stream);
	g_string_free(text, TRUE);
	return GMIME_OBJECT(part);
}

/* The Date header; GLib only knows years 1 to 9999, else use now. */
static void
set_date(GMimeMessage *msg, gint64 date)
{
	GDateTime	*dt;

	if ((dt = g_date_time_new_from_unix_utc(date)) == NULL)
		dt = g_date_time_new_now_utc();
	g_mime_message_set_date(msg, dt);
	g_date_time_unref(dt);
}

/*
 * The Message-ID.  GMime's own default right side is the host name,
 * which can be "vm.(none)", not a valid id; a config value that is not
 * a domain must not reach a header either.
 */
static void
set_message_id(GMimeMessage *msg, const char *id_domain)
{
	char	*id;

	if (id_domain == NULL || !domain_ok(id_domain))
		id_domain = ID_DOMAIN_FALLBACK;
	id = g_mime_utils_generate_message_id(id_domain);
	g_mime_message_set_message_id(msg, id);
	g_free(id);
}

/* Add mailboxes to a header of the message; none: no header at all
 * (appending even an empty list makes GMime write an empty one). */
static void
add_mailboxes(InternetAddressList *header, InternetAddressList *mailboxes)
{
	if (internet_address_list_length(mailboxes) > 0)
		internet_address_list_append(header, mailboxes);
}

/* The message, headers first, from a draft. */
static GMimeMessage *
build_message(const struct compose_draft *d,
    const struct compose_options *options, gboolean *eightbit)
{
	GMimeMessage	*msg;
	GMimeObject	*part;
	const char	*s;
	char		*subject;
	gsize		 len;

	msg = g_mime_message_new(TRUE);
	set_date(msg, options->date);
	set_message_id(msg, options->id_domain);
	add_mailboxes(g_mime_message_get_from(msg), d->from);
	add_mailboxes(g_mime_message_get_to(msg), d->to);
	add_mailboxes(g_mime_message_get_cc(msg), d->cc);

	s = form_text(d->form, COMPOSE_SUBJECT, &len);
	subject = g_strndup(s, len);
	g_mime_message_set_subject(msg, subject, "utf-8");
	g_free(subject);
	g_mime_object_set_header(GMIME_OBJECT(msg), "MIME-Version", "1.0",
	    NULL);

	s = form_text(d->form, COMPOSE_BODY, &len);
	part = body_part(s, len, options->eightbit, eightbit);
	g_mime_message_set_mime_part(msg, part);
	g_object_unref(part);
	return msg;
}

/* The message as text with CRLF line ends, as DATA sends it. */
static GBytes *
message_bytes(GMimeMessage *msg)
{
	GMimeFormatOptions	*format;
	GMimeStream		*stream;
	GByteArray		*array;

	format = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(format,
	    GMIME_NEWLINE_FORMAT_DOS);
	stream = g_mime_stream_mem_new();
	g_mime_object_write_to_stream(GMIME_OBJECT(msg), format, stream);

	array = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	g_object_unref(stream);
	g_mime_format_options_free(format);
	return g_byte_array_free_to_bytes(array);
}

/*
 * The envelope form of a mailbox: GMime's IDNA form, whose domain is in
 * A-labels, so only a non-ASCII local part needs SMTPUTF8 (RFC 6531).
 */
static const char *
envelope_addr(InternetAddressList *list, int i)
{
	InternetAddress	*ia;

	ia = internet_address_list_get_address(list, i);
	return internet_address_mailbox_get_idn_addr(
	    INTERNET_ADDRESS_MAILBOX(ia));
}

/* TRUE if a and b are the same mailbox: the same local part, and the
 * same domain in any case.  Only the server may say that a local part
 * does not care for case (RFC 5321 2.4). */
static gboolean
same_mailbox(const char *a, const char *b)
{
	const char	*at_a = strrchr(a, '@'), *at_b = strrchr(b, '@');

	return at_a - a == at_b - b && strncmp(a, b, at_a - a) == 0 &&
	    g_ascii_strcasecmp(at_a, at_b) == 0;
}

/* TRUE if rcpt already has addr. */
static gboolean
rcpt_has(const GPtrArray *rcpt, const char *addr)
{
	guint	 i;

	for (i = 0; i < rcpt->len; i++)
		if (same_mailbox(g_ptr_array_index(rcpt, i), addr))
			return TRUE;
	return FALSE;
}

/* Append the addresses of list to rcpt, in order, without repeats. */
static void
rcpt_add(GPtrArray *rcpt, InternetAddressList *list)
{
	const char	*addr;
	int		 i;

	for (i = 0; i < internet_address_list_length(list); i++) {
		addr = envelope_addr(list, i);
		if (!rcpt_has(rcpt, addr))
			g_ptr_array_add(rcpt, g_strdup(addr));
	}
}

/* MAIL FROM and RCPT TO, taken from the message's own headers. */
static void
set_envelope(struct compose_mail *mail, GMimeMessage *msg)
{
	guint	 i;

	mail->mail_from = g_strdup(envelope_addr(g_mime_message_get_from(msg),
	    0));
	mail->rcpt = g_ptr_array_new_with_free_func(g_free);
	rcpt_add(mail->rcpt, g_mime_message_get_to(msg));
	rcpt_add(mail->rcpt, g_mime_message_get_cc(msg));

	mail->smtputf8 = !g_str_is_ascii(mail->mail_from);
	for (i = 0; i < mail->rcpt->len; i++)
		if (!g_str_is_ascii(g_ptr_array_index(mail->rcpt, i)))
			mail->smtputf8 = TRUE;
}

/* Build the envelope and the message; see compose.h. */
struct compose_mail *
compose_build(const struct compose_draft *d,
    const struct compose_options *options)
{
	struct compose_mail	*mail = g_new0(struct compose_mail, 1);
	GMimeMessage		*msg;

	msg = build_message(d, options, &mail->eightbit);
	set_envelope(mail, msg);
	mail->message = message_bytes(msg);
	g_object_unref(msg);
	return mail;
}

/* Free a built mail and all it holds; NULL is fine. */
void
compose_mail_free(struct compose_mail *mail)
{
	if (mail == NULL)
		return;
	g_free(mail->mail_from);
	if (mail->rcpt != NULL)
		g_ptr_array_unref(mail->rcpt);
	if (mail->message != NULL)
		g_bytes_unref(mail->message);
	g_free(mail);
}
