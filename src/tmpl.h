/*
 * tmpl - HTML templates with escaping by default.
 *
 * A template is a text file in web/templates/ with {{name}} markers.
 * Values are set in a struct tmpl_vars and escaped for HTML when the
 * template is rendered, unless set with tmpl_set_html(), which says that
 * the caller built the value as safe HTML (grep for tmpl_set_html to
 * review every such place).  A marker with no value renders as nothing.
 *
 * Ownership: tmpl_load() returns a template the caller frees with
 * tmpl_free(); templates are immutable and may be rendered from several
 * threads at once.  tmpl_vars copy what they are given.
 */
#ifndef LABMAIL_TMPL_H
#define LABMAIL_TMPL_H

#include <glib.h>

struct tmpl;
struct tmpl_vars;

/* Parse a template from text; FALSE on an unclosed or empty marker. */
struct tmpl	*tmpl_parse(const char *text, GError **err);
struct tmpl	*tmpl_load(const char *path, GError **err);
void		 tmpl_free(struct tmpl *);

struct tmpl_vars *tmpl_vars_new(void);
void		 tmpl_vars_free(struct tmpl_vars *);
/* Set a text value: escaped at render time. */
void		 tmpl_set(struct tmpl_vars *, const char *name,
		    const char *text);
void		 tmpl_setf(struct tmpl_vars *, const char *name,
		    const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* SAFE HTML: the caller vouches that html is well-formed and inert. */
void		 tmpl_set_html(struct tmpl_vars *, const char *name,
		    const char *html);

/* Append the rendered template to out. */
void		 tmpl_render(const struct tmpl *, const struct tmpl_vars *,
		    GString *out);

/* Append text to out with & < > " ' escaped. */
void		 tmpl_escape(GString *out, const char *text);

#endif
