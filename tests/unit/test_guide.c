/*
 * test_guide - unit tests of the guide module.
 *
 * guide_fill() and guide_pick_lang() are driven by tables.
 * guide_render() is checked for what the page relies on: the title, the
 * heading ids and the table of contents that links to them, balanced
 * tags, and cmark's safe mode (no raw HTML, no javascript: links).
 * guide_load() is run on the real web/ folder (under $LABMAIL_TOP, else
 * the working directory, the top of the repository) with two groups'
 * values, and on small folders of its own for the errors.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "guide.h"

/* The values app.c gives, for groups 181 and 142. */
static const struct guide_value values_181[] = {
	{ "group", "181" },
	{ "domain", "mail181.com" },
	{ "smtp_alias", "smtp181.mail181.com" },
	{ "smtp_host", "machine181.mail181.com" },
	{ "smtp_addr", "192.168.0.81" },
	{ "client_addr", "172.20.181.1" },
	{ "dhcp_addr", "172.20.181.2" },
	{ "dns_addr", "192.168.0.254" },
};

static const struct guide_value values_142[] = {
	{ "group", "142" },
	{ "domain", "mail142.com" },
	{ "smtp_alias", "smtp142.mail142.com" },
	{ "smtp_host", "machine142.mail142.com" },
	{ "smtp_addr", "192.168.0.42" },
	{ "client_addr", "172.20.142.1" },
	{ "dhcp_addr", "172.20.142.2" },
	{ "dns_addr", "192.168.0.254" },
};

/* Values for the guide_fill() table. */
static const struct guide_value fill_values[] = {
	{ "domain", "mail181.com" },
	{ "dom", "short" },
	{ "amp", "a&b<c>\"d'" },
	{ "marker", "{{domain}}" },
	{ "empty", "" },
};

/* One guide_fill() case; want NULL: it must fail. */
static const struct {
	const char	*text;
	gboolean	 xml;
	const char	*want;
} fill_cases[] = {
	{ "", FALSE, "" },
	{ "no markers { } }} here", FALSE, "no markers { } }} here" },
	{ "a {{domain}} b", FALSE, "a mail181.com b" },
	{ "a {{domain}} b", TRUE, "a mail181.com b" },
	{ "{{domain}}{{dom}}{{domain}}", FALSE, "mail181.comshortmail181.com" },
	{ "[{{empty}}]", FALSE, "[]" },
	{ "Été {{dom}} ✓", FALSE, "Été short ✓" },
	/* Escaped for XML only when asked (the diagram). */
	{ "<t>{{amp}}</t>", FALSE, "<t>a&b<c>\"d'</t>" },
	{ "<t>{{amp}}</t>", TRUE, "<t>a&amp;b&lt;c&gt;&quot;d&#39;</t>" },
	/* A value is not filled in again. */
	{ "{{marker}}", FALSE, "{{domain}}" },
	/* Unknown names, unclosed and empty markers fail. */
	{ "{{nope}}", FALSE, NULL },
	{ "{{domainx}}", FALSE, NULL },
	{ "{{do}}", FALSE, NULL },
	{ "{{Domain}}", FALSE, NULL },
	{ "{{ domain }}", FALSE, NULL },
	{ "{{}}", FALSE, NULL },
	{ "a {{domain", FALSE, NULL },
	{ "{{domain}} then {{", TRUE, NULL },
	{ "{{domain}", FALSE, NULL },
};

static void
test_fill(void **state)
{
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(fill_cases); i++) {
		GError	*err = NULL;
		char	*got = guide_fill(fill_cases[i].text, fill_values,
		    G_N_ELEMENTS(fill_values), fill_cases[i].xml, &err);

		if (fill_cases[i].want == NULL) {
			if (got != NULL)
				fail_msg("\"%s\" gave \"%s\"",
				    fill_cases[i].text, got);
			assert_non_null(err);
			assert_non_null(strstr(err->message,
			    "unknown marker at \"{{"));
			g_error_free(err);
			continue;
		}
		if (got == NULL)
			fail_msg("\"%s\": %s", fill_cases[i].text,
			    err->message);
		assert_null(err);
		if (strcmp(got, fill_cases[i].want) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"",
			    fill_cases[i].text, got, fill_cases[i].want);
		g_free(got);
	}
}

/* The error quotes the marker, so that the typo can be found. */
static void
test_fill_message(void **state)
{
	GError	*err = NULL;

	(void)state;
	assert_null(guide_fill("see {{domian}} here", fill_values,
	    G_N_ELEMENTS(fill_values), FALSE, &err));
	assert_non_null(err);
	assert_string_equal(err->message,
	    "unknown marker at \"{{domian}} here\"");
	g_clear_error(&err);
	/* No values at all: any marker is unknown. */
	assert_null(guide_fill("{{domain}}", NULL, 0, FALSE, &err));
	assert_non_null(err);
	g_error_free(err);
}

/*
 * TRUE if the tags of html are balanced (comments and void elements
 * aside) and every '<' starts a tag: that is, no text got out unescaped.
 */
static gboolean
tags_balanced(const char *html, char **why)
{
	static const char *const void_tags[] = { "br", "hr", "img", "input",
	    "meta", "link" };
	GPtrArray	*stack = g_ptr_array_new_with_free_func(g_free);
	const char	*p = html;
	gboolean	 ok = TRUE;

	*why = NULL;
	while (ok && (p = strchr(p, '<')) != NULL) {
		gboolean	 closing = p[1] == '/';
		const char	*name = p + 1 + closing, *end;
		char		*tag;
		gsize		 i;

		if (g_str_has_prefix(p, "<!--")) {
			if ((end = strstr(p, "-->")) == NULL) {
				*why = g_strdup("unclosed comment");
				ok = FALSE;
				break;
			}
			p = end + 3;
			continue;
		}
		for (end = name; g_ascii_isalnum(*end); end++)
			;
		if (end == name || strchr(end, '>') == NULL) {
			*why = g_strdup_printf("stray '<' at \"%.30s\"", p);
			ok = FALSE;
			break;
		}
		tag = g_strndup(name, end - name);
		p = strchr(end, '>') + 1;
		for (i = 0; i < G_N_ELEMENTS(void_tags); i++)
			if (strcmp(tag, void_tags[i]) == 0)
				break;
		if (i < G_N_ELEMENTS(void_tags) || p[-2] == '/') {
			g_free(tag);
		} else if (!closing) {
			g_ptr_array_add(stack, tag);
		} else if (stack->len == 0 || strcmp(g_ptr_array_index(stack,
		    stack->len - 1), tag) != 0) {
			*why = g_strdup_printf("</%s> closes <%s>", tag,
			    stack->len ? (char *)g_ptr_array_index(stack,
			    stack->len - 1) : "nothing");
			g_free(tag);
			ok = FALSE;
		} else {
			g_ptr_array_remove_index(stack, stack->len - 1);
			g_free(tag);
		}
	}
	if (ok && stack->len > 0) {
		*why = g_strdup_printf("<%s> not closed",
		    (char *)g_ptr_array_index(stack, stack->len - 1));
		ok = FALSE;
	}
	g_ptr_array_unref(stack);
	return ok;
}

/* The table of contents of html (from <nav to </nav>), or NULL. */
static char *
toc_of(const char *html)
{
	const char	*start = strstr(html, "<nav class=\"toc\"");
	const char	*end = start ? strstr(start, "</nav>") : NULL;

	if (end == NULL)
		return NULL;
	return g_strndup(start, end + strlen("</nav>") - start);
}

/*
 * Check the structure of a rendered guide: balanced tags, unique ids,
 * one TOC whose every link leads to a heading id.  Returns the number
 * of TOC links.
 */
static guint
check_structure(const char *html)
{
	GHashTable	*ids = g_hash_table_new_full(g_str_hash, g_str_equal,
			    g_free, NULL);
	char		*toc = toc_of(html), *why;
	const char	*p;
	guint		 links = 0;

	if (!tags_balanced(html, &why))
		fail_msg("%s in:\n%s", why, html);
	assert_non_null(toc);
	/* One table of contents. */
	assert_null(strstr(strstr(html, "</nav>"), "<nav"));
	for (p = html; (p = strstr(p, " id=\"")) != NULL; ) {
		const char	*end = strchr(p + 5, '"');
		char		*id = g_strndup(p + 5, end - p - 5);

		if (g_hash_table_contains(ids, id))
			fail_msg("id \"%s\" twice", id);
		g_hash_table_add(ids, id);
		p = end;
	}
	for (p = toc; (p = strstr(p, "href=\"#")) != NULL; ) {
		const char	*end = strchr(p + 7, '"');
		char		*id = g_strndup(p + 7, end - p - 7);

		if (!g_hash_table_contains(ids, id))
			fail_msg("TOC links to missing id \"%s\"", id);
		g_free(id);
		links++;
		p = end;
	}
	g_free(toc);
	g_hash_table_unref(ids);
	return links;
}

static void
test_render_ids_toc(void **state)
{
	const char	*md =
	    "# Lab guide\n\nIntro.\n\n"
	    "## Étape 1 : le DNS\n\n### Régler le résolveur\n\n"
	    "### Vérifier\n\n### Vérifier\n\n"
	    "## Étape 1 : le DNS\n\n"
	    "## x-2\n\n## x\n\n## x\n\n"
	    "## a < b & c > d\n\n## say \"hi\" to 'me'\n\n"
	    "## ✓\n\n## ✓\n\n"
	    "#### Deep\n\n"
	    "## Last\n\n### Sub\n";
	char		*title, *html, *toc;

	(void)state;
	html = guide_render(md, &title);
	assert_string_equal(title, "Lab guide");
	/* The ids, in order. */
	assert_non_null(strstr(html, "<h1 id=\"lab-guide\">Lab guide</h1>\n"
	    "<nav class=\"toc\""));
	assert_non_null(strstr(html,
	    "<h2 id=\"etape-1-le-dns\">Étape 1 : le DNS</h2>\n"
	    "<h3 id=\"regler-le-resolveur\">Régler le résolveur</h3>\n"
	    "<h3 id=\"verifier\">Vérifier</h3>\n"
	    "<h3 id=\"verifier-2\">Vérifier</h3>\n"
	    "<h2 id=\"etape-1-le-dns-2\">Étape 1 : le DNS</h2>\n"
	    "<h2 id=\"x-2\">x-2</h2>\n"
	    "<h2 id=\"x\">x</h2>\n"
	    "<h2 id=\"x-3\">x</h2>\n"
	    "<h2 id=\"a-b-c-d\">a &lt; b &amp; c &gt; d</h2>\n"
	    "<h2 id=\"say-hi-to-me\">say &quot;hi&quot; to 'me'</h2>\n"
	    "<h2 id=\"section\">✓</h2>\n"
	    "<h2 id=\"section-2\">✓</h2>\n"
	    "<h4 id=\"deep\">Deep</h4>\n"
	    "<h2 id=\"last\">Last</h2>\n"
	    "<h3 id=\"sub\">Sub</h3>\n"));
	/* The TOC: h2 items, h3 nested below their h2, h4 left out. */
	toc = toc_of(html);
	assert_non_null(toc);
	assert_string_equal(toc,
	    "<nav class=\"toc\" aria-label=\"Contents\">\n<ul>\n"
	    "<li><a href=\"#etape-1-le-dns\">Étape 1 : le DNS</a>\n<ul>\n"
	    "<li><a href=\"#regler-le-resolveur\">Régler le résolveur</a></li>\n"
	    "<li><a href=\"#verifier\">Vérifier</a></li>\n"
	    "<li><a href=\"#verifier-2\">Vérifier</a></li>\n"
	    "</ul></li>\n"
	    "<li><a href=\"#etape-1-le-dns-2\">Étape 1 : le DNS</a></li>\n"
	    "<li><a href=\"#x-2\">x-2</a></li>\n"
	    "<li><a href=\"#x\">x</a></li>\n"
	    "<li><a href=\"#x-3\">x</a></li>\n"
	    "<li><a href=\"#a-b-c-d\">a &lt; b &amp; c &gt; d</a></li>\n"
	    "<li><a href=\"#say-hi-to-me\">say &quot;hi&quot; to "
	    "&#39;me&#39;</a></li>\n"
	    "<li><a href=\"#section\">✓</a></li>\n"
	    "<li><a href=\"#section-2\">✓</a></li>\n"
	    "<li><a href=\"#last\">Last</a>\n<ul>\n"
	    "<li><a href=\"#sub\">Sub</a></li>\n"
	    "</ul></li>\n"
	    "</ul>\n</nav>");
	assert_int_equal(check_structure(html), 14);
	g_free(toc);
	g_free(title);
	g_free(html);
}

/* Title: the first h1's text, inline markup and code reduced to text. */
static const struct {
	const char	*md;
	const char	*title;
} title_cases[] = {
	{ "# Plain\n", "Plain" },
	{ "Setext\n======\n", "Setext" },
	{ "## Not it\n\n# *Lab* `smtp` &amp; co\n\n# Second\n",
	    "Lab smtp & co" },
	{ "# A <b>bold</b> move\n", "A bold move" },
	{ "## No h1\n", "" },
	{ "", "" },
};

static void
test_render_title(void **state)
{
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(title_cases); i++) {
		char	*title = NULL, *html;

		html = guide_render(title_cases[i].md, &title);
		assert_non_null(html);
		assert_non_null(title);
		if (strcmp(title, title_cases[i].title) != 0)
			fail_msg("\"%s\": title \"%s\", want \"%s\"",
			    title_cases[i].md, title, title_cases[i].title);
		check_structure(html);
		g_free(title);
		g_free(html);
	}
}

/* An h3 before any h2 has nowhere to go in the TOC; the rest is fine. */
static void
test_render_toc_orphan(void **state)
{
	char	*title, *html, *toc;

	(void)state;
	html = guide_render("# T\n\n### Orphan\n\n## A\n\n### A1\n", &title);
	toc = toc_of(html);
	assert_string_equal(toc,
	    "<nav class=\"toc\" aria-label=\"Contents\">\n<ul>\n"
	    "<li><a href=\"#a\">A</a>\n<ul>\n"
	    "<li><a href=\"#a1\">A1</a></li>\n</ul></li>\n"
	    "</ul>\n</nav>");
	assert_non_null(strstr(html, "<h3 id=\"orphan\">Orphan</h3>"));
	check_structure(html);
	g_free(toc);
	g_free(title);
	g_free(html);
}

/*
 * Headings inside a block quote or a list are headings too: each keeps
 * its own id, and the ones after them are not shifted.
 */
static void
test_render_nested_headings(void **state)
{
	char	*title, *html;

	(void)state;
	html = guide_render("# T\n\n> ## Quoted\n\n- ## Listed\n\n## Last\n",
	    &title);
	assert_non_null(strstr(html, "<h2 id=\"quoted\">Quoted</h2>"));
	assert_non_null(strstr(html, "<h2 id=\"listed\">Listed</h2>"));
	assert_non_null(strstr(html, "<h2 id=\"last\">Last</h2>"));
	assert_non_null(strstr(html, "<a href=\"#last\">Last</a>"));
	assert_int_equal(check_structure(html), 3);
	g_free(title);
	g_free(html);
}

/* Markdown that tries to put HTML or script into the page. */
static const char *const unsafe_md[] = {
	"<script>alert(1)</script>\n",
	"text <script>alert(1)</script> text\n",
	"<img src=x onerror=alert(1)>\n",
	"a <img src=x onerror=alert(1)> b\n",
	"<div onclick=\"alert(1)\">x</div>\n",
	"<iframe src=\"https://evil.example/\"></iframe>\n",
	"[click](javascript:alert(1))\n",
	"[click](JavaScript:alert(1))\n",
	"[click](  javascript:alert(1) )\n",
	"![img](javascript:alert(1))\n",
	"<javascript:alert(1)>\n",
	"[ref]\n\n[ref]: javascript:alert(1)\n",
	"[click](vbscript:msgbox(1))\n",
	"[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)\n",
	"## <script>alert(1)</script>\n",
	"# <img src=x onerror=alert(1)>\n",
	"## [x](javascript:alert(1))\n",
	"<style>body{display:none}</style>\n",
	"<!-- a comment --><script>alert(1)</script>\n",
};

static void
test_render_safe(void **state)
{
	/*
	 * Looked for in the lower-cased page.  A dropped link may keep its
	 * text ("javascript:alert(1)" of an autolink, with href=""): inert,
	 * so only attribute values are looked at for the schemes.
	 */
	static const char *const forbidden[] = { "<script", "<img src=x",
	    "onerror", "onclick", "<iframe", "<div", "<style",
	    "=\"javascript:", "=\"vbscript:", "=\"data:text/html" };
	gsize	i, j;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(unsafe_md); i++) {
		char	*md = g_strconcat("# T\n\n## Step\n\n", unsafe_md[i],
			    NULL);
		char	*title, *html = guide_render(md, &title);
		char	*lower = g_ascii_strdown(html, -1);

		for (j = 0; j < G_N_ELEMENTS(forbidden); j++)
			if (strstr(lower, forbidden[j]) != NULL)
				fail_msg("\"%s\" gave \"%s\" in:\n%s",
				    unsafe_md[i], forbidden[j], html);
		/* The title goes into <title> too: no markup in it either. */
		assert_null(strchr(title, '<'));
		check_structure(html);
		g_free(lower);
		g_free(title);
		g_free(html);
		g_free(md);
	}
}

/* Good links stay, so the filter above is not just dropping all links. */
static void
test_render_links_kept(void **state)
{
	char	*title, *html;

	(void)state;
	html = guide_render("# T\n\n[rfc](https://www.rfc-editor.org/rfc/"
	    "rfc5321) and [step](#etape-1-le-dns) and `<code>`\n", &title);
	assert_non_null(strstr(html,
	    "<a href=\"https://www.rfc-editor.org/rfc/rfc5321\">rfc</a>"));
	assert_non_null(strstr(html, "<a href=\"#etape-1-le-dns\">step</a>"));
	assert_non_null(strstr(html, "<code>&lt;code&gt;</code>"));
	g_free(title);
	g_free(html);
}

/* Pathological Markdown: deep nesting, many headings, long lines. */
static void
test_render_pathological(void **state)
{
	GString	*md = g_string_new("# T\n\n");
	char	*title, *html;
	int	 i;

	(void)state;
	for (i = 0; i < 2000; i++)
		g_string_append(md, "> ");
	g_string_append(md, "deep\n\n");
	for (i = 0; i < 300; i++)
		g_string_append(md, "## Same\n\n### Same\n\n");
	for (i = 0; i < 2000; i++)
		g_string_append(md, "*a **b ");
	g_string_append(md, "\n\n");
	for (i = 0; i < 5000; i++)
		g_string_append(md, "[");
	g_string_append(md, "\n");
	html = guide_render(md->str, &title);
	assert_string_equal(title, "T");
	assert_non_null(strstr(html, "<h2 id=\"same-599\">Same</h2>"));
	assert_non_null(strstr(html, "<h3 id=\"same-600\">Same</h3>"));
	assert_int_equal(check_structure(html), 600);
	g_free(title);
	g_free(html);
	g_string_free(md, TRUE);
}

/* One guide_pick_lang() case. */
static const struct {
	const char	*query;
	const char	*accept;
	const char	*want;
} lang_cases[] = {
	{ NULL, NULL, "fr" },
	{ "en", NULL, "en" },
	{ "fr", NULL, "fr" },
	/* ?lang= wins over Accept-Language when it names a language. */
	{ "fr", "en", "fr" },
	{ "en", "fr", "en" },
	{ "de", "en", "en" },
	{ "", "en", "en" },
	{ "../en", NULL, "fr" },
	/* Accept-Language, q-values honoured. */
	{ NULL, "en-US,en;q=0.9,fr;q=0.8", "en" },
	{ NULL, "fr-FR,fr;q=0.9", "fr" },
	{ NULL, "de", "fr" },
	{ NULL, "de-DE,de;q=0.9", "fr" },
	{ NULL, "en;q=0.1, fr;q=0.5", "fr" },
	{ NULL, "fr;q=0.2,en;q=0.3", "en" },
	{ NULL, "de, en;q=0.5", "en" },
	{ NULL, "de, en;q=0.5, fr;q=0.4", "en" },
	{ NULL, "en-US;q=0.8,fr-CA;q=0.9", "fr" },
	{ NULL, "EN-gb", "en" },
	{ NULL, " en ; q=0.7 , fr;q=0.6 ", "en" },
	{ NULL, "en, fr", "en" },		/* equal: the first */
	{ NULL, "fr, en", "fr" },
	{ NULL, "en;q=0", "fr" },		/* q=0: not acceptable */
	{ NULL, "en;q=0, fr;q=0", "fr" },
	{ NULL, "english", "fr" },
	{ NULL, "*", "fr" },
	{ NULL, "", "fr" },
	{ NULL, ",,;;,=,q=1", "fr" },
	{ NULL, "en;q=", "fr" },
	{ "xx", "en;q=0.001", "en" },
};

static void
test_pick_lang(void **state)
{
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(lang_cases); i++) {
		const char	*got = guide_pick_lang(lang_cases[i].query,
		    lang_cases[i].accept);

		if (got == NULL || strcmp(got, lang_cases[i].want) != 0)
			fail_msg("(%s, %s): got %s, want %s",
			    lang_cases[i].query ? lang_cases[i].query : "NULL",
			    lang_cases[i].accept ? lang_cases[i].accept :
			    "NULL", got ? got : "NULL", lang_cases[i].want);
	}
}

/* A long Accept-Language is bounded, and still understood. */
static void
test_pick_lang_long(void **state)
{
	GString	*accept = g_string_new(NULL);
	int	 i;

	(void)state;
	for (i = 0; i < 20; i++)
		g_string_append(accept, "de;q=0.9, ");
	g_string_append(accept, "en;q=0.5");
	assert_string_equal(guide_pick_lang(NULL, accept->str), "en");
	g_string_truncate(accept, 0);
	for (i = 0; i < 100000; i++)
		g_string_append(accept, "xx,");
	assert_string_equal(guide_pick_lang(NULL, accept->str), "fr");
	g_string_free(accept, TRUE);
}

/* The web/ folder of the repository. */
static char *
web_dir(void)
{
	const char	*top = g_getenv("LABMAIL_TOP");
	char		*cwd = g_get_current_dir(), *dir;

	dir = g_build_filename(top != NULL ? top : cwd, "web", NULL);
	g_free(cwd);
	return dir;
}

/* The real guide with a group's values: filled in, both languages. */
static void
check_real_guide(const struct guide_value *values, gsize n,
    const char *const *want, const char *diagram_want)
{
	char		*dir = web_dir();
	GError		*err = NULL;
	struct guide	*g = guide_load(dir, values, n, &err);
	const char	*langs[] = GUIDE_LANGS;
	GBytes		*svg;
	char		*svg_text;
	gsize		 i, j;

	if (g == NULL)
		fail_msg("guide_load(%s): %s", dir, err->message);
	for (i = 0; i < G_N_ELEMENTS(langs); i++) {
		const char	*html = guide_html(g, langs[i]);
		const char	*title = guide_title(g, langs[i]);

		assert_non_null(html);
		for (j = 0; want[j] != NULL; j++)
			if (strstr(html, want[j]) == NULL)
				fail_msg("%s guide lacks \"%s\"", langs[i],
				    want[j]);
		assert_null(strstr(html, "{{"));
		assert_null(strstr(html, "raw HTML omitted"));
		assert_true(strlen(title) > 0);
		assert_true(check_structure(html) >= 5);
	}
	/* The two languages are different texts. */
	assert_string_not_equal(guide_html(g, "fr"), guide_html(g, "en"));
	assert_string_not_equal(guide_title(g, "fr"), guide_title(g, "en"));
	/* Unknown or no language: the default, French. */
	assert_ptr_equal(guide_html(g, "de"), guide_html(g, "fr"));
	assert_ptr_equal(guide_html(g, NULL), guide_html(g, "fr"));
	assert_ptr_equal(guide_title(g, NULL), guide_title(g, "fr"));

	svg = guide_diagram(g);
	assert_non_null(svg);
	svg_text = g_strndup(g_bytes_get_data(svg, NULL),
	    g_bytes_get_size(svg));
	assert_true(g_str_has_prefix(svg_text, "<svg "));
	assert_non_null(strstr(svg_text, diagram_want));
	assert_null(strstr(svg_text, "{{"));
	g_free(svg_text);
	guide_free(g);
	g_free(dir);
}

static void
test_load_real_181(void **state)
{
	const char	*want[] = { "mail181.com", "192.168.0.81",
	    "172.20.181.1", NULL };

	(void)state;
	check_real_guide(values_181, G_N_ELEMENTS(values_181), want,
	    "172.20.181.1");
}

static void
test_load_real_142(void **state)
{
	const char	*want[] = { "mail142.com", "192.168.0.42",
	    "172.20.142.1", NULL };
	char		*dir = web_dir();
	struct guide	*g;

	(void)state;
	check_real_guide(values_142, G_N_ELEMENTS(values_142), want,
	    "172.20.142.1");
	/* And nothing of group 181 is left. */
	g = guide_load(dir, values_142, G_N_ELEMENTS(values_142), NULL);
	assert_non_null(g);
	assert_null(strstr(guide_html(g, "fr"), "181"));
	assert_null(strstr(guide_html(g, "en"), "181"));
	guide_free(g);
	g_free(dir);
}

/* The diagram's values are XML-escaped; the guide's go through cmark. */
static void
test_load_real_escaping(void **state)
{
	struct guide_value	 values[G_N_ELEMENTS(values_181)];
	char			*dir = web_dir(), *svg_text;
	struct guide		*g;
	GBytes			*svg;
	gsize			 i;

	(void)state;
	memcpy(values, values_181, sizeof(values));
	for (i = 0; i < G_N_ELEMENTS(values); i++)
		if (strcmp(values[i].name, "smtp_alias") == 0)
			values[i].value = "x&y\"z";
	g = guide_load(dir, values, G_N_ELEMENTS(values), NULL);
	assert_non_null(g);
	svg = guide_diagram(g);
	svg_text = g_strndup(g_bytes_get_data(svg, NULL),
	    g_bytes_get_size(svg));
	assert_non_null(strstr(svg_text, "x&amp;y&quot;z"));
	assert_null(strstr(svg_text, "x&y"));
	assert_null(strstr(guide_html(g, "en"), "x&y"));
	g_free(svg_text);
	guide_free(g);
	g_free(dir);
}

/* A missing value is an error that names the file and the marker. */
static void
test_load_real_missing_value(void **state)
{
	char		*dir = web_dir();
	GError		*err = NULL;

	(void)state;
	/* Without its last value (dns_addr). */
	assert_null(guide_load(dir, values_181,
	    G_N_ELEMENTS(values_181) - 1, &err));
	assert_non_null(err);
	assert_non_null(strstr(err->message, "fr.md: unknown marker at "
	    "\"{{dns_addr}}"));
	g_error_free(err);
	g_free(dir);
}

/* Write path below dir (making its folder), or remove it if text NULL. */
static void
put(const char *dir, const char *path, const char *text)
{
	char	*full = g_build_filename(dir, path, NULL);
	char	*parent = g_path_get_dirname(full);

	if (text != NULL) {
		assert_int_equal(g_mkdir_with_parents(parent, 0700), 0);
		assert_true(g_file_set_contents(full, text, -1, NULL));
	} else
		g_unlink(full);
	g_free(parent);
	g_free(full);
}

/* guide_load() on a folder of our own: each missing or bad file fails. */
static void
test_load_errors(void **state)
{
	static const struct guide_value v[] = { { "x", "1 < 2" } };
	char		*dir = g_dir_make_tmp("test_guide-XXXXXX", NULL);
	char		*sub;
	GError		*err = NULL;
	struct guide	*g;
	GBytes		*svg;

	(void)state;
	assert_non_null(dir);
	put(dir, "guide/fr.md", "# Titre {{x}}\n\n## Un\n");
	put(dir, "guide/en.md", "# Title {{x}}\n\n## One\n");
	put(dir, "diagram.svg", "<svg><text>{{x}}</text></svg>");
	g = guide_load(dir, v, 1, &err);
	assert_non_null(g);
	assert_string_equal(guide_title(g, "fr"), "Titre 1 < 2");
	assert_string_equal(guide_title(g, "en"), "Title 1 < 2");
	assert_non_null(strstr(guide_html(g, "en"),
	    "<h1 id=\"title-1-2\">Title 1 &lt; 2</h1>"));
	svg = guide_diagram(g);
	assert_int_equal(g_bytes_get_size(svg),
	    strlen("<svg><text>1 &lt; 2</text></svg>"));
	assert_memory_equal(g_bytes_get_data(svg, NULL),
	    "<svg><text>1 &lt; 2</text></svg>", g_bytes_get_size(svg));
	guide_free(g);

	/* An unknown marker in the diagram, then a missing file. */
	put(dir, "diagram.svg", "<svg>{{y}}</svg>");
	assert_null(guide_load(dir, v, 1, &err));
	assert_non_null(strstr(err->message, "diagram.svg: unknown marker"));
	g_clear_error(&err);
	put(dir, "diagram.svg", NULL);
	assert_null(guide_load(dir, v, 1, &err));
	assert_true(g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT));
	g_clear_error(&err);
	put(dir, "guide/en.md", "# {{x}\n");
	assert_null(guide_load(dir, v, 1, &err));
	assert_non_null(strstr(err->message, "en.md: unknown marker"));
	g_clear_error(&err);
	put(dir, "guide/en.md", NULL);
	assert_null(guide_load(dir, v, 1, &err));
	assert_non_null(strstr(err->message, "en.md"));
	g_clear_error(&err);
	put(dir, "guide/fr.md", NULL);
	assert_null(guide_load(dir, v, 1, &err));
	assert_non_null(strstr(err->message, "fr.md"));
	g_clear_error(&err);
	guide_free(NULL);

	sub = g_build_filename(dir, "guide", NULL);
	assert_int_equal(g_rmdir(sub), 0);
	assert_int_equal(g_rmdir(dir), 0);
	g_free(sub);
	g_free(dir);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_fill),
		cmocka_unit_test(test_fill_message),
		cmocka_unit_test(test_render_ids_toc),
		cmocka_unit_test(test_render_title),
		cmocka_unit_test(test_render_toc_orphan),
		cmocka_unit_test(test_render_nested_headings),
		cmocka_unit_test(test_render_safe),
		cmocka_unit_test(test_render_links_kept),
		cmocka_unit_test(test_render_pathological),
		cmocka_unit_test(test_pick_lang),
		cmocka_unit_test(test_pick_lang_long),
		cmocka_unit_test(test_load_real_181),
		cmocka_unit_test(test_load_real_142),
		cmocka_unit_test(test_load_real_escaping),
		cmocka_unit_test(test_load_real_missing_value),
		cmocka_unit_test(test_load_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
