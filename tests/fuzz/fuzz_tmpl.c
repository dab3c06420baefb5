/*
 * fuzz_tmpl - templates: tmpl_parse() on any text, then a render.
 *
 * Promises checked: only a text with a marker opening can fail to parse;
 * a template without markers renders as itself; rendering with no values
 * keeps every literal byte and adds none (markers render as nothing);
 * with every marker given a hostile text value, no '<' comes out that
 * was not in the template's literals.
 */
#include <string.h>

#include "fuzz.h"
#include "tmpl.h"

/* Set every marker name that occurs in text to a hostile value. */
static void
set_every_marker(struct tmpl_vars *vars, const char *text)
{
	const char	*p = text, *open, *close;

	while ((open = strstr(p, "{{")) != NULL &&
	    (close = strstr(open + 2, "}}")) != NULL) {
		char	*name = g_strndup(open + 2, close - open - 2);

		tmpl_set(vars, name, "<script>&\"'");
		g_free(name);
		p = close + 2;
	}
}

static gsize
count_char(const char *s, char c)
{
	gsize	n = 0;

	for (; *s != '\0'; s++)
		n += *s == c;
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char			*text = g_strndup((const char *)data, size);
	struct tmpl		*t = tmpl_parse(text, NULL);
	struct tmpl_vars	*vars;
	GString			*bare, *full;

	if (t == NULL) {
		g_assert(strstr(text, "{{") != NULL);
		g_free(text);
		return 0;
	}
	vars = tmpl_vars_new();
	bare = g_string_new(NULL);
	full = g_string_new(NULL);
	tmpl_render(t, vars, bare);
	g_assert(bare->len <= strlen(text));
	if (strstr(text, "{{") == NULL)
		g_assert_cmpstr(bare->str, ==, text);
	set_every_marker(vars, text);
	tmpl_render(t, vars, full);
	/* Values are escaped: every '<' is one of the literals'. */
	g_assert_cmpuint(count_char(full->str, '<'), ==,
	    count_char(bare->str, '<'));
	g_string_free(bare, TRUE);
	g_string_free(full, TRUE);
	tmpl_vars_free(vars);
	tmpl_free(t);
	g_free(text);
	return 0;
}
