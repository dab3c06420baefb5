/*
 * guide - the lab's step-by-step guide, Markdown rendered with libcmark.
 *
 * At start-up the guide of each language (web/guide/LANG.md) and the
 * network diagram (web/diagram.svg) get the group's values filled in at
 * their {{name}} markers, and the guide is rendered once, in cmark's safe
 * mode (raw HTML and dangerous links dropped), with stable ids on the
 * headings and a table of contents in front.  Requests are then served
 * from memory.
 *
 * Ownership: struct guide owns the rendered pages; accessors return
 * borrowed values that live as long as it does.
 */
#ifndef LABMAIL_GUIDE_H
#define LABMAIL_GUIDE_H

#include <glib.h>

/* The guide's languages; the first is the default. */
#define GUIDE_LANGS	{ "fr", "en" }
#define GUIDE_N_LANGS	2

struct guide_value {
	const char	*name;		/* marker name: "domain" */
	const char	*value;		/* "mail181.com" */
};

struct guide;

/* Load and render from web_dir; FALSE on a missing file or marker. */
struct guide	*guide_load(const char *web_dir,
		    const struct guide_value *values, gsize n_values,
		    GError **err);
void		 guide_free(struct guide *);

/* The rendered article (title, table of contents, steps). */
const char	*guide_html(const struct guide *, const char *lang);
/* The text of the guide's first-level heading. */
const char	*guide_title(const struct guide *, const char *lang);
/* The diagram, values filled in (XML-escaped). */
GBytes		*guide_diagram(const struct guide *);

/*
 * Choose the language: ?lang= if it names one, else the best of
 * Accept-Language (q-values honoured), else the default.  Either argument
 * may be NULL.  Returns a static string.
 */
const char	*guide_pick_lang(const char *query_lang,
		    const char *accept_language);

/*
 * Pure parts, exposed for the unit tests.  guide_fill() replaces every
 * {{name}} by its value (escaped for XML if xml) and fails on an unknown
 * name; guide_render() turns Markdown into the article HTML.
 */
char		*guide_fill(const char *text, const struct guide_value *,
		    gsize n_values, gboolean xml, GError **err);
char		*guide_render(const char *markdown, char **title);

#endif
