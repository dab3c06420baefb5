/*
 * test_compose - unit tests of the compose module.
 *
 * compose_check() is driven by a table: one field of a good form is
 * replaced and the message for that field (or none) is asserted.
 * compose_build() output is parsed back with GMime and compared with
 * what was typed, and its wire form is checked octet by octet: CRLF
 * only, no line over 998 octets.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>
#include <gmime/gmime.h>

#include "compose.h"
#include "spool.h"

#define TEST_DATE	1700000000	/* Tue, 14 Nov 2023 22:13:20 UTC */
#define TEST_ID_DOMAIN	"lab181.example"
#define BODY_MAX	(64 * 1024)

/* The messages of compose.c, as the user reads them. */
#define M_UTF8		"is not valid UTF-8"
#define M_LINE		"must be a single line"
#define M_CNTRL		"contains a control character"
#define M_LONG		"is too long (at most 998 bytes)"
#define M_FROM_NONE	"is required"
#define M_FROM_BAD	"is not an e-mail address"
#define M_FROM_MANY	"must be a single address"
#define M_TO_NONE	"needs at least one recipient"
#define M_LIST_BAD	"is not a list of e-mail addresses"
#define M_ADDR_LONG	"has an address longer than SMTP allows (at most " \
			    "64 bytes before the @, 254 in all)"
#define M_RCPT_MANY	"has too many recipients (at most 50 in To and Cc)"
#define M_LARGE		"is too large"
#define M_ENCODED	"holds \"=?\", which starts MIME encoding: type " \
			    "the text itself, labmail encodes it"
#define M_REENCODED	"has a name with an \"=\" that its MIME " \
			    "encoding would change: leave the \"=\" out"

/* Parts of addresses at RFC 5321's size limits. */
#define S16		"abcdefghijklmnop"
#define LOCAL64		S16 S16 S16 S16
#define LABEL60		S16 S16 S16 "abcdefghijkl"
#define LABEL63		LABEL60 "xyz"
#define DOMAIN252	LABEL63 "." LABEL63 "." LABEL63 "." LABEL60
#define E10		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9" \
			    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
/* Full-width ">", "=", "@" and an ideographic space, which the IDNA
 * mapping turns into ASCII ">", "=", "@" and a space. */
#define FW_GT		"\xef\xbc\x9e"
#define FW_EQ		"\xef\xbc\x9d"
#define FW_AT		"\xef\xbc\xa0"
#define IDEO_SP		"\xe3\x80\x80"

#define SUBJECT_FR	"Été à Paris — ça marche ✓"

/* A form that passes; each case changes one field of it. */
static const struct compose_form good_form = {
	.from = "darth@starwars.univ",
	.to = "luke@rebels.univ",
	.subject = "hi",
	.body = "hello\n",
};

/* compose_check() as yes or no, the draft freed. */
static gboolean
check(const struct compose_form *form, gsize body_max,
    struct compose_errors *errs)
{
	struct compose_draft	*draft = compose_check(form, body_max, errs);
	gboolean		 ok = draft != NULL;

	compose_draft_free(draft);
	return ok;
}

/* One field of good_form replaced, and what compose_check says. */
struct field_case {
	enum compose_field	 field;
	const char		*value;
	const char		*want;	/* NULL: accepted */
};

static const struct field_case field_cases[] = {
	/* From: the forms a user types. */
	{ COMPOSE_FROM, "darth@starwars.univ", NULL },
	{ COMPOSE_FROM, "Darth Vader <darth@starwars.univ>", NULL },
	{ COMPOSE_FROM, "\"Vader, Darth\" <darth@starwars.univ>", NULL },
	{ COMPOSE_FROM, "Élodie <e@mail181.com>", NULL },
	{ COMPOSE_FROM, "  darth@starwars.univ\t", NULL },
	{ COMPOSE_FROM, "root@localhost", NULL },
	{ COMPOSE_FROM, "a.b+lab@[192.168.0.81]", NULL },
	{ COMPOSE_FROM, "élodie@mail181.com", NULL },
	{ COMPOSE_FROM, "darth@starwars.univ (Lord Vader)", NULL },
	{ COMPOSE_FROM, "darth@starwars.univ.", M_FROM_BAD },
	{ COMPOSE_FROM, LOCAL64 "@starwars.univ", NULL },
	{ COMPOSE_FROM, "a@" DOMAIN252, NULL },		/* path: 254 */
	/* From: what must be refused. */
	{ COMPOSE_FROM, NULL, M_FROM_NONE },
	{ COMPOSE_FROM, "", M_FROM_NONE },
	{ COMPOSE_FROM, "   ", M_FROM_NONE },
	{ COMPOSE_FROM, "darth", M_FROM_BAD },
	{ COMPOSE_FROM, "Darth Vader", M_FROM_BAD },
	{ COMPOSE_FROM, "darth@", M_FROM_BAD },
	{ COMPOSE_FROM, "@starwars.univ", M_FROM_BAD },
	{ COMPOSE_FROM, "a@@starwars.univ", M_FROM_BAD },
	{ COMPOSE_FROM, "a b@starwars.univ", M_FROM_BAD },
	{ COMPOSE_FROM, "\"a b\"@starwars.univ", M_FROM_BAD },
	{ COMPOSE_FROM, "\"<x\"@starwars.univ", M_FROM_BAD },
	{ COMPOSE_FROM, ".a@starwars.univ", M_FROM_BAD },
	{ COMPOSE_FROM, "a..b@starwars.univ", M_FROM_BAD },
	{ COMPOSE_FROM, "a@-starwars.univ", M_FROM_BAD },
	{ COMPOSE_FROM, "a@starwars..univ", M_FROM_BAD },
	{ COMPOSE_FROM, "a@star_wars.univ", M_FROM_BAD },
	{ COMPOSE_FROM, "a@[]", M_FROM_BAD },
	{ COMPOSE_FROM, "a@[1.2.3.4", M_FROM_BAD },
	{ COMPOSE_FROM, "<>", M_FROM_BAD },
	{ COMPOSE_FROM, "Darth <>", M_FROM_BAD },
	{ COMPOSE_FROM, "()", M_FROM_BAD },
	{ COMPOSE_FROM, "<darth@starwars.univ", M_FROM_BAD },
	{ COMPOSE_FROM, "darth@starwars.univ>", M_FROM_BAD },
	{ COMPOSE_FROM, "<<darth@starwars.univ>", M_FROM_BAD },
	{ COMPOSE_FROM, "x <darth@starwars.univ> y", M_FROM_BAD },
	{ COMPOSE_FROM, "darth@starwars.univ <luke@rebels.univ>",
	    M_FROM_BAD },
	{ COMPOSE_FROM, "sith: darth@starwars.univ;", M_FROM_BAD },
	{ COMPOSE_FROM, "darth@starwars.univ; luke@rebels.univ",
	    M_FROM_BAD },
	{ COMPOSE_FROM, LOCAL64 "x@starwars.univ", M_ADDR_LONG },
	{ COMPOSE_FROM, "ab@" DOMAIN252, M_ADDR_LONG },	/* path: 255 */
	{ COMPOSE_FROM, "a@" LABEL63 "x.univ", M_FROM_BAD },	/* label: 64 */
	/* 60 "é": its A-label would be 66 octets, so IDNA cannot make it. */
	{ COMPOSE_FROM, "a@" E10 E10 E10 E10 E10 E10 ".com", M_FROM_BAD },
	{ COMPOSE_FROM, "a@" E10 E10 E10 ".com", NULL },	/* 30: fine */
	{ COMPOSE_FROM, "a@[192.0.2.1]", NULL },
	{ COMPOSE_FROM, "a@[IPv6:2001:db8::1]", NULL },
	{ COMPOSE_FROM, "a@[1>2]", M_FROM_BAD },
	{ COMPOSE_FROM, "a@[\"\"]", M_FROM_BAD },
	{ COMPOSE_FROM, "a@[192.0.2.256]", M_FROM_BAD },
	{ COMPOSE_FROM, "a@[IPv6:2001:db8::g]", M_FROM_BAD },
	{ COMPOSE_FROM, "a@[x-tag:anything]", M_FROM_BAD },
	{ COMPOSE_FROM, "Darth <" LOCAL64 "x@starwars.univ>", M_ADDR_LONG },
	{ COMPOSE_FROM, LOCAL64 "x@starwars..univ", M_FROM_BAD },
	{ COMPOSE_FROM, "a@b.c" FW_GT IDEO_SP "RET" FW_EQ "FULL", M_FROM_BAD },
	{ COMPOSE_FROM, "=?utf-8?q?=C3=89lodie?= <e@mail181.com>",
	    M_ENCODED },
	{ COMPOSE_FROM, "=?utf-8?q?Evil=0D=0AX-Bad=3A_1?= <d@starwars.univ>",
	    M_ENCODED },			/* the name decodes to CR LF */
	{ COMPOSE_FROM, "=?iso-8859-1?q?Bob=00=0D=0AX?= <a@b.c>",
	    M_ENCODED },			/* a NUL, then CR LF */
	/* GMime's phrase encoder would keep these '=' in its words. */
	{ COMPOSE_FROM, "\xc3\x89lodie=0D=0ABcc=3A_victim=40x.com "
	    "<d@starwars.univ>", M_REENCODED },
	{ COMPOSE_FROM, "\xc3\x89lodie = chef <e@mail181.com>", M_REENCODED },
	{ COMPOSE_FROM, "a=b <d@starwars.univ>", NULL },	/* not encoded */
	{ COMPOSE_FROM, ".\"Vader, Darth\" <darth@starwars.univ>",
	    M_FROM_BAD },
	{ COMPOSE_FROM, "=?ut f-8?q?x?= <darth@starwars.univ>",
	    M_ENCODED },
	/* A backslash only quotes the "?": GMime decodes the word. */
	{ COMPOSE_FROM, "\"=\\?iso-8859-1?q?Bob=00Evil?=\" <a@b.c>",
	    M_ENCODED },
	{ COMPOSE_FROM, "darth@starwars.univ, luke@rebels.univ",
	    M_FROM_MANY },
	{ COMPOSE_FROM, "darth@starwars.univ\r\nRCPT TO:<x@evil.example>",
	    M_LINE },
	{ COMPOSE_FROM, "darth@starwars.univ\n", M_LINE },
	{ COMPOSE_FROM, "darth@starwars.univ\r", M_LINE },
	{ COMPOSE_FROM, "darth@starwars.univ\x01", M_CNTRL },
	{ COMPOSE_FROM, "\xff@starwars.univ", M_UTF8 },

	/* To and Cc: lists. */
	{ COMPOSE_TO, "luke@rebels.univ, leia@rebels.univ", NULL },
	{ COMPOSE_TO, "Luke <luke@rebels.univ>, \"Solo, Han\" "
	    "<han@falcon.univ>", NULL },
	{ COMPOSE_TO, "\"Solo (Han), \\\"Captain\\\"\" <han@falcon.univ>",
	    NULL },
	{ COMPOSE_TO, "luke@rebels.univ (Skywalker, Luke), leia@rebels.univ", NULL },
	{ COMPOSE_TO, "luke@rebels.univ,", NULL },
	{ COMPOSE_TO, "luke@rebels.univ,,leia@rebels.univ", NULL },
	{ COMPOSE_TO, NULL, M_TO_NONE },
	{ COMPOSE_TO, "", M_TO_NONE },
	{ COMPOSE_TO, " , ,", M_TO_NONE },
	{ COMPOSE_TO, "luke@rebels.univ, garbage", M_LIST_BAD },
	{ COMPOSE_TO, "luke@rebels.univ garbage", M_LIST_BAD },
	{ COMPOSE_TO, "luke@rebels.univ leia@rebels.univ", M_LIST_BAD },
	{ COMPOSE_TO, "luke@rebels.univ; leia@rebels.univ", M_LIST_BAD },
	{ COMPOSE_TO, "luke@rebels.univ, <>", M_LIST_BAD },
	{ COMPOSE_TO, "luke@rebels.univ, <leia@rebels.univ>>",
	    M_LIST_BAD },
	{ COMPOSE_TO, "luke@rebels.univ, \"leia", M_LIST_BAD },
	{ COMPOSE_TO, "luke@rebels.univ, (leia", M_LIST_BAD },
	{ COMPOSE_TO, "undisclosed-recipients:;", M_LIST_BAD },
	/* GMime 3.2.13 leaks on these: valgrind must stay clean. */
	{ COMPOSE_TO, "a\")b=(>.>,x>\"", M_LIST_BAD },
	{ COMPOSE_TO, "@(-?.,=>)", M_LIST_BAD },
	{ COMPOSE_TO, "luke@rebels.univ <leia@rebels.univ>", M_LIST_BAD },
	{ COMPOSE_TO, "a@[1.2.3.4", M_LIST_BAD },
	{ COMPOSE_TO, "luke@rebels.univ\r\nDATA", M_LINE },
	{ COMPOSE_TO, "x@y.com" FW_GT IDEO_SP "NOTIFY" FW_EQ "NEVER",
	    M_LIST_BAD },
	{ COMPOSE_TO, "x@y" FW_AT "evil.example", M_LIST_BAD },
	{ COMPOSE_TO, "luke@r\xc3\xa9" "bels.univ", NULL },	/* IDN */
	{ COMPOSE_TO, "leia@rebels.univ, \xc3\x89=0D <e@mail181.com>",
	    M_REENCODED },
	/* Another name's words do not make this one's '=' a fault. */
	{ COMPOSE_TO, "\xc3\x89lodie <e@mail181.com>, \"x=y\" <d@e.f>",
	    NULL },
	{ COMPOSE_CC, NULL, NULL },
	{ COMPOSE_CC, "", NULL },
	{ COMPOSE_CC, "leia@rebels.univ, Élodie <e@mail181.com>", NULL },
	{ COMPOSE_CC, "leia", M_LIST_BAD },
	{ COMPOSE_CC, "leia@rebels.univ, " LOCAL64 "x@rebels.univ",
	    M_ADDR_LONG },
	{ COMPOSE_CC, "leia@rebels.univ\nBcc: x@evil.example", M_LINE },
	{ COMPOSE_CC, "leia@rebels.univ\x7f", M_CNTRL },

	/* Subject. */
	{ COMPOSE_SUBJECT, NULL, NULL },
	{ COMPOSE_SUBJECT, "", NULL },
	{ COMPOSE_SUBJECT, SUBJECT_FR, NULL },
	{ COMPOSE_SUBJECT, "a\tb", NULL },
	{ COMPOSE_SUBJECT, "=?utf-8?q?typed_by_hand?=", M_ENCODED },
	{ COMPOSE_SUBJECT, "=? is not ?= an encoded word", M_ENCODED },
	{ COMPOSE_SUBJECT, "a=?b, c?d, e?=", M_ENCODED },
	{ COMPOSE_SUBJECT, "=?", M_ENCODED },
	{ COMPOSE_SUBJECT, "a regex: a=\\?b", NULL },	/* no quoting here */
	{ COMPOSE_SUBJECT, "?= =? x", M_ENCODED },
	/* GMime's own word after it would close the "=?" typed. */
	{ COMPOSE_SUBJECT, "=?iso-8859-1?q?a=0D=0ABcc:_x@evil.example "
	    "\xc3\xa9", M_ENCODED },
	{ COMPOSE_SUBJECT, "a =0D=0A \xc3\xa9", NULL },	/* escaped */
	{ COMPOSE_SUBJECT, "?= and = and ?", NULL },
	{ COMPOSE_SUBJECT, "hi\r\nBcc: x@evil.example", M_LINE },
	{ COMPOSE_SUBJECT, "hi\n", M_LINE },
	{ COMPOSE_SUBJECT, "=?utf-8?q?hi=0D=0ABcc:_x@evil.example?=",
	    M_ENCODED },
	{ COMPOSE_SUBJECT, "=?iso-8859-1?q?a=00=0D=0ABcc:_x@evil.example?=",
	    M_ENCODED },
	{ COMPOSE_SUBJECT, "hi\x1b[31m", M_CNTRL },
	{ COMPOSE_SUBJECT, "\xc3\x28", M_UTF8 },
	{ COMPOSE_SUBJECT, "\xed\xa0\x80", M_UTF8 },	/* surrogate */

	/* Body: many lines, any UTF-8, but no NUL. */
	{ COMPOSE_BODY, NULL, NULL },
	{ COMPOSE_BODY, "", NULL },
	{ COMPOSE_BODY, "line 1\r\n.\r\nFrom me\r\n\x1b\f", NULL },
	{ COMPOSE_BODY, "caf\xe9", M_UTF8 },
};

/* The good form with one field replaced. */
static struct compose_form
form_with(enum compose_field field, const char *value)
{
	struct compose_form	 form = good_form;

	switch (field) {
	case COMPOSE_FROM:
		form.from = value;
		break;
	case COMPOSE_TO:
		form.to = value;
		break;
	case COMPOSE_CC:
		form.cc = value;
		break;
	case COMPOSE_SUBJECT:
		form.subject = value;
		break;
	default:
		form.body = value;
		break;
	}
	return form;
}

/* Assert that exactly field has message want (none if want is NULL). */
static void
assert_only_error(const struct compose_errors *errs, gboolean ok,
    enum compose_field field, const char *want, const char *what)
{
	int	 f;

	for (f = 0; f < COMPOSE_N_FIELDS; f++) {
		const char	*expect = f == (int)field ? want : NULL;

		if (g_strcmp0(errs->field[f], expect) != 0)
			fail_msg("%s: field %d: got \"%s\", want \"%s\"", what,
			    f, errs->field[f] ? errs->field[f] : "(none)",
			    expect ? expect : "(none)");
	}
	assert_int_equal(ok, want == NULL);
	assert_false(errs->too_large);
}

/* Every row of field_cases. */
static void
test_check_fields(void **state)
{
	struct compose_errors	 errs;
	struct compose_form	 form;
	const struct field_case	*c;
	gboolean		 ok;
	gsize			 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(field_cases); i++) {
		c = &field_cases[i];
		form = form_with(c->field, c->value);
		ok = check(&form, BODY_MAX, &errs);
		assert_only_error(&errs, ok, c->field, c->want,
		    c->value ? c->value : "(null)");
	}
}

/* The item an address field was refused for: where it is in the field. */
static const struct item_case {
	enum compose_field field;
	const char	*value;
	const char	*item;		/* NULL: none named */
} item_cases[] = {
	{ COMPOSE_TO, "luke@rebels.univ,  garbage , leia@rebels.univ",
	    "garbage" },
	{ COMPOSE_TO, "bad one, worse one", "bad one" },
	{ COMPOSE_TO, "\"Solo, Han\" <han@falcon.univ>, leia",
	    "leia" },
	{ COMPOSE_TO, "luke@rebels.univ, (Skywalker, Luke) <luke@x",
	    "(Skywalker, Luke) <luke@x" },
	{ COMPOSE_CC, "leia@rebels.univ, " LOCAL64 "x@rebels.univ",
	    LOCAL64 "x@rebels.univ" },
	{ COMPOSE_FROM, " darth ", "darth" },
	{ COMPOSE_FROM, "", NULL },			/* required */
	{ COMPOSE_FROM, "a@b.c, d@e.f", NULL },		/* one, not two */
	{ COMPOSE_TO, "luke@rebels.univ\nDATA", NULL },	/* not parsed */
	{ COMPOSE_TO, " , ,", NULL },			/* no recipient */
};

/* Each row of item_cases names its item, and only in its own field. */
static void
test_check_names_item(void **state)
{
	struct compose_errors	 errs;
	struct compose_form	 form;
	const struct item_case	*c;
	gsize			 i;
	int			 f;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(item_cases); i++) {
		c = &item_cases[i];
		form = form_with(c->field, c->value);
		assert_false(check(&form, BODY_MAX, &errs));
		for (f = 0; f < COMPOSE_N_FIELDS; f++)
			if (f != (int)c->field)
				assert_int_equal(errs.item[f].len, 0);
		if (c->item == NULL) {
			assert_int_equal(errs.item[c->field].len, 0);
			continue;
		}
		assert_int_equal(errs.item[c->field].len, strlen(c->item));
		assert_memory_equal(c->value + errs.item[c->field].off,
		    c->item, strlen(c->item));
	}
}

/* A string of n copies of unit, then tail. */
static char *
repeat(const char *unit, int n, const char *tail)
{
	GString		*s;

	s = g_string_new(NULL);
	while (n-- > 0)
		g_string_append(s, unit);
	g_string_append(s, tail);
	return g_string_free(s, FALSE);
}

/* Line fields stop at 998 octets, counted in octets, not characters. */
static void
test_check_line_max(void **state)
{
	struct {
		enum compose_field	 field;
		const char		*unit;
		int			 n;
		const char		*tail;
		const char		*want;
	} cases[] = {
		{ COMPOSE_SUBJECT, "x", 998, "", NULL },
		{ COMPOSE_SUBJECT, "x", 999, "", M_LONG },
		{ COMPOSE_SUBJECT, "é", 499, "", NULL },	/* 998 */
		{ COMPOSE_SUBJECT, "é", 499, "x", M_LONG },
		{ COMPOSE_FROM, "d", 980, " <d@starwars.univ>", NULL },
		{ COMPOSE_FROM, "d", 981, " <d@starwars.univ>", M_LONG },
		{ COMPOSE_TO, "luke@rebels.univ, ", 56, "", M_LONG },
		{ COMPOSE_CC, "x", 999, "", M_LONG },
	};
	struct compose_errors	 errs;
	struct compose_form	 form;
	char			*value;
	gboolean		 ok;
	gsize			 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		value = repeat(cases[i].unit, cases[i].n, cases[i].tail);
		form = form_with(cases[i].field, value);
		ok = check(&form, BODY_MAX, &errs);
		assert_only_error(&errs, ok, cases[i].field, cases[i].want,
		    value);
		g_free(value);
	}
}

/* The body limit is in octets and answers 413 (too_large). */
static void
test_check_body_max(void **state)
{
	struct compose_errors	 errs;
	struct compose_form	 form;

	(void)state;
	form = form_with(COMPOSE_BODY, "éé\n");	/* 5 octets */
	assert_true(check(&form, 5, &errs));
	assert_false(errs.too_large);

	assert_false(check(&form, 4, &errs));
	assert_true(errs.too_large);
	assert_string_equal(errs.field[COMPOSE_BODY], M_LARGE);
	assert_null(errs.field[COMPOSE_FROM]);
	assert_null(errs.field[COMPOSE_SUBJECT]);
}

/* "luke0@rebels.univ, luke1@...", n addresses. */
static char *
address_list(int first, int n)
{
	GString		*s;
	int		 i;

	s = g_string_new(NULL);
	for (i = first; i < first + n; i++)
		g_string_append_printf(s, "%sl%d@r.u", i > first ? "," : "", i);
	return g_string_free(s, FALSE);
}

/* At most COMPOSE_RCPT_MAX addresses in To and Cc together. */
static void
test_check_rcpt_max(void **state)
{
	struct {
		int		 n_to, n_cc;
		const char	*want_to, *want_cc;
	} cases[] = {
		{ 50, 0, NULL, NULL },
		{ 51, 0, M_RCPT_MANY, NULL },
		{ 30, 20, NULL, NULL },
		{ 30, 21, NULL, M_RCPT_MANY },
		{ 51, 3, M_RCPT_MANY, NULL },
	};
	struct compose_errors	 errs;
	struct compose_form	 form = good_form;
	char			*to, *cc;
	gsize			 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		to = address_list(0, cases[i].n_to);
		cc = address_list(100, cases[i].n_cc);
		form.to = to;
		form.cc = cc;
		assert_int_equal(check(&form, BODY_MAX, &errs),
		    cases[i].want_to == NULL && cases[i].want_cc == NULL);
		assert_true(g_strcmp0(errs.field[COMPOSE_TO],
		    cases[i].want_to) == 0);
		assert_true(g_strcmp0(errs.field[COMPOSE_CC],
		    cases[i].want_cc) == 0);
		g_free(to);
		g_free(cc);
	}
}

/* Every field is reported at once, so the form shows all mistakes. */
static void
test_check_all_fields(void **state)
{
	const struct compose_form	 form = {
		.from = "darth",
		.to = "luke\n",
		.cc = "x@y.z, zz",
		.subject = "\xff",
		.body = "a\x01\xff",
	};
	const struct compose_form	 empty = { 0 };
	struct compose_errors		 errs;

	(void)state;
	assert_false(check(&form, BODY_MAX, &errs));
	assert_string_equal(errs.field[COMPOSE_FROM], M_FROM_BAD);
	assert_string_equal(errs.field[COMPOSE_TO], M_LINE);
	assert_string_equal(errs.field[COMPOSE_CC], M_LIST_BAD);
	assert_string_equal(errs.field[COMPOSE_SUBJECT], M_UTF8);
	assert_string_equal(errs.field[COMPOSE_BODY], M_UTF8);

	assert_false(check(&empty, BODY_MAX, &errs));
	assert_string_equal(errs.field[COMPOSE_FROM], M_FROM_NONE);
	assert_string_equal(errs.field[COMPOSE_TO], M_TO_NONE);
	assert_null(errs.field[COMPOSE_CC]);
	assert_null(errs.field[COMPOSE_SUBJECT]);
	assert_null(errs.field[COMPOSE_BODY]);
}

/*
 * The wire form: every line ends in CRLF (no bare CR or LF), no line is
 * longer than 998 octets, and the last line is ended.
 */
static void
assert_wire_ok(GBytes *message)
{
	const char	*s;
	gsize		 len, i, line = 0;

	s = g_bytes_get_data(message, &len);
	assert_true(len >= 2);
	for (i = 0; i < len; i++) {
		if (s[i] == '\r') {
			assert_true(i + 1 < len && s[i + 1] == '\n');
			if (line > 998)
				fail_msg("line of %zu octets at %zu", line, i);
			line = 0;
			i++;
		} else {
			assert_int_not_equal(s[i], '\n');
			assert_int_not_equal(s[i], '\0');
			line++;
		}
	}
	assert_int_equal(line, 0);
}

/* Check, then build with options; fail the test if the form is
 * refused. */
static struct compose_mail *
build_with(const struct compose_form *form,
    const struct compose_options *options)
{
	struct compose_errors	 errs;
	struct compose_draft	*draft = compose_check(form, BODY_MAX, &errs);
	struct compose_mail	*mail;

	if (draft == NULL)
		fail_msg("compose_check refused the form");
	mail = compose_build(draft, options);
	compose_draft_free(draft);
	assert_non_null(mail->message);
	assert_wire_ok(mail->message);
	return mail;
}

/* Build with the test options. */
static struct compose_mail *
build(const struct compose_form *form, gboolean eightbit)
{
	const struct compose_options	 options = {
		.eightbit = eightbit,
		.id_domain = TEST_ID_DOMAIN,
		.date = TEST_DATE,
	};

	return build_with(form, &options);
}

/* Parse a built message back with GMime. */
static GMimeMessage *
parse_back(GBytes *message)
{
	GMimeStream	*stream;
	GMimeParser	*parser;
	GMimeMessage	*msg;
	const char	*s;
	gsize		 len;

	s = g_bytes_get_data(message, &len);
	stream = g_mime_stream_mem_new_with_buffer(s, len);
	parser = g_mime_parser_new_with_stream(stream);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	assert_non_null(msg);
	return msg;
}

/* Assert the mailbox at index i of list. */
static void
assert_mailbox(InternetAddressList *list, int i, const char *name,
    const char *addr)
{
	InternetAddress	*ia;

	assert_true(i < internet_address_list_length(list));
	ia = internet_address_list_get_address(list, i);
	assert_true(INTERNET_ADDRESS_IS_MAILBOX(ia));
	assert_string_equal(internet_address_get_name(ia) ?
	    internet_address_get_name(ia) : "", name);
	assert_string_equal(internet_address_mailbox_get_addr(
	    INTERNET_ADDRESS_MAILBOX(ia)), addr);
}

/* TRUE if the raw message has a line exactly equal to line. */
static gboolean
has_line(GBytes *message, const char *line)
{
	char		*wanted;
	gboolean	 found;
	gsize		 len;
	const char	*s;

	s = g_bytes_get_data(message, &len);
	wanted = g_strconcat("\r\n", line, "\r\n", NULL);
	found = g_strstr_len(s, len, wanted) != NULL;
	g_free(wanted);
	return found;
}

/* Headers read back as typed, names and subject in RFC 2047 words. */
static void
test_build_headers(void **state)
{
	const struct compose_form	 form = {
		.from = "\"Vader, Darth\" <darth@starwars.univ>",
		.to = "Luke Skywalker <luke@rebels.univ>, leia@rebels.univ",
		.cc = "Élodie Ünïcode <e@mail181.com>",
		.subject = SUBJECT_FR,
		.body = "hello\n",
	};
	struct compose_mail	*mail;
	GMimeMessage		*msg;
	GMimeObject		*part;
	GDateTime		*date;
	const char		*id;
	char			*raw;

	(void)state;
	mail = build(&form, TRUE);
	msg = parse_back(mail->message);

	assert_int_equal(internet_address_list_length(
	    g_mime_message_get_from(msg)), 1);
	assert_mailbox(g_mime_message_get_from(msg), 0, "Vader, Darth",
	    "darth@starwars.univ");
	assert_int_equal(internet_address_list_length(
	    g_mime_message_get_to(msg)), 2);
	assert_mailbox(g_mime_message_get_to(msg), 0, "Luke Skywalker",
	    "luke@rebels.univ");
	assert_mailbox(g_mime_message_get_to(msg), 1, "", "leia@rebels.univ");
	assert_int_equal(internet_address_list_length(
	    g_mime_message_get_cc(msg)), 1);
	assert_mailbox(g_mime_message_get_cc(msg), 0, "Élodie Ünïcode",
	    "e@mail181.com");
	assert_string_equal(g_mime_message_get_subject(msg), SUBJECT_FR);

	date = g_mime_message_get_date(msg);
	assert_non_null(date);
	assert_int_equal(g_date_time_to_unix(date), TEST_DATE);
	id = g_mime_message_get_message_id(msg);
	assert_non_null(id);
	assert_true(g_str_has_suffix(id, "@" TEST_ID_DOMAIN));
	assert_string_equal(g_mime_object_get_header(GMIME_OBJECT(msg),
	    "MIME-Version"), "1.0");

	part = g_mime_message_get_mime_part(msg);
	assert_true(GMIME_IS_TEXT_PART(part));
	assert_true(g_mime_content_type_is_type(
	    g_mime_object_get_content_type(part), "text", "plain"));
	assert_string_equal(g_mime_text_part_get_charset(GMIME_TEXT_PART(part)),
	    "utf-8");

	assert_true(has_line(mail->message, "MIME-Version: 1.0"));
	assert_true(has_line(mail->message,
	    "Content-Type: text/plain; charset=utf-8"));
	/* Nothing non-ASCII on the wire: names and subject became words. */
	raw = g_strndup(g_bytes_get_data(mail->message, NULL),
	    g_bytes_get_size(mail->message));
	assert_true(g_str_is_ascii(raw));
	g_free(raw);

	g_object_unref(msg);
	compose_mail_free(mail);
}

/* No Cc header when Cc is empty. */
static void
test_build_no_cc(void **state)
{
	struct compose_mail	*mail;
	GMimeMessage		*msg;

	(void)state;
	mail = build(&good_form, FALSE);
	msg = parse_back(mail->message);
	assert_null(g_mime_object_get_header(GMIME_OBJECT(msg), "Cc"));
	assert_non_null(g_mime_object_get_header(GMIME_OBJECT(msg), "To"));
	assert_non_null(g_mime_object_get_header(GMIME_OBJECT(msg), "Date"));
	assert_non_null(g_mime_object_get_header(GMIME_OBJECT(msg),
	    "Message-Id"));
	assert_string_equal(g_mime_message_get_subject(msg), "hi");
	g_object_unref(msg);
	compose_mail_free(mail);
}

/* A mail to Cc alone: no To header, the Cc mailboxes as recipients. */
static void
test_build_cc_only(void **state)
{
	struct compose_form	 form = good_form;
	struct compose_mail	*mail;
	GMimeMessage		*msg;

	(void)state;
	form.to = " ";
	form.cc = "leia@rebels.univ";
	mail = build(&form, FALSE);
	msg = parse_back(mail->message);
	assert_null(g_mime_object_get_header(GMIME_OBJECT(msg), "To"));
	assert_string_equal(g_mime_object_get_header(GMIME_OBJECT(msg),
	    "Cc"), "leia@rebels.univ");
	assert_int_equal(mail->rcpt->len, 1);
	assert_string_equal(g_ptr_array_index(mail->rcpt, 0),
	    "leia@rebels.univ");
	g_object_unref(msg);
	compose_mail_free(mail);
}

/* Long subjects and names are folded by GMime: no line over 998. */
static void
test_build_long_headers(void **state)
{
	struct {
		const char	*unit;
		int		 n;
		const char	*tail;
	} subjects[] = {
		{ "x", 900, "" },			/* one long word */
		{ "x", 998, "" },
		{ "é", 450, "" },			/* non-ASCII */
		{ "é", 499, "" },			/* 998 octets */
		{ "Été à Paris ", 60, "✓" },
		{ "word ", 199, "end" },
	};
	struct compose_form	 form = good_form;
	struct compose_mail	*mail;
	GMimeMessage		*msg;
	char			*subject, *name, *from, *text;
	gsize			 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(subjects); i++) {
		subject = repeat(subjects[i].unit, subjects[i].n,
		    subjects[i].tail);
		form.subject = subject;
		mail = build(&form, TRUE);	/* asserts the line length */
		msg = parse_back(mail->message);
		assert_string_equal(g_mime_message_get_subject(msg), subject);
		g_object_unref(msg);
		compose_mail_free(mail);
		g_free(subject);
	}

	name = repeat("Ünïcode", 100, "");		/* 900 octets */
	from = g_strdup_printf("%s <u@mail181.com>", name);
	form = good_form;
	form.from = from;
	mail = build(&form, TRUE);
	msg = parse_back(mail->message);
	/* Word by word, as the inbox reads it: GMime's own decoder stops
	 * short on long base64 names (spool_header_text() says why). */
	text = spool_header_text(GMIME_OBJECT(msg), "From");
	assert_true(g_str_has_prefix(text, name));
	/* GMime folds before the address: a space or a tab is left. */
	assert_string_equal(g_strchug(text + strlen(name)), "<u@mail181.com>");
	g_free(text);
	g_object_unref(msg);
	compose_mail_free(mail);
	g_free(from);
	g_free(name);
}

/* The longest addresses and names the checks let through still go out
 * in lines of at most 998 octets, in the headers and the envelope. */
static void
test_build_longest_addresses(void **state)
{
	char			*long_name = repeat("d", 980,
				    " <d@starwars.univ>");
	const char		*froms[] = {
		LOCAL64 "@starwars.univ",
		"a@" DOMAIN252,
		long_name,
	};
	struct compose_form	 form = good_form;
	struct compose_mail	*mail;
	gsize			 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(froms); i++) {
		form.from = froms[i];
		form.to = froms[i];
		mail = build(&form, TRUE);	/* asserts the line length */
		assert_true(strlen(mail->mail_from) <= 254);
		compose_mail_free(mail);
	}
	g_free(long_name);
}

/* The Content-Transfer-Encoding chosen for each kind of body. */
static void
test_build_encoding(void **state)
{
	struct {
		const char	*unit;
		int		 n;
		gboolean	 eightbit_ok;
		const char	*cte;
		gboolean	 eightbit;
	} cases[] = {
		{ "hello\n", 1, FALSE, "7bit", FALSE },
		{ "hello\n", 1, TRUE, "7bit", FALSE },
		{ "", 0, TRUE, "7bit", FALSE },
		{ "x", 998, FALSE, "7bit", FALSE },
		{ "x", 999, TRUE, "quoted-printable", FALSE },
		{ "Été\n", 1, TRUE, "8bit", TRUE },
		{ "Été\n", 1, FALSE, "quoted-printable", FALSE },
		{ "é", 499, TRUE, "8bit", TRUE },		/* 998 */
		{ "é", 500, TRUE, "quoted-printable", FALSE },	/* 1000 */
	};
	struct compose_form	 form = good_form;
	struct compose_mail	*mail;
	GMimeMessage		*msg;
	GMimeObject		*part;
	char			*body, *header;
	gsize			 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		body = repeat(cases[i].unit, cases[i].n, "");
		form.body = body;
		mail = build(&form, cases[i].eightbit_ok);
		assert_int_equal(mail->eightbit, cases[i].eightbit);
		msg = parse_back(mail->message);
		part = g_mime_message_get_mime_part(msg);
		assert_string_equal(g_mime_object_get_header(part,
		    "Content-Transfer-Encoding"), cases[i].cte);
		header = g_strconcat("Content-Transfer-Encoding: ",
		    cases[i].cte, NULL);
		assert_true(has_line(mail->message, header));
		g_free(header);
		g_object_unref(msg);
		compose_mail_free(mail);
		g_free(body);
	}
}

/* The decoded body of a built message, with CRLF turned back into LF. */
static char *
body_back(GBytes *message)
{
	GMimeMessage	*msg;
	GMimeObject	*part;
	char		*text, **lines, *joined;

	msg = parse_back(message);
	part = g_mime_message_get_mime_part(msg);
	assert_true(GMIME_IS_TEXT_PART(part));
	text = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
	assert_non_null(text);
	lines = g_strsplit(text, "\r\n", -1);
	joined = g_strjoinv("\n", lines);
	g_strfreev(lines);
	g_free(text);
	g_object_unref(msg);
	return joined;
}

/* The body reads back line for line, with any encoding. */
static void
test_build_body_roundtrip(void **state)
{
	struct {
		const char	*body;
		const char	*want;
	} cases[] = {
		{ "hello\nworld\n", "hello\nworld\n" },
		{ ".\n..\n.x\nFrom me\n>From you\n",
		    ".\n..\n.x\nFrom me\n>From you\n" },
		{ "From the start\n.", "From the start\n.\n" },
		{ "crlf\r\nends\r\n", "crlf\nends\n" },
		{ "lone\rcr\r", "lone\ncr\n" },
		{ "mixed\r\n\r\rend", "mixed\n\n\nend\n" },
		{ "trailing space  \n\ttab\n", "trailing space  \n\ttab\n" },
		{ "no final line end", "no final line end\n" },
		{ "\n\n\n", "\n\n\n" },
		{ "Été à Paris\n— ça marche ✓\n.\n",
		    "Été à Paris\n— ça marche ✓\n.\n" },
		{ "=3D =?utf-8?q?x?= =\n", "=3D =?utf-8?q?x?= =\n" },
	};
	struct compose_form	 form = good_form;
	struct compose_mail	*mail;
	char			*back;
	gsize			 i;
	int			 eightbit;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		for (eightbit = 0; eightbit <= 1; eightbit++) {
			form.body = cases[i].body;
			mail = build(&form, eightbit);
			back = body_back(mail->message);
			assert_string_equal(back, cases[i].want);
			g_free(back);
			compose_mail_free(mail);
		}
	}
}

/* Long lines go out as quoted-printable and come back whole. */
static void
test_build_long_body(void **state)
{
	struct compose_form	 form = good_form;
	struct compose_mail	*mail;
	char			*line, *body, *back, *want;

	(void)state;
	line = repeat("a", 5000, "");
	body = g_strdup_printf("short\n%s\n.\n%s", line, line);
	want = g_strdup_printf("short\n%s\n.\n%s\n", line, line);
	form.body = body;
	mail = build(&form, TRUE);
	assert_false(mail->eightbit);
	back = body_back(mail->message);
	assert_string_equal(back, want);
	g_free(back);
	g_free(want);
	g_free(body);
	g_free(line);
	compose_mail_free(mail);
}

/* Envelope: From's addr-spec; To then Cc, in order, no repeats (the
 * domain's case aside, as only the server knows whether its local
 * parts care for case). */
static void
test_build_envelope(void **state)
{
	const struct compose_form	 form = {
		.from = "Darth Vader <darth@starwars.univ>",
		.to = "b@x.y, Luke <A@x.y>, b@x.y",
		.cc = "A@X.Y, c@x.y, B@x.y, a@x.y",
		.body = "",
	};
	const char *const	 want[] = { "b@x.y", "A@x.y", "c@x.y",
				    "B@x.y", "a@x.y" };
	struct compose_mail	*mail;
	gsize			 i;

	(void)state;
	mail = build(&form, TRUE);
	assert_string_equal(mail->mail_from, "darth@starwars.univ");
	assert_int_equal(mail->rcpt->len, G_N_ELEMENTS(want));
	for (i = 0; i < G_N_ELEMENTS(want); i++)
		assert_string_equal(g_ptr_array_index(mail->rcpt, i), want[i]);
	assert_false(mail->smtputf8);
	compose_mail_free(mail);
}

/* SMTPUTF8 only for a non-ASCII local part; IDN domains are A-labels. */
static void
test_build_smtputf8(void **state)
{
	struct {
		const char	*from, *to;
		const char	*mail_from, *rcpt;
		gboolean	 smtputf8;
	} cases[] = {
		{ "Élodie <e@mail181.com>", "luke@rebels.univ",
		    "e@mail181.com", "luke@rebels.univ", FALSE },
		{ "élodie@mail181.com", "luke@rebels.univ",
		    "élodie@mail181.com", "luke@rebels.univ", TRUE },
		{ "e@mail181.com", "Jürgen <jürgen@rebels.univ>",
		    "e@mail181.com", "jürgen@rebels.univ", TRUE },
		{ "e@mail181.com", "luke@rébels.univ",
		    "e@mail181.com", "luke@xn--rbels-bsa.univ", FALSE },
	};
	struct compose_form	 form = good_form;
	struct compose_mail	*mail;
	gsize			 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		form.from = cases[i].from;
		form.to = cases[i].to;
		mail = build(&form, TRUE);
		assert_string_equal(mail->mail_from, cases[i].mail_from);
		assert_int_equal(mail->rcpt->len, 1);
		assert_string_equal(g_ptr_array_index(mail->rcpt, 0),
		    cases[i].rcpt);
		assert_int_equal(mail->smtputf8, cases[i].smtputf8);
		compose_mail_free(mail);
	}
}

/* A missing or unusable id_domain gives a valid Message-ID anyway. */
static void
test_build_message_id(void **state)
{
	const char *const	 domains[] = { NULL, "", "bad domain\r\nX: y" };
	struct compose_options	 options = { .date = TEST_DATE };
	struct compose_mail	*mail;
	GMimeMessage		*msg;
	gsize			 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(domains); i++) {
		options.id_domain = domains[i];
		mail = build_with(&good_form, &options);
		msg = parse_back(mail->message);
		assert_true(g_str_has_suffix(g_mime_message_get_message_id(msg),
		    "@labmail.invalid"));
		g_object_unref(msg);
		compose_mail_free(mail);
	}
}

/* GMime is initialised by the module, as main does. */
static int
setup(void **state)
{
	(void)state;
	compose_init();
	compose_init();		/* twice is harmless */
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
		cmocka_unit_test(test_check_fields),
		cmocka_unit_test(test_check_names_item),
		cmocka_unit_test(test_check_line_max),
		cmocka_unit_test(test_check_body_max),
		cmocka_unit_test(test_check_rcpt_max),
		cmocka_unit_test(test_check_all_fields),
		cmocka_unit_test(test_build_headers),
		cmocka_unit_test(test_build_no_cc),
		cmocka_unit_test(test_build_cc_only),
		cmocka_unit_test(test_build_long_headers),
		cmocka_unit_test(test_build_longest_addresses),
		cmocka_unit_test(test_build_encoding),
		cmocka_unit_test(test_build_body_roundtrip),
		cmocka_unit_test(test_build_long_body),
		cmocka_unit_test(test_build_envelope),
		cmocka_unit_test(test_build_smtputf8),
		cmocka_unit_test(test_build_message_id),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
