/*
 * route_inbox - the logged-in user's spool: the list, a message, its raw
 * source and its parts.
 *
 * Every page asks the helper for the spool with the session's token (it
 * never names a user or a path), brings the user's index up to date
 * (only new bytes are read when the spool has only grown) and renders.
 * URLs: /inbox?page=P, /inbox/N, /inbox/N/raw, /inbox/N/part/K and
 * /inbox/N/part/K/view (an HTML part, for a sandboxed frame).  N counts
 * from the oldest message, so a message keeps its URL when mail arrives.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "csrf.h"
#include "log.h"
#include "mailview.h"
#include "priv.h"
#include "routes.h"
#include "spool.h"

#define INBOX_PAGE_SIZE		50
#define INBOX_CACHE_USERS	64	/* indexes kept in memory */
#define INBOX_SEEN_COOKIE	"labmail_seen"
#define INBOX_SEEN_MAX_AGE	(365 * 24 * 3600)

/* One user's index; its lock serialises the pages that use it. */
struct inbox_entry {
	GMutex			 lock;
	gint			 users;	/* pages holding or awaiting lock
					 * (atomic; raised under the
					 * cache's lock) */
	struct spool_index	*index;
};

struct inbox_cache {
	GMutex		 lock;
	GHashTable	*users;		/* user -> struct inbox_entry * */
};

/* What a page of the inbox works with. */
struct mailbox {
	char			*user;
	int			 fd;	/* -1: no spool yet */
	struct inbox_entry	*entry;	/* locked while the page runs */
};

/* Free an entry (hash table destroy function). */
static void
entry_free(gpointer p)
{
	struct inbox_entry	*e = p;

	spool_index_free(e->index);
	g_mutex_clear(&e->lock);
	g_free(e);
}

struct inbox_cache *
inbox_cache_new(void)
{
	struct inbox_cache	*c = g_new0(struct inbox_cache, 1);

	g_mutex_init(&c->lock);
	c->users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    entry_free);
	return c;
}

void
inbox_cache_free(struct inbox_cache *c)
{
	if (c == NULL)
		return;
	g_hash_table_unref(c->users);
	g_mutex_clear(&c->lock);
	g_free(c);
}

/* GHRFunc: TRUE for an entry that no page holds or waits for. */
static gboolean
entry_unused(gpointer key, gpointer value, gpointer data)
{
	(void)key; (void)data;
	return g_atomic_int_get(&((struct inbox_entry *)value)->users) == 0;
}

/*
 * The user's entry, made if missing, returned locked.  Bounded memory:
 * past the limit, the entries no page uses go.  A page counts itself
 * in users before it lets go of the cache's lock, so no entry can be
 * freed between its lookup and its lock.
 */
static struct inbox_entry *
entry_lock(struct inbox_cache *c, const char *user)
{
	struct inbox_entry	*e;

	g_mutex_lock(&c->lock);
	if ((e = g_hash_table_lookup(c->users, user)) == NULL) {
		if (g_hash_table_size(c->users) >= INBOX_CACHE_USERS)
			g_hash_table_foreach_remove(c->users, entry_unused,
			    NULL);
		e = g_new0(struct inbox_entry, 1);
		g_mutex_init(&e->lock);
		e->index = spool_index_new();
		g_hash_table_insert(c->users, g_strdup(user), e);
	}
	g_atomic_int_inc(&e->users);
	g_mutex_unlock(&c->lock);
	g_mutex_lock(&e->lock);
	return e;
}

/* Release what mailbox_open() took. */
static void
mailbox_close(struct mailbox *mb)
{
	if (mb->entry != NULL) {
		g_mutex_unlock(&mb->entry->lock);
		/* The last use: from here the cache may free the entry. */
		(void)g_atomic_int_dec_and_test(&mb->entry->users);
	}
	if (mb->fd != -1)
		close(mb->fd);
	g_free(mb->user);
}

/* An error page for a spool we could not read. */
static void
spool_trouble(const struct app *app, const struct http_request *req,
    struct http_response *resp, int status, const char *text)
{
	struct tmpl_vars	*vars = tmpl_vars_new();

	tmpl_set(vars, "text", text);
	app_page(app, req, resp, status, "Mailbox", "inbox-trouble", vars);
	tmpl_vars_free(vars);
}

/*
 * Who is logged in, their spool and their up-to-date index; or answer
 * the request (login form, error page) and return FALSE.
 */
static gboolean
mailbox_open(const struct app *app, const struct http_request *req,
    struct http_response *resp, struct mailbox *mb)
{
	const char	*token = http_cookie(req, APP_SESSION_COOKIE);
	GError		*err = NULL;
	enum priv_status st;

	memset(mb, 0, sizeof(*mb));
	mb->fd = -1;
	if ((mb->user = app_user(app, req, resp)) == NULL) {
		route_login_page(app, req, resp, 401,
		    "Log in to read your mail.");
		return FALSE;
	}
	st = priv_open_spool(app->priv, token, &mb->fd);
	if (st == PRIV_BAD_SPOOL) {
		spool_trouble(app, req, resp, 500, "Your mailbox is not a "
		    "regular file that belongs to you, so labmail will not "
		    "read it.");
		mailbox_close(mb);
		return FALSE;
	}
	if (st != PRIV_OK && st != PRIV_NO_SPOOL) {
		route_login_page(app, req, resp, 401,
		    "Your session has ended: log in again.");
		mailbox_close(mb);
		return FALSE;
	}
	mb->entry = entry_lock(app->inbox, mb->user);
	if (mb->fd != -1 && !spool_index_update(mb->entry->index, mb->fd,
	    NULL, &err)) {
		spool_trouble(app, req, resp, err->code == SPOOL_ERROR_LOCKED ?
		    503 : 500, err->code == SPOOL_ERROR_LOCKED ?
		    "Mail is being delivered right now: reload in a moment." :
		    "Your mailbox could not be read.");
		g_error_free(err);
		mailbox_close(mb);
		return FALSE;
	}
	return TRUE;
}

/* Messages in the spool (0 if there is none yet). */
static guint
mailbox_count(const struct mailbox *mb)
{
	return mb->fd == -1 ? 0 : spool_count(mb->entry->index);
}

/* Parse a number in [1, max]; FALSE for anything else. */
static gboolean
parse_number(const char *s, guint max, guint *out)
{
	guint64	n;

	if (s == NULL || !g_ascii_string_to_unsigned(s, 10, 1, MAX(max, 1),
	    &n, NULL) || n > max)
		return FALSE;
	*out = (guint)n;
	return TRUE;
}

/* The offset where the spool ended at the user's last visit, or -1. */
static gint64
seen_offset(const struct http_request *req, const char *user)
{
	const char	*c = http_cookie(req, INBOX_SEEN_COOKIE);
	const char	*dot;
	gint64		 off;

	/* "user.offset": another user's cookie in the same browser does
	 * not count. */
	if (c == NULL || (dot = strrchr(c, '.')) == NULL ||
	    (gsize)(dot - c) != strlen(user) ||
	    strncmp(c, user, dot - c) != 0 ||
	    !g_ascii_string_to_signed(dot + 1, 10, 0, G_MAXINT64, &off, NULL))
		return -1;
	return off;
}

/* A date for the list: ISO for the optional script, UTC text for all. */
static void
set_date_vars(struct tmpl_vars *vars, gint64 when)
{
	GDateTime	*dt = when > 0 ? g_date_time_new_from_unix_utc(when) :
			    NULL;
	char		*iso, *text;

	if (dt == NULL) {
		tmpl_set(vars, "iso", "");
		tmpl_set(vars, "date", "(no date)");
		return;
	}
	iso = g_date_time_format_iso8601(dt);
	text = g_date_time_format(dt, "%Y-%m-%d %H:%M UTC");
	tmpl_set(vars, "iso", iso);
	tmpl_set(vars, "date", text);
	g_free(iso);
	g_free(text);
	g_date_time_unref(dt);
}

/* One row of the list; clip marks a message with attachments. */
static void
render_row(const struct app *app, struct mailbox *mb, guint n,
    gint64 seen, const char *clip, struct tmpl_vars *vars, GString *out)
{
	const struct spool_message	*m = spool_message(mb->entry->index, n);
	const struct spool_summary	*s;
	char				*size;

	s = spool_summary(mb->entry->index, mb->fd, n, NULL);
	tmpl_setf(vars, "n", "%u", n);
	tmpl_set(vars, "new", seen >= 0 && (gint64)m->offset >= seen ?
	    "new" : "");
	tmpl_set(vars, "from_name", s && *s->from_name ? s->from_name :
	    s ? s->from_addr : "?");
	tmpl_set(vars, "from_addr", s && *s->from_name ? s->from_addr : "");
	tmpl_set(vars, "subject", s && *s->subject ? s->subject :
	    "(no subject)");
	/* SAFE: made by app_icon(). */
	tmpl_set_html(vars, "attachment", s && s->has_attachment ? clip : "");
	set_date_vars(vars, s ? s->date : 0);
	size = g_format_size(m->length);
	tmpl_set(vars, "size", size);
	g_free(size);
	tmpl_render(app_template(app, "inbox-row"), vars, out);
}

void
route_inbox(const struct app *app, const struct http_request *req,
    struct http_response *resp)
{
	struct mailbox		 mb;
	struct tmpl_vars	*vars;
	GString			*rows;
	const char		*page_arg = http_query(req, "page");
	guint			 count, pages, page = 1, first, last, n;
	gint64			 seen;
	char			*cookie, *token, *clip;

	if (!mailbox_open(app, req, resp, &mb))
		return;
	count = mailbox_count(&mb);
	pages = MAX(1, (count + INBOX_PAGE_SIZE - 1) / INBOX_PAGE_SIZE);
	if (page_arg != NULL && !parse_number(page_arg, pages, &page)) {
		app_error(app, req, resp, 404);
		mailbox_close(&mb);
		return;
	}
	seen = seen_offset(req, mb.user);
	vars = tmpl_vars_new();
	/* The rows' links need it before app_page() sets it. */
	tmpl_set(vars, "base", req->prefix);
	rows = g_string_new(NULL);
	clip = app_icon(app, req, "attachment", "attachment");
	/* Newest first: page 1 holds the highest numbers. */
	first = count - (page - 1) * INBOX_PAGE_SIZE;
	last = first > INBOX_PAGE_SIZE ? first - INBOX_PAGE_SIZE + 1 : 1;
	for (n = first; count > 0 && n >= last; n--)
		render_row(app, &mb, n, seen, clip, vars, rows);
	g_free(clip);
	tmpl_set(vars, "user", mb.user);
	tmpl_setf(vars, "count", "%u message%s", count, count == 1 ? "" : "s");
	tmpl_setf(vars, "page", "%u", page);
	tmpl_setf(vars, "pages", "%u", pages);
	tmpl_set(vars, "prev", page > 1 ? "" : "hidden");
	tmpl_set(vars, "next", page < pages ? "" : "hidden");
	tmpl_setf(vars, "prev_page", "%u", page - 1);
	tmpl_setf(vars, "next_page", "%u", page + 1);
	tmpl_set(vars, "empty", count == 0 ? "" : "hidden");
	tmpl_set(vars, "listing", count == 0 ? "hidden" : "");
	tmpl_setf(vars, "address", "%s@%s", mb.user, app->cfg->domain);
	/* SAFE: rows rendered from a template, values escaped. */
	tmpl_set_html(vars, "rows", rows->str);
	token = csrf_token(req, resp);
	tmpl_set(vars, "csrf_token", token);
	app_page(app, req, resp, 200, "Inbox", "inbox", vars);
	http_response_add_header(resp, "Cache-Control", "no-store");
	if (count > 0) {
		const struct spool_message *m = spool_message(mb.entry->index,
		    count);

		cookie = g_strdup_printf("%s.%" G_GUINT64_FORMAT, mb.user,
		    m->offset + m->length);
		http_response_set_cookie(resp, req, INBOX_SEEN_COOKIE, cookie,
		    INBOX_SEEN_MAX_AGE);
		g_free(cookie);
	}
	g_free(token);
	g_string_free(rows, TRUE);
	tmpl_vars_free(vars);
	mailbox_close(&mb);
}

/* The parts of a message as list items, by kind. */
static void
render_parts(const struct app *app, const struct mailview *mv, guint n,
    struct tmpl_vars *vars)
{
	GString	*texts = g_string_new(NULL), *others = g_string_new(NULL);
	guint	 i;

	for (i = 0; i < mv->parts->len; i++) {
		const struct mailview_part *p = mv->parts->pdata[i];
		char	*size = g_format_size(p->size);

		tmpl_setf(vars, "n", "%u", n);
		tmpl_setf(vars, "k", "%u", p->number);
		tmpl_set(vars, "type", p->content_type);
		tmpl_set(vars, "name", p->filename ? p->filename :
		    "(no name)");
		tmpl_set(vars, "size", size);
		tmpl_set(vars, "text", p->text);
		tmpl_set(vars, "truncated", p->truncated ? "" : "hidden");
		if (p->kind == MAILVIEW_TEXT)
			tmpl_render(app_template(app, "message-text"), vars,
			    texts);
		else if (p->kind == MAILVIEW_HTML)
			tmpl_render(app_template(app, "message-html"), vars,
			    texts);
		else
			tmpl_render(app_template(app, "message-attachment"),
			    vars, others);
		g_free(size);
	}
	/* SAFE: rendered from templates, values escaped. */
	tmpl_set_html(vars, "texts", texts->str);
	tmpl_set_html(vars, "attachments", others->str);
	tmpl_set(vars, "has_attachments", others->len > 0 ? "" : "hidden");
	g_string_free(texts, TRUE);
	g_string_free(others, TRUE);
}

/* The Received chain as list items. */
static char *
render_received(const struct mailview *mv)
{
	GString	*out = g_string_new(NULL);
	guint	 i;

	for (i = 0; i < mv->received->len; i++) {
		g_string_append(out, "<li><code>");
		tmpl_escape(out, mv->received->pdata[i]);
		g_string_append(out, "</code></li>\n");
	}
	return g_string_free(out, FALSE);
}

/* Parse message n under the spool lock; NULL with *err if it cannot. */
static struct mailview *
parse_message(struct mailbox *mb, guint n, GError **err)
{
	const struct spool_message	*m = spool_message(mb->entry->index, n);
	struct mailview			*mv;

	if (!spool_lock(mb->fd, err))
		return NULL;
	mv = mailview_parse(mb->fd, m->body_offset, m->offset + m->length,
	    err);
	spool_unlock(mb->fd);
	return mv;
}

/* GET /inbox/N: the message. */
static void
show_message(const struct app *app, const struct http_request *req,
    struct http_response *resp, struct mailbox *mb, guint n)
{
	GError			*err = NULL;
	struct mailview		*mv = parse_message(mb, n, &err);
	struct tmpl_vars	*vars;
	char			*received;

	if (mv == NULL) {
		/* Being delivered: wait.  Broken beyond parsing: the raw
		 * source still shows what is there. */
		if (g_error_matches(err, SPOOL_ERROR, SPOOL_ERROR_LOCKED))
			spool_trouble(app, req, resp, 503, "This message "
			    "could not be read right now: reload in a moment.");
		else
			spool_trouble(app, req, resp, 500, "This message "
			    "cannot be shown: its raw source is all there is.");
		g_clear_error(&err);
		return;
	}
	vars = tmpl_vars_new();
	/* The parts' links need it before app_page() sets it. */
	tmpl_set(vars, "base", req->prefix);
	tmpl_setf(vars, "n", "%u", n);
	tmpl_set(vars, "from", mv->from);
	tmpl_set(vars, "to", mv->to);
	tmpl_set(vars, "cc", mv->cc);
	tmpl_set(vars, "has_cc", mv->cc ? "" : "hidden");
	tmpl_set(vars, "subject", *mv->subject ? mv->subject :
	    "(no subject)");
	tmpl_set(vars, "date", mv->date);
	tmpl_set(vars, "return_path", mv->return_path);
	tmpl_set(vars, "has_return_path", mv->return_path ? "" : "hidden");
	received = render_received(mv);
	tmpl_set(vars, "has_received", mv->received->len > 0 ? "" :
	    "hidden");
	/* SAFE: each line went through tmpl_escape(). */
	tmpl_set_html(vars, "received", received);
	render_parts(app, mv, n, vars);
	app_page(app, req, resp, 200, *mv->subject ? mv->subject :
	    "(no subject)", "message", vars);
	http_response_add_header(resp, "Cache-Control", "no-store");
	g_free(received);
	tmpl_vars_free(vars);
	mailview_free(mv);
}

/* A new body file, or -1 after answering 503 (logged). */
static int
body_file_or_503(const struct app *app, const struct http_request *req,
    struct http_response *resp)
{
	GError	*err = NULL;
	int	 fd = http_body_file_new(&err);

	if (fd < 0) {
		log_warn("%s", err->message);
		g_error_free(err);
		app_error(app, req, resp, 503);
	}
	return fd;
}

/* GET /inbox/N/raw: the message as stored, as plain text, through a
 * body file (a message may be tens of MB). */
static void
show_raw(const struct app *app, const struct http_request *req,
    struct http_response *resp, struct mailbox *mb, guint n)
{
	int	 out = body_file_or_503(app, req, resp);

	if (out < 0)
		return;
	if (!spool_copy_message(mb->entry->index, mb->fd, n, out, NULL)) {
		close(out);
		app_error(app, req, resp, 503);
		return;
	}
	/* text/plain and nosniff: a browser shows it, never runs it. */
	if (http_response_set_file(resp, 200, "text/plain; charset=utf-8",
	    out))
		http_response_add_header(resp, "Cache-Control", "no-store");
	else
		app_error(app, req, resp, 500);
}

/*
 * A name for a part that has none, so that a download is not saved as
 * "2": message-N-part-K, with the extension of its type when it is text
 * a browser opens.
 */
static char *
part_name(guint n, guint k, const char *type)
{
	const char	*ext = "";

	if (g_str_has_prefix(type, "text/html"))
		ext = ".html";
	else if (g_str_has_prefix(type, "text/plain"))
		ext = ".txt";
	return g_strdup_printf("message-%u-part-%u%s", n, k, ext);
}

/* A filename for Content-Disposition (RFC 6266 and 8187). */
static char *
disposition(const char *how, const char *filename)
{
	char	*escaped, *d;

	escaped = g_uri_escape_string(filename, NULL, FALSE);
	d = g_strdup_printf("%s; filename*=UTF-8''%s", how, escaped);
	g_free(escaped);
	return d;
}

/*
 * GET /inbox/N/part/K[/view]: a part, as a download; or an HTML part for
 * a frame, under a CSP sandbox that allows no script, no form, no
 * plugin and no remote load (tracking images included).
 */
static void
show_part(const struct app *app, const struct http_request *req,
    struct http_response *resp, struct mailbox *mb, guint n,
    const char *part, gboolean view)
{
	const struct spool_message *m = spool_message(mb->entry->index, n);
	char		*type = NULL, *filename = NULL, *disp;
	gboolean	 found = FALSE;
	guint		 k;
	int		 out;

	if ((out = body_file_or_503(app, req, resp)) < 0)
		return;
	if (parse_number(part, MAILVIEW_PARTS_MAX, &k) &&
	    spool_lock(mb->fd, NULL)) {
		found = mailview_part(mb->fd, m->body_offset,
		    m->offset + m->length, k, out, &type, &filename, NULL);
		spool_unlock(mb->fd);
	}
	if (!found || (view && !g_str_has_prefix(type, "text/html"))) {
		close(out);
		app_error(app, req, resp, 404);
		goto out;
	}
	if (!http_response_set_file(resp, 200, view ? type :
	    "application/octet-stream", out)) {
		app_error(app, req, resp, 500);
		goto out;
	}
	if (view) {
		http_response_add_header(resp, "Content-Security-Policy",
		    "sandbox; default-src 'none'; style-src 'unsafe-inline'; "
		    "img-src data:; frame-ancestors 'self'");
		http_response_add_header(resp, "X-Frame-Options",
		    "SAMEORIGIN");
	}
	if (filename == NULL)
		filename = part_name(n, k, type);
	disp = disposition(view ? "inline" : "attachment", filename);
	http_response_add_header(resp, "Content-Disposition", disp);
	http_response_add_header(resp, "Cache-Control", "no-store");
	g_free(disp);
out:
	g_free(type);
	g_free(filename);
}

/* A message number that the mailbox does not have (the number is not
 * echoed: an error page shows nothing of the request). */
static void
no_such_message(const struct app *app, const struct http_request *req,
    struct http_response *resp, guint count)
{
	char	*text;

	text = count == 0 ? g_strdup("There is no such message: your "
	    "mailbox is empty.") : g_strdup_printf("There is no such "
	    "message: your mailbox holds %u, numbered from 1, the oldest. "
	    "Deleting a message (with mail, say) renumbers the ones after "
	    "it.", count);
	spool_trouble(app, req, resp, 404, text);
	g_free(text);
}

void
route_inbox_item(const struct app *app, const struct http_request *req,
    struct http_response *resp)
{
	char		**parts = g_strsplit(req->path + strlen("/inbox/"),
			    "/", 5);
	guint		  nparts = g_strv_length(parts), n, count;
	struct mailbox	  mb;

	if (!mailbox_open(app, req, resp, &mb)) {
		g_strfreev(parts);
		return;
	}
	count = mailbox_count(&mb);
	if (!parse_number(parts[0], count, &n))
		no_such_message(app, req, resp, count);
	else if (nparts == 1)
		show_message(app, req, resp, &mb, n);
	else if (nparts == 2 && strcmp(parts[1], "raw") == 0)
		show_raw(app, req, resp, &mb, n);
	else if ((nparts == 3 || nparts == 4) &&
	    strcmp(parts[1], "part") == 0 &&
	    (nparts == 3 || strcmp(parts[3], "view") == 0))
		show_part(app, req, resp, &mb, n, parts[2], nparts == 4);
	else
		app_error(app, req, resp, 404);
	mailbox_close(&mb);
	g_strfreev(parts);
}
