/*
 * guide - fill in the group's values, render with cmark, add the table
 * of contents and the heading ids.
 */
#include <string.h>

#include <cmark.h>

#include "guide.h"
#include "tmpl.h"

static const char *const guide_langs[GUIDE_N_LANGS] = GUIDE_LANGS;

struct guide {
	char	*html[GUIDE_N_LANGS];
	char	*title[GUIDE_N_LANGS];
	GBytes	*diagram;
};

/* One heading of the guide, for the table of contents. */
struct heading {
	int	 level;
	char	*text;
	char	*slug;
};

/* Index of lang in guide_langs, or -1. */
static int
lang_index(const char *lang)
{
	int	i;

	for (i = 0; lang != NULL && i < GUIDE_N_LANGS; i++)
		if (strcmp(lang, guide_langs[i]) == 0)
			return i;
	return -1;
}

char *
guide_fill(const char *text, const struct guide_value *values,
    gsize n_values, gboolean xml, GError **err)
{
	GString		*out = g_string_new(NULL);
	const char	*p = text, *open, *close;
	gsize		 i;

	while ((open = strstr(p, "{{")) != NULL) {
		g_string_append_len(out, p, open - p);
		close = strstr(open + 2, "}}");
		for (i = 0; close != NULL && i < n_values; i++)
			if (strlen(values[i].name) == (gsize)(close - open - 2) &&
			    strncmp(open + 2, values[i].name,
			    close - open - 2) == 0)
				break;
		/* A typo in a marker would show students "{{domian}}". */
		if (close == NULL || i == n_values) {
			g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
			    "unknown marker at \"%.20s\"", open);
			g_string_free(out, TRUE);
			return NULL;
		}
		if (xml)
			tmpl_escape(out, values[i].value);
		else
			g_string_append(out, values[i].value);
		p = close + 2;
	}
	g_string_append(out, p);
	return g_string_free(out, FALSE);
}

/* Append the plain text below node (text, code, breaks as spaces). */
static void
node_text(cmark_node *node, GString *out)
{
	cmark_node	*child;

	switch (cmark_node_get_type(node)) {
	case CMARK_NODE_TEXT:
	case CMARK_NODE_CODE:
		g_string_append(out, cmark_node_get_literal(node));
		return;
	case CMARK_NODE_SOFTBREAK:
	case CMARK_NODE_LINEBREAK:
		g_string_append_c(out, ' ');
		return;
	default:
		break;
	}
	for (child = cmark_node_first_child(node); child != NULL;
	    child = cmark_node_next(child))
		node_text(child, out);
}

/* A stable anchor: ASCII letters and digits joined by '-'. */
static char *
slugify(const char *text, GHashTable *seen)
{
	char	*ascii = g_str_to_ascii(text, "C");
	GString	*slug = g_string_new(NULL);
	char	*p, *base;
	int	 n = 2;

	for (p = ascii; *p != '\0'; p++) {
		if (g_ascii_isalnum(*p))
			g_string_append_c(slug, g_ascii_tolower(*p));
		else if (slug->len > 0 && slug->str[slug->len - 1] != '-')
			g_string_append_c(slug, '-');
	}
	while (slug->len > 0 && slug->str[slug->len - 1] == '-')
		g_string_truncate(slug, slug->len - 1);
	if (slug->len == 0)
		g_string_append(slug, "section");
	base = g_strdup(slug->str);
	while (g_hash_table_contains(seen, slug->str))
		g_string_printf(slug, "%s-%d", base, n++);
	g_free(base);
	g_free(ascii);
	g_hash_table_add(seen, g_strdup(slug->str));
	return g_string_free(slug, FALSE);
}

/* Free one heading (GArray clear function). */
static void
heading_clear(gpointer p)
{
	struct heading	*h = p;

	g_free(h->text);
	g_free(h->slug);
}

/*
 * The headings of the document, in the order of the HTML.  The whole
 * tree is walked, not only the top level: a heading inside a block
 * quote or a list item is a bare <hN> too, and skipping it would shift
 * every later id by one.
 */
static GArray *
collect_headings(cmark_node *doc)
{
	GArray		*headings = g_array_new(FALSE, FALSE,
			    sizeof(struct heading));
	GHashTable	*seen = g_hash_table_new_full(g_str_hash, g_str_equal,
			    g_free, NULL);
	cmark_iter	*iter = cmark_iter_new(doc);
	cmark_event_type ev;
	cmark_node	*node;

	g_array_set_clear_func(headings, heading_clear);
	while ((ev = cmark_iter_next(iter)) != CMARK_EVENT_DONE) {
		struct heading	 h;
		GString		*text;

		node = cmark_iter_get_node(iter);
		if (ev != CMARK_EVENT_ENTER ||
		    cmark_node_get_type(node) != CMARK_NODE_HEADING)
			continue;
		text = g_string_new(NULL);
		node_text(node, text);
		h.level = cmark_node_get_heading_level(node);
		h.text = g_string_free(text, FALSE);
		h.slug = slugify(h.text, seen);
		g_array_append_val(headings, h);
	}
	cmark_iter_free(iter);
	g_hash_table_unref(seen);
	return headings;
}

/*
 * Give each <hN> its id.  cmark writes headings as bare "<hN>" and, in
 * safe mode, no text of the source can produce that sequence (it is
 * escaped), so the Nth bare heading tag is the Nth heading.
 */
static GString *
add_heading_ids(const char *html, GArray *headings)
{
	GString		*out = g_string_new(NULL);
	const char	*p = html;
	guint		 i;

	for (i = 0; i < headings->len; i++) {
		struct heading	*h = &g_array_index(headings, struct heading, i);
		char		 tag[8];
		const char	*at;

		g_snprintf(tag, sizeof(tag), "<h%d>", h->level);
		if ((at = strstr(p, tag)) == NULL)
			break;
		g_string_append_len(out, p, at - p);
		g_string_append_printf(out, "<h%d id=\"", h->level);
		tmpl_escape(out, h->slug);
		g_string_append(out, "\">");
		p = at + strlen(tag);
	}
	g_string_append(out, p);
	return out;
}

/* The table of contents: level-2 headings, each with its level-3 ones.
 * Not numbered: the headings carry the lab's own numbers ("Step 0"). */
static void
append_toc(GString *out, GArray *headings)
{
	gboolean	in_item = FALSE, in_sublist = FALSE;
	guint		i;

	g_string_append(out, "<nav class=\"toc\" aria-label=\"Contents\">"
	    "\n<ul>\n");
	for (i = 0; i < headings->len; i++) {
		struct heading	*h = &g_array_index(headings, struct heading, i);

		if (h->level < 2 || h->level > 3 || (h->level == 3 && !in_item))
			continue;
		if (h->level == 2) {
			if (in_sublist)
				g_string_append(out, "</ul>");
			if (in_item)
				g_string_append(out, "</li>\n");
			in_item = TRUE;
			in_sublist = FALSE;
		} else if (!in_sublist) {
			g_string_append(out, "\n<ul>\n");
			in_sublist = TRUE;
		}
		g_string_append(out, "<li><a href=\"#");
		tmpl_escape(out, h->slug);
		g_string_append(out, "\">");
		tmpl_escape(out, h->text);
		g_string_append(out, h->level == 3 ? "</a></li>\n" : "</a>");
	}
	if (in_sublist)
		g_string_append(out, "</ul>");
	if (in_item)
		g_string_append(out, "</li>\n");
	g_string_append(out, "</ul>\n</nav>\n");
}

char *
guide_render(const char *markdown, char **title)
{
	cmark_node	*doc;
	GArray		*headings;
	GString		*body, *out;
	char		*html;
	const char	*after_title;
	guint		 i;

	/* Default options: safe mode, raw HTML and javascript: dropped. */
	doc = cmark_parse_document(markdown, strlen(markdown),
	    CMARK_OPT_VALIDATE_UTF8);
	headings = collect_headings(doc);
	html = cmark_render_html(doc, CMARK_OPT_DEFAULT);
	body = add_heading_ids(html, headings);

	*title = NULL;
	for (i = 0; i < headings->len && *title == NULL; i++)
		if (g_array_index(headings, struct heading, i).level == 1)
			*title = g_strdup(g_array_index(headings,
			    struct heading, i).text);
	if (*title == NULL)
		*title = g_strdup("");

	/* The table of contents goes right after the title. */
	out = g_string_new(NULL);
	after_title = strstr(body->str, "</h1>\n");
	if (after_title != NULL) {
		after_title += strlen("</h1>\n");
		g_string_append_len(out, body->str, after_title - body->str);
	} else
		after_title = body->str;
	append_toc(out, headings);
	g_string_append(out, after_title);

	g_string_free(body, TRUE);
	free(html);
	g_array_unref(headings);
	cmark_node_free(doc);
	return g_string_free(out, FALSE);
}

/* Read path and fill in the values. */
static char *
load_filled(const char *path, const struct guide_value *values,
    gsize n_values, gboolean xml, GError **err)
{
	char	*text, *filled;

	if (!g_file_get_contents(path, &text, NULL, err))
		return NULL;
	filled = guide_fill(text, values, n_values, xml, err);
	if (filled == NULL)
		g_prefix_error(err, "%s: ", path);
	g_free(text);
	return filled;
}

struct guide *
guide_load(const char *web_dir, const struct guide_value *values,
    gsize n_values, GError **err)
{
	struct guide	*g = g_new0(struct guide, 1);
	char		*path, *text;
	int		 i;

	for (i = 0; i < GUIDE_N_LANGS; i++) {
		path = g_strdup_printf("%s/guide/%s.md", web_dir,
		    guide_langs[i]);
		text = load_filled(path, values, n_values, FALSE, err);
		g_free(path);
		if (text == NULL)
			goto fail;
		g->html[i] = guide_render(text, &g->title[i]);
		g_free(text);
	}
	path = g_build_filename(web_dir, "diagram.svg", NULL);
	text = load_filled(path, values, n_values, TRUE, err);
	g_free(path);
	if (text == NULL)
		goto fail;
	g->diagram = g_bytes_new_take(text, strlen(text));
	return g;
fail:
	guide_free(g);
	return NULL;
}

void
guide_free(struct guide *g)
{
	int	i;

	if (g == NULL)
		return;
	for (i = 0; i < GUIDE_N_LANGS; i++) {
		g_free(g->html[i]);
		g_free(g->title[i]);
	}
	g_clear_pointer(&g->diagram, g_bytes_unref);
	g_free(g);
}

const char *
guide_html(const struct guide *g, const char *lang)
{
	int	i = lang_index(lang);

	return g->html[i < 0 ? 0 : i];
}

const char *
guide_title(const struct guide *g, const char *lang)
{
	int	i = lang_index(lang);

	return g->title[i < 0 ? 0 : i];
}

GBytes *
guide_diagram(const struct guide *g)
{
	return g->diagram;
}

/* The q-value of one Accept-Language item ("fr-FR;q=0.8"), 1 if none. */
static double
item_quality(const char *params)
{
	const char	*q = strstr(params, "q=");

	return q != NULL ? g_ascii_strtod(q + 2, NULL) : 1.0;
}

const char *
guide_pick_lang(const char *query_lang, const char *accept_language)
{
	char		**items;
	const char	*best = guide_langs[0];
	double		 best_q = 0.0;
	int		 i, l;

	if ((l = lang_index(query_lang)) >= 0)
		return guide_langs[l];
	if (accept_language == NULL)
		return best;
	items = g_strsplit(accept_language, ",", 32);
	for (i = 0; items[i] != NULL; i++) {
		char	*item = g_strstrip(items[i]);
		char	*semi = strchr(item, ';');
		char	*dash = strchr(item, '-');
		double	 q = item_quality(semi != NULL ? semi : "");

		if (semi != NULL)
			*semi = '\0';
		if (dash != NULL)
			*dash = '\0';
		g_strstrip(item);
		item = g_ascii_strdown(item, -1);
		l = lang_index(item);
		g_free(item);
		if (l >= 0 && q > best_q) {
			best = guide_langs[l];
			best_q = q;
		}
	}
	g_strfreev(items);
	return best;
}
