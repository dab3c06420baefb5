/*
 * app - route table, shared layout, security headers and access log.
 */
#include <string.h>
#include <time.h>

#include "app.h"
#include "assets.h"
#include "guide.h"
#include "log.h"
#include "priv.h"
#include "routes.h"
#include "smtp.h"

struct app_cache {
	GMutex		 lock;
	GHashTable	*pages;		/* cache_key() -> struct http_page */
};

struct route {
	const char	*method;
	const char	*path;
	gboolean	 is_prefix;	/* path is a prefix ("/static/") */
	route_handler	*handler;
	enum app_wait	 wait;		/* what it may wait on */
};

/* Pages that talk to the SMTP server or the helper, or wait on a spool
 * lock, may wait: the front end runs them on workers (app_wait()). */
static const struct route routes[] = {
	{ "GET",  "/",			FALSE, route_home,	APP_WAIT_NONE },
	{ "GET",  "/guide",		FALSE, route_guide,	APP_WAIT_NONE },
	{ "GET",  "/guide/network.svg",	FALSE, route_diagram,	APP_WAIT_NONE },
	{ "GET",  "/send",		FALSE, route_send_form,	APP_WAIT_LOCAL },
	{ "POST", "/send",		FALSE, route_send_post,	APP_WAIT_SMTP },
	{ "GET",  "/login",		FALSE, route_login_form, APP_WAIT_LOCAL },
	{ "POST", "/login",		FALSE, route_login_post, APP_WAIT_LOCAL },
	{ "POST", "/logout",		FALSE, route_logout,	APP_WAIT_LOCAL },
	{ "GET",  "/inbox",		FALSE, route_inbox,	APP_WAIT_LOCAL },
	{ "GET",  "/inbox/",		TRUE,  route_inbox_item, APP_WAIT_LOCAL },
	{ "GET",  "/static/",		TRUE,  route_static,	APP_WAIT_NONE },
};

/*
 * Every response gets these.  The CSP allows nothing but our own files:
 * even if some mail or form text slipped through escaping, no inline
 * script, style attribute or foreign resource would run.
 */
static const struct http_header security_headers[] = {
	{ "Content-Security-Policy", "default-src 'self'; "
	    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
	    "object-src 'none'" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "X-Frame-Options", "DENY" },
	{ "Referrer-Policy", "same-origin" },
};

/* HEAD is answered as GET (the front end drops the body). */
static gboolean
method_matches(const struct route *r, const char *method)
{
	return strcmp(r->method, method) == 0 ||
	    (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
}

/* TRUE if the route's path matches the request's. */
static gboolean
path_matches(const struct route *r, const char *path)
{
	return r->is_prefix ? g_str_has_prefix(path, r->path) :
	    strcmp(r->path, path) == 0;
}

/* The route for req; *path_known tells a 405 from a 404. */
static const struct route *
find_route(const struct http_request *req, gboolean *path_known)
{
	gsize	i;

	*path_known = FALSE;
	for (i = 0; i < G_N_ELEMENTS(routes); i++) {
		if (!path_matches(&routes[i], req->path))
			continue;
		*path_known = TRUE;
		if (method_matches(&routes[i], req->method))
			return &routes[i];
	}
	return NULL;
}

/* The Allow header of a 405: the methods of the path's routes. */
static void
set_allow(const struct http_request *req, struct http_response *resp)
{
	GString	*allow = g_string_new(NULL);
	gsize	 i;

	for (i = 0; i < G_N_ELEMENTS(routes); i++) {
		if (!path_matches(&routes[i], req->path))
			continue;
		if (allow->len > 0)
			g_string_append(allow, ", ");
		g_string_append(allow, routes[i].method);
		if (strcmp(routes[i].method, "GET") == 0)
			g_string_append(allow, ", HEAD");
	}
	http_response_add_header(resp, "Allow", allow->str);
	g_string_free(allow, TRUE);
}

enum app_wait
app_wait(const struct app *app, const struct http_request *req)
{
	gboolean		 known;
	const struct route	*r = find_route(req, &known);

	(void)app;
	return r != NULL ? r->wait : APP_WAIT_NONE;
}

/*
 * The date of the access log, formatted at most once a second in each
 * thread: localtime_r() takes a process-wide lock, which the request
 * threads would otherwise fight over on every request.
 */
static const char *
log_date(void)
{
	static __thread time_t	last = -1;
	static __thread char	date[64];
	time_t			now = time(NULL);
	struct tm		tm;

	if (now != last) {
		localtime_r(&now, &tm);
		strftime(date, sizeof(date), "%d/%b/%Y:%H:%M:%S %z", &tm);
		last = now;
	}
	return date;
}

/*
 * One line per request in Combined Log Format, as Apache's httpd writes
 * it: %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i", where %r
 * is the request line as received.  Peer data goes through
 * log_escape_append(), so that a quote cannot end a field early nor a
 * CR/LF forge a line.  Never the form's content.
 */
static void
log_access(const struct http_request *req, const struct http_response *resp)
{
	GString		*line = g_string_sized_new(256);
	guint64		 len = http_response_body_len(resp);

	g_string_append_printf(line, "%s - - [%s] \"", req->peer, log_date());
	log_escape_append(line, req->method);
	g_string_append_c(line, ' ');
	log_escape_append(line, req->target ? req->target : req->path);
	g_string_append_c(line, ' ');
	log_escape_append(line, req->protocol ? req->protocol : "HTTP/1.0");
	g_string_append_printf(line, "\" %d ", resp->status);
	/* %b: the body's bytes, "-" when none is sent (HEAD, 304). */
	if (len == 0 || strcmp(req->method, "HEAD") == 0)
		g_string_append_c(line, '-');
	else
		g_string_append_printf(line, "%" G_GUINT64_FORMAT, len);
	g_string_append(line, " \"");
	log_escape_append(line, http_header(req, "referer"));
	g_string_append(line, "\" \"");
	log_escape_append(line, http_header(req, "user-agent"));
	g_string_append_c(line, '"');
	log_request("%s", line->str);
	g_string_free(line, TRUE);
}

/*
 * The headers of security[] that resp does not set itself (a page may
 * set a stricter policy: a sandboxed frame), and HSTS over HTTPS.  Each
 * only if missing: a cached page has them already.
 */
static void
add_security_headers(const struct http_request *req,
    struct http_response *resp)
{
	static const char	 hsts[] = "Strict-Transport-Security";
	gsize			 i;

	/* Over HTTPS, browsers are told to come back over HTTPS only. */
	if (req->https && http_response_header(resp, hsts) == NULL)
		http_response_add_header(resp, hsts, "max-age=31536000");
	for (i = 0; i < G_N_ELEMENTS(security_headers); i++)
		if (http_response_header(resp, security_headers[i].name) ==
		    NULL)
			http_response_add_header(resp, security_headers[i].name,
			    security_headers[i].value);
}

void
app_handle(const struct app *app, const struct http_request *req,
    struct http_response *resp)
{
	const struct route	*r;
	gboolean		 known;

	/* A request that could not be read gets a bare status line: its
	 * prefix is not fit for a page's links. */
	if (req->header_too_large)
		http_response_error(resp, 431);
	else if (req->malformed != NULL)
		http_response_error(resp, 400);
	else if (req->unavailable)
		app_error(app, req, resp, 503);
	else if (req->body_too_large)
		app_error(app, req, resp, 413);
	else if ((r = find_route(req, &known)) != NULL)
		r->handler(app, req, resp);
	else if (known) {
		app_error(app, req, resp, 405);
		set_allow(req, resp);
	} else
		app_error(app, req, resp, 404);
	add_security_headers(req, resp);
	log_access(req, resp);
}

char *
app_user(const struct app *app, const struct http_request *req,
    struct http_response *resp)
{
	const char	*token = http_cookie(req, APP_SESSION_COOKIE);
	char		*user = NULL, *renewed = NULL;

	if (token == NULL || app->priv == NULL ||
	    priv_check(app->priv, token, &user, &renewed) != PRIV_OK)
		return NULL;
	if (renewed != NULL)
		http_response_set_cookie(resp, req, APP_SESSION_COOKIE,
		    renewed, -1);
	g_free(renewed);
	return user;
}

const struct tmpl *
app_template(const struct app *app, const char *name)
{
	const struct tmpl	*t = g_hash_table_lookup(app->templates, name);

	if (t == NULL)
		log_fatal("template %s.html is missing", name);
	return t;
}

/* What an error status means to the person who met it. */
static const char *
error_explain(int status)
{
	switch (status) {
	case 403:
		return "This is not allowed: nothing was done.";
	case 404:
		return "There is no page at this address.";
	case 405:
		return "This page does not take that kind of request.";
	case 413:
		return "The request is larger than labmail takes, so nothing "
		    "was sent or saved. Your browser's Back button brings "
		    "back what you typed.";
	case 503:
		return "labmail cannot answer this right now (busy, or "
		    "stopping): try again in a moment.";
	default:
		return "Something went wrong on labmail's side; nothing was "
		    "done.";
	}
}

void
app_error(const struct app *app, const struct http_request *req,
    struct http_response *resp, int status)
{
	struct tmpl_vars	*vars = tmpl_vars_new();
	char			*heading = g_strdup_printf("%d %s", status,
				    http_status_text(status));

	tmpl_set(vars, "heading", heading);
	tmpl_set(vars, "explain", error_explain(status));
	app_page(app, req, resp, status, heading, "error", vars);
	tmpl_vars_free(vars);
	g_free(heading);
}

char *
app_icon(const struct app *app, const struct http_request *req,
    const char *name, const char *alt)
{
	struct tmpl_vars	*vars = tmpl_vars_new();
	GString			*out = g_string_new(NULL);

	tmpl_set(vars, "base", req->prefix);
	tmpl_set(vars, "name", name);
	tmpl_set(vars, "alt", alt);
	tmpl_render(app_template(app, "icon"), vars, out);
	tmpl_vars_free(vars);
	return g_string_free(out, FALSE);
}

/* Mark the navigation's link to the section that path is in, for the
 * eye and for a screen reader (aria-current). */
static void
set_nav_current(struct tmpl_vars *vars, const char *path)
{
	static const struct {
		const char	*prefix;	/* the section's path */
		const char	*var;		/* in layout.html */
	} sections[] = {
		{ "/guide", "nav_guide" }, { "/send", "nav_send" },
		{ "/inbox", "nav_inbox" }, { "/login", "nav_login" },
	};
	gsize	 i, len;

	for (i = 0; i < G_N_ELEMENTS(sections); i++) {
		len = strlen(sections[i].prefix);
		/* SAFE: a constant attribute. */
		tmpl_set_html(vars, sections[i].var,
		    strncmp(path, sections[i].prefix, len) == 0 &&
		    (path[len] == '\0' || path[len] == '/') ?
		    " aria-current=\"page\"" : "");
	}
}

void
app_page(const struct app *app, const struct http_request *req,
    struct http_response *resp, int status, const char *title,
    const char *name, struct tmpl_vars *vars)
{
	GString	*content = g_string_new(NULL);
	GString	*page;
	gsize	 len;

	tmpl_set(vars, "base", req->prefix);
	tmpl_set(vars, "title", title);
	set_nav_current(vars, req->path);
	tmpl_render(app_template(app, name), vars, content);
	/* SAFE: content was rendered from a template, values escaped. */
	tmpl_set_html(vars, "content", content->str);
	g_string_free(content, TRUE);

	page = g_string_sized_new(8192);
	tmpl_render(app_template(app, "layout"), vars, page);
	len = page->len;
	http_response_set(resp, status, "text/html; charset=utf-8",
	    g_bytes_new_take(g_string_free(page, FALSE), len));
}

/*
 * The cache key of a page: the prefix changes every link in it, HTTPS
 * adds a header (HSTS).
 */
static char *
cache_key(const struct http_request *req, const char *key)
{
	return g_strconcat(req->https ? "https\n" : "http\n", req->prefix,
	    "\n", key, NULL);
}

struct http_page *
app_cache_get(const struct app *app, const struct http_request *req,
    const char *key)
{
	char			*k = cache_key(req, key);
	struct http_page	*page;

	g_mutex_lock(&app->cache->lock);
	page = g_hash_table_lookup(app->cache->pages, k);
	if (page != NULL)
		http_page_ref(page);
	g_mutex_unlock(&app->cache->lock);
	g_free(k);
	return page;
}

void
app_cache_put(const struct app *app, const struct http_request *req,
    const char *key, struct http_response *resp)
{
	char			*k;
	struct http_page	*page;

	/* Shared by everyone: nothing of one user's may be in it. */
	g_return_if_fail(resp->body_file < 0 &&
	    http_response_header(resp, "Set-Cookie") == NULL);
	add_security_headers(req, resp);
	page = http_response_freeze(resp);
	k = cache_key(req, key);
	g_mutex_lock(&app->cache->lock);
	/* Bounded: a FastCGI peer may send any number of prefixes. */
	if (g_hash_table_size(app->cache->pages) >= APP_CACHE_PAGES &&
	    !g_hash_table_contains(app->cache->pages, k))
		g_hash_table_remove_all(app->cache->pages);
	g_hash_table_replace(app->cache->pages, k, page);
	g_mutex_unlock(&app->cache->lock);
}

/* Load every web/templates/NAME.html into app->templates. */
static gboolean
load_templates(struct app *app, GError **err)
{
	char		*dir = g_build_filename(app->data_dir, "web",
			    "templates", NULL);
	GDir		*d = g_dir_open(dir, 0, err);
	const char	*name;
	gboolean	 ok = d != NULL;

	while (ok && (name = g_dir_read_name(d)) != NULL) {
		char		*path;
		struct tmpl	*t;

		if (!g_str_has_suffix(name, ".html"))
			continue;
		path = g_build_filename(dir, name, NULL);
		t = tmpl_load(path, err);
		g_free(path);
		if (t == NULL) {
			ok = FALSE;
			break;
		}
		g_hash_table_insert(app->templates,
		    g_strndup(name, strlen(name) - strlen(".html")), t);
	}
	if (d != NULL)
		g_dir_close(d);
	g_free(dir);
	return ok;
}

/* The guide, with the group's values filled in. */
static struct guide *
load_guide(const struct app *app, GError **err)
{
	const struct config	*c = app->cfg;
	char			*group = g_strdup_printf("%d", c->group);
	char			*web = g_build_filename(app->data_dir, "web",
				    NULL);
	const struct guide_value values[] = {
		{ "group", group },
		{ "domain", c->domain },
		{ "smtp_alias", c->smtp_alias },
		{ "smtp_host", c->smtp_hostname },
		{ "smtp_addr", c->smtp_addr },
		{ "client_addr", c->client_addr },
		{ "dhcp_addr", c->dhcp_addr },
		{ "dns_addr", c->dns_addr },
	};
	struct guide		*g;

	g = guide_load(web, values, G_N_ELEMENTS(values), err);
	g_free(group);
	g_free(web);
	return g;
}

struct app *
app_new(const struct config *cfg, struct priv *priv, const char *data_dir,
    GError **err)
{
	struct app	*app = g_new0(struct app, 1);
	char		*static_dir;

	app->cfg = cfg;
	app->priv = priv;
	app->data_dir = g_strdup(data_dir);
	app->templates = g_hash_table_new_full(g_str_hash, g_str_equal,
	    g_free, (GDestroyNotify)tmpl_free);
	app->inbox = inbox_cache_new();
	app->cache = g_new0(struct app_cache, 1);
	g_mutex_init(&app->cache->lock);
	app->cache->pages = g_hash_table_new_full(g_str_hash, g_str_equal,
	    g_free, (GDestroyNotify)http_page_unref);
	if (!load_templates(app, err) ||
	    (app->guide = load_guide(app, err)) == NULL)
		goto fail;
	/* Read before the privilege drop: the CA file may be root's. */
	if (cfg->smtp_tls != CONFIG_SMTP_TLS_OFF &&
	    (app->smtp_trust = smtp_trust_new(cfg->smtp_ca, err)) == NULL)
		goto fail;
	static_dir = g_build_filename(data_dir, "static", NULL);
	app->assets = assets_load(static_dir, err);
	g_free(static_dir);
	if (app->assets == NULL)
		goto fail;
	return app;
fail:
	app_free(app);
	return NULL;
}

void
app_free(struct app *app)
{
	if (app == NULL)
		return;
	g_hash_table_unref(app->templates);
	inbox_cache_free(app->inbox);
	g_hash_table_unref(app->cache->pages);
	g_mutex_clear(&app->cache->lock);
	g_free(app->cache);
	guide_free(app->guide);
	assets_free(app->assets);
	smtp_trust_free(app->smtp_trust);
	g_free(app->data_dir);
	g_free(app);
}
