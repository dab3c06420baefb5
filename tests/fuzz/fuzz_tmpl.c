/*
 * fuzz_tmpl - templates: tmpl_parse() on any text, then renders.
 *
 * Promises checked (tmpl.h): only a text with a marker opening can fail
 * to parse; rendered without values, a template is its literal text,
 * every marker gone; rendered with every marker set to a hostile text
 * value, each marker gives that value escaped (& < > " ' as entities)
 * and nothing else changes; set as safe HTML, the value goes in as is.
 * The expected outputs are built here, apart from tmpl.c.
 */
#include <string.h>

#include "fuzz.h"
#include "tmpl.h"

#define HOSTILE		"<script>&\"' x"
#define HOSTILE_ESCAPED	"&lt;script&gt;&amp;&quot;&#39; x"

/*
 * text with every "{{name}}" replaced by with, and each marker name
 * set in vars (to HOSTILE, as text or as HTML) if vars is not NULL.
 * The template parsed, so every marker is well formed.
 */
static char *
expected(const char *text, const char *with, struct tmpl_vars *vars,
    gboolean as_html)
{
	GString		*out = g_string_new(NULL);
	const char	*p = text, *open, *close;

	while ((open = strstr(p, "{{")) != NULL) {
		close = strstr(open + 2, "}}");
		g_assert(close != NULL);
		g_string_append_len(out, p, open - p);
		g_string_append(out, with);
		if (vars != NULL) {
			char	*name = g_strndup(open + 2, close - open - 2);

			if (as_html)
				tmpl_set_html(vars, name, HOSTILE);
			else
				tmpl_set(vars, name, HOSTILE);
			g_free(name);
		}
		p = close + 2;
	}
	g_string_append(out, p);
	return g_string_free(out, FALSE);
}

/* Render t with vars and compare with want. */
static void
check_render(const struct tmpl *t, const struct tmpl_vars *vars,
    const char *want)
{
	GString	*out = g_string_new("x");	/* appended to, not replaced */

	tmpl_render(t, vars, out);
	g_assert_cmpstr(out->str + 1, ==, want);
	g_string_free(out, TRUE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char			*text = g_strndup((const char *)data, size);
	struct tmpl		*t = tmpl_parse(text, NULL);
	struct tmpl_vars	*vars;
	char			*want;

	if (t == NULL) {
		g_assert(strstr(text, "{{") != NULL);
		g_free(text);
		return 0;
	}
	vars = tmpl_vars_new();
	want = expected(text, "", NULL, FALSE);
	check_render(t, vars, want);
	g_free(want);

	want = expected(text, HOSTILE_ESCAPED, vars, FALSE);
	check_render(t, vars, want);
	g_free(want);

	want = expected(text, HOSTILE, vars, TRUE);
	check_render(t, vars, want);
	g_free(want);

	tmpl_vars_free(vars);
	tmpl_free(t);
	g_free(text);
	return 0;
}
