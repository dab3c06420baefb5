/*
 * tmpl - templates parsed once into literal and marker pieces.
 */
#include <stdarg.h>
#include <string.h>

#include "tmpl.h"

struct piece {
	char		*text;		/* literal text, or a marker's name */
	gboolean	 is_marker;
};

struct tmpl {
	GArray		*pieces;	/* struct piece */
};

struct value {
	char		*text;
	gboolean	 is_html;
};

struct tmpl_vars {
	GHashTable	*values;	/* name -> struct value * */
};

#define MARKER_OPEN	"{{"
#define MARKER_CLOSE	"}}"

/* Free one piece's text (GArray clear function). */
static void
piece_clear(gpointer p)
{
	g_free(((struct piece *)p)->text);
}

/* Append a literal or a marker piece. */
static void
add_piece(struct tmpl *t, const char *text, gsize len, gboolean is_marker)
{
	struct piece	p = { g_strndup(text, len), is_marker };

	if (len > 0)
		g_array_append_val(t->pieces, p);
	else
		g_free(p.text);
}

/* TRUE if name is a marker name: letters, digits, '_'. */
static gboolean
valid_name(const char *s, gsize len)
{
	gsize	i;

	for (i = 0; i < len; i++)
		if (!g_ascii_isalnum(s[i]) && s[i] != '_')
			return FALSE;
	return len > 0;
}

struct tmpl *
tmpl_parse(const char *text, GError **err)
{
	struct tmpl	*t = g_new0(struct tmpl, 1);
	const char	*p = text, *open, *close;

	t->pieces = g_array_new(FALSE, FALSE, sizeof(struct piece));
	g_array_set_clear_func(t->pieces, piece_clear);
	while ((open = strstr(p, MARKER_OPEN)) != NULL) {
		add_piece(t, p, open - p, FALSE);
		open += strlen(MARKER_OPEN);
		close = strstr(open, MARKER_CLOSE);
		if (close == NULL || !valid_name(open, close - open)) {
			g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
			    "bad marker at offset %ld", (long)(open - text));
			tmpl_free(t);
			return NULL;
		}
		add_piece(t, open, close - open, TRUE);
		p = close + strlen(MARKER_CLOSE);
	}
	add_piece(t, p, strlen(p), FALSE);
	return t;
}

struct tmpl *
tmpl_load(const char *path, GError **err)
{
	char		*text;
	struct tmpl	*t;

	if (!g_file_get_contents(path, &text, NULL, err))
		return NULL;
	t = tmpl_parse(text, err);
	if (t == NULL)
		g_prefix_error(err, "%s: ", path);
	g_free(text);
	return t;
}

void
tmpl_free(struct tmpl *t)
{
	if (t == NULL)
		return;
	g_array_unref(t->pieces);
	g_free(t);
}

/* Free a struct value (hash table destroy function). */
static void
value_free(gpointer p)
{
	struct value	*v = p;

	g_free(v->text);
	g_free(v);
}

struct tmpl_vars *
tmpl_vars_new(void)
{
	struct tmpl_vars	*vars = g_new0(struct tmpl_vars, 1);

	vars->values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    value_free);
	return vars;
}

void
tmpl_vars_free(struct tmpl_vars *vars)
{
	if (vars == NULL)
		return;
	g_hash_table_unref(vars->values);
	g_free(vars);
}

/*
 * Store a value (taken over), replacing any earlier one of that name.
 * A page that renders a row template sets the same names again for
 * each row: the entry is then reused, not made anew.
 */
static void
set_value_take(struct tmpl_vars *vars, const char *name, char *text,
    gboolean is_html)
{
	struct value	*v = g_hash_table_lookup(vars->values, name);

	if (v == NULL) {
		v = g_new(struct value, 1);
		g_hash_table_insert(vars->values, g_strdup(name), v);
	} else
		g_free(v->text);
	v->text = text;
	v->is_html = is_html;
}

void
tmpl_set(struct tmpl_vars *vars, const char *name, const char *text)
{
	set_value_take(vars, name, g_strdup(text != NULL ? text : ""), FALSE);
}

void
tmpl_setf(struct tmpl_vars *vars, const char *name, const char *fmt, ...)
{
	char	 buf[128];
	va_list	 ap, again;
	int	 n;

	/* Most values are short: format on the stack, copy once. */
	va_start(ap, fmt);
	va_copy(again, ap);
	n = g_vsnprintf(buf, sizeof(buf), fmt, ap);
	set_value_take(vars, name, n >= 0 && (gsize)n < sizeof(buf) ?
	    g_strndup(buf, n) : g_strdup_vprintf(fmt, again), FALSE);
	va_end(again);
	va_end(ap);
}

void
tmpl_set_html(struct tmpl_vars *vars, const char *name, const char *html)
{
	set_value_take(vars, name, g_strdup(html != NULL ? html : ""), TRUE);
}

void
tmpl_render(const struct tmpl *t, const struct tmpl_vars *vars,
    GString *out)
{
	const struct value	*v;
	guint			 i;

	for (i = 0; i < t->pieces->len; i++) {
		const struct piece *p = &g_array_index(t->pieces,
		    struct piece, i);

		if (!p->is_marker)
			g_string_append(out, p->text);
		else if ((v = g_hash_table_lookup(vars->values,
		    p->text)) == NULL)
			continue;
		else if (v->is_html)
			g_string_append(out, v->text);
		else
			tmpl_escape(out, v->text);
	}
}

void
tmpl_escape(GString *out, const char *text)
{
	const char	*p = text;
	gsize		 run;

	for (;;) {
		/* The bytes that need no escaping go in one piece. */
		run = strcspn(p, "&<>\"'");
		g_string_append_len(out, p, run);
		p += run;
		switch (*p) {
		case '\0':
			return;
		case '&':
			g_string_append(out, "&amp;");
			break;
		case '<':
			g_string_append(out, "&lt;");
			break;
		case '>':
			g_string_append(out, "&gt;");
			break;
		case '"':
			g_string_append(out, "&quot;");
			break;
		default:	/* '\'' */
			g_string_append(out, "&#39;");
		}
		p++;
	}
}
