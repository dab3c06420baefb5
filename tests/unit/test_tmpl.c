/*
 * test_tmpl - unit tests of the template module.
 *
 * Each render case is a template, a set of values and the exact output
 * expected; each parse-error case is a template that tmpl_parse() must
 * refuse.  Escaping is checked character by character, and
 * tmpl_set_html() (the one way around it) is checked to be the only
 * value that reaches the page unescaped.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "tmpl.h"

/* Parse text (which must parse), render it with vars, return the output. */
static char *
render(const char *text, const struct tmpl_vars *vars)
{
	GError		*err = NULL;
	struct tmpl	*t = tmpl_parse(text, &err);
	GString		*out = g_string_new(NULL);

	if (t == NULL)
		fail_msg("tmpl_parse(\"%s\"): %s", text, err->message);
	assert_null(err);
	tmpl_render(t, vars, out);
	tmpl_free(t);
	return g_string_free(out, FALSE);
}

/* Templates that must be refused, and why. */
static const char *const bad_templates[] = {
	"{{x",			/* unclosed */
	"text {{",		/* unclosed, at the end */
	"{{x}",			/* half-closed */
	"{{}}",			/* empty */
	"a {{}} b",
	"{{ x }}",		/* spaces are not part of a name */
	"{{x-y}}",		/* '-' is not either */
	"{{x.y}}",
	"{{x y}}",
	"{{<script>}}",
	"{{x\n}}",
	"{{{x}}",		/* '{' in the name */
	"{{é}}",		/* non-ASCII letter */
	"ok {{a}} then {{b",	/* a good marker before a bad one */
	"{{a}}{{",
};

static void
test_parse_errors(void **state)
{
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(bad_templates); i++) {
		GError		*err = NULL;
		struct tmpl	*t = tmpl_parse(bad_templates[i], &err);

		if (t != NULL)
			fail_msg("\"%s\" was accepted", bad_templates[i]);
		assert_non_null(err);
		assert_non_null(strstr(err->message, "bad marker"));
		g_error_free(err);
	}
}

/* The error names the offset of the bad marker (just after "{{"). */
static void
test_parse_error_offset(void **state)
{
	GError		*err = NULL;

	(void)state;
	assert_null(tmpl_parse("0123{{bad-name}}", &err));
	assert_non_null(err);
	assert_string_equal(err->message, "bad marker at offset 6");
	g_error_free(err);
}

/* One render case: a template, two values, the output. */
struct render_case {
	const char	*text;
	const char	*want;
};

/* Values set for every render case: a = "A", b = "<b>", n = "". */
static const struct render_case render_cases[] = {
	/* Literal text is kept exactly, with what looks like markers. */
	{ "", "" },
	{ "plain text, no markers", "plain text, no markers" },
	{ "<p class=\"x\">&amp; ' \"</p>\n\t", "<p class=\"x\">&amp; ' \"</p>\n\t" },
	{ "{ } }} {x} { {", "{ } }} {x} { {" },
	{ "Été — ✓", "Été — ✓" },
	/* Markers. */
	{ "{{a}}", "A" },
	{ "[{{a}}]", "[A]" },
	{ "{{a}}{{a}}", "AA" },
	{ "{{a}}{{b}}{{a}}", "A&lt;b&gt;A" },
	{ "x{{n}}y", "xy" },
	{ "x{{missing}}y", "xy" },
	{ "{{missing}}", "" },
	{ "{{a}}}", "A}" },
	{ "}}{{a}}", "}}A" },
	{ "{{A}}", "" },		/* names are case-sensitive */
	{ "{{a_1}}", "" },
	{ "line 1\n{{a}}\nline 3\n", "line 1\nA\nline 3\n" },
};

static void
test_render(void **state)
{
	struct tmpl_vars	*vars = tmpl_vars_new();
	gsize			 i;

	(void)state;
	tmpl_set(vars, "a", "A");
	tmpl_set(vars, "b", "<b>");
	tmpl_set(vars, "n", "");
	for (i = 0; i < G_N_ELEMENTS(render_cases); i++) {
		char	*got = render(render_cases[i].text, vars);

		if (strcmp(got, render_cases[i].want) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"",
			    render_cases[i].text, got, render_cases[i].want);
		g_free(got);
	}
	tmpl_vars_free(vars);
}

/* One escaping case: a value and how it appears in the page. */
static const struct {
	const char	*value;
	const char	*want;
} escape_cases[] = {
	{ "&", "&amp;" },
	{ "<", "&lt;" },
	{ ">", "&gt;" },
	{ "\"", "&quot;" },
	{ "'", "&#39;" },
	{ "&amp;", "&amp;amp;" },	/* escaped again: it is text */
	{ "<script>alert('x')</script>",
	    "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" },
	{ "\" onmouseover=\"alert(1)", "&quot; onmouseover=&quot;alert(1)" },
	{ "Élodie <e@mail181.com>", "Élodie &lt;e@mail181.com&gt;" },
	{ "{{a}}", "{{a}}" },		/* values are not templates */
	{ "a\tb\r\n", "a\tb\r\n" },
	{ "", "" },
};

static void
test_escape(void **state)
{
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(escape_cases); i++) {
		struct tmpl_vars	*vars = tmpl_vars_new();
		GString			*out = g_string_new("x");
		char			*got;

		tmpl_set(vars, "v", escape_cases[i].value);
		got = render("<p title=\"{{v}}\">{{v}}</p>", vars);
		tmpl_escape(out, escape_cases[i].value);
		/* tmpl_escape() appends to what is there. */
		assert_true(out->str[0] == 'x');
		assert_string_equal(out->str + 1, escape_cases[i].want);
		{
			char	*want = g_strdup_printf(
			    "<p title=\"%s\">%s</p>", escape_cases[i].want,
			    escape_cases[i].want);

			assert_string_equal(got, want);
			g_free(want);
		}
		g_free(got);
		g_string_free(out, TRUE);
		tmpl_vars_free(vars);
	}
}

/* tmpl_set_html() values go out as given; tmpl_set() ones do not. */
static void
test_set_html(void **state)
{
	struct tmpl_vars	*vars = tmpl_vars_new();
	char			*got;

	(void)state;
	tmpl_set_html(vars, "h", "<b class=\"x\">&amp; it's</b>");
	tmpl_set(vars, "t", "<b class=\"x\">&amp; it's</b>");
	got = render("{{h}}|{{t}}", vars);
	assert_string_equal(got, "<b class=\"x\">&amp; it's</b>|"
	    "&lt;b class=&quot;x&quot;&gt;&amp;amp; it&#39;s&lt;/b&gt;");
	g_free(got);
	tmpl_vars_free(vars);
}

/* A later set replaces the earlier value, and its kind (text or HTML). */
static void
test_replace(void **state)
{
	struct tmpl_vars	*vars = tmpl_vars_new();
	char			*got;

	(void)state;
	tmpl_set(vars, "v", "first");
	tmpl_set(vars, "v", "second");
	got = render("{{v}}", vars);
	assert_string_equal(got, "second");
	g_free(got);

	tmpl_set_html(vars, "v", "<i>x</i>");
	got = render("{{v}}", vars);
	assert_string_equal(got, "<i>x</i>");
	g_free(got);

	/* Back to text: no longer trusted as HTML. */
	tmpl_set(vars, "v", "<i>x</i>");
	got = render("{{v}}", vars);
	assert_string_equal(got, "&lt;i&gt;x&lt;/i&gt;");
	g_free(got);

	/* NULL sets the empty string. */
	tmpl_set(vars, "v", NULL);
	got = render("[{{v}}]", vars);
	assert_string_equal(got, "[]");
	g_free(got);
	tmpl_vars_free(vars);
}

/* tmpl_setf() formats, and its result is escaped like any text. */
static void
test_setf(void **state)
{
	struct tmpl_vars	*vars = tmpl_vars_new();
	char			*got;

	(void)state;
	tmpl_setf(vars, "n", "%d <%s>", 181, "mail181.com");
	got = render("{{n}}", vars);
	assert_string_equal(got, "181 &lt;mail181.com&gt;");
	g_free(got);

	/* Longer than the stack buffer it formats into first: whole. */
	{
		char	*long_text = g_strnfill(300, 'x');
		char	*want = g_strconcat(long_text, "&lt;", long_text,
			    NULL);

		tmpl_setf(vars, "n", "%s<%s", long_text, long_text);
		got = render("{{n}}", vars);
		assert_string_equal(got, want);
		g_free(got);
		g_free(want);
		g_free(long_text);
	}
	tmpl_vars_free(vars);
}

/* A value copied at set time: changing the caller's buffer changes nothing. */
static void
test_vars_copy(void **state)
{
	struct tmpl_vars	*vars = tmpl_vars_new();
	char			 buf[] = "before", name[] = "v";
	char			*got;

	(void)state;
	tmpl_set(vars, name, buf);
	strcpy(buf, "after!");
	name[0] = 'w';
	got = render("{{v}}{{w}}", vars);
	assert_string_equal(got, "before");
	g_free(got);
	tmpl_vars_free(vars);
}

/* A template renders the same each time, and appends to out. */
static void
test_render_twice(void **state)
{
	struct tmpl_vars	*vars = tmpl_vars_new();
	struct tmpl		*t = tmpl_parse("<{{a}}>", NULL);
	GString			*out = g_string_new("start:");

	(void)state;
	assert_non_null(t);
	tmpl_set(vars, "a", "1");
	tmpl_render(t, vars, out);
	tmpl_set(vars, "a", "2");
	tmpl_render(t, vars, out);
	assert_string_equal(out->str, "start:<1><2>");
	g_string_free(out, TRUE);
	tmpl_free(t);
	tmpl_vars_free(vars);
	tmpl_free(NULL);
	tmpl_vars_free(NULL);
}

/* tmpl_load(): a file, a missing file, a bad file named in the error. */
static void
test_load(void **state)
{
	GError			*err = NULL;
	char			*dir, *path;
	struct tmpl		*t;
	struct tmpl_vars	*vars = tmpl_vars_new();
	GString			*out = g_string_new(NULL);

	(void)state;
	dir = g_dir_make_tmp("test_tmpl-XXXXXX", NULL);
	assert_non_null(dir);
	path = g_build_filename(dir, "page.html", NULL);

	assert_true(g_file_set_contents(path, "<h1>{{title}}</h1>\n", -1,
	    NULL));
	t = tmpl_load(path, &err);
	assert_non_null(t);
	tmpl_set(vars, "title", "a & b");
	tmpl_render(t, vars, out);
	assert_string_equal(out->str, "<h1>a &amp; b</h1>\n");
	tmpl_free(t);

	assert_true(g_file_set_contents(path, "<h1>{{title</h1>\n", -1,
	    NULL));
	assert_null(tmpl_load(path, &err));
	assert_non_null(err);
	assert_true(g_str_has_prefix(err->message, path));
	assert_non_null(strstr(err->message, "bad marker"));
	g_clear_error(&err);

	assert_int_equal(g_unlink(path), 0);
	assert_null(tmpl_load(path, &err));
	assert_non_null(err);
	assert_true(g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT));
	g_clear_error(&err);

	assert_int_equal(g_rmdir(dir), 0);
	g_string_free(out, TRUE);
	g_free(path);
	g_free(dir);
	tmpl_vars_free(vars);
}

/* Pathological inputs: many markers, many braces, a long name. */
static void
test_pathological(void **state)
{
	struct tmpl_vars	*vars = tmpl_vars_new();
	GString			*text = g_string_new(NULL);
	GString			*want = g_string_new(NULL);
	char			*got, *name;
	int			 i;

	(void)state;
	tmpl_set(vars, "a", "<");
	for (i = 0; i < 10000; i++) {
		g_string_append(text, "{{a}}.");
		g_string_append(want, "&lt;.");
	}
	got = render(text->str, vars);
	assert_string_equal(got, want->str);
	g_free(got);

	/* Only braces: every "{{" opens a marker that is never good. */
	g_string_truncate(text, 0);
	for (i = 0; i < 10000; i++)
		g_string_append(text, "{{");
	assert_null(tmpl_parse(text->str, NULL));
	g_string_truncate(text, 0);
	for (i = 0; i < 10000; i++)
		g_string_append(text, "}}");
	got = render(text->str, vars);
	assert_string_equal(got, text->str);
	g_free(got);

	/* A 64 KiB name is a name like any other. */
	name = g_strnfill(65536, 'n');
	tmpl_set(vars, name, "long");
	g_string_printf(text, "[{{%s}}]", name);
	got = render(text->str, vars);
	assert_string_equal(got, "[long]");
	g_free(got);
	g_free(name);

	g_string_free(text, TRUE);
	g_string_free(want, TRUE);
	tmpl_vars_free(vars);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_error_offset),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_set_html),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_setf),
		cmocka_unit_test(test_vars_copy),
		cmocka_unit_test(test_render_twice),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_pathological),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
