/*
 * route_guide - the home page, the lab guide and its network diagram.
 */
#include <string.h>

#include "guide.h"
#include "routes.h"

void
route_home(const struct app *app, const struct http_request *req,
    struct http_response *resp)
{
	const struct config	*c = app->cfg;
	struct tmpl_vars	*vars = tmpl_vars_new();
	char			*title;

	tmpl_setf(vars, "group", "%d", c->group);
	tmpl_set(vars, "domain", c->domain);
	tmpl_set(vars, "smtp_addr", c->smtp_addr);
	tmpl_setf(vars, "smtp_server", "%s:%s", c->smtp_host, c->smtp_port);
	tmpl_set(vars, "spool_dir", c->spool_dir);
	/* The layout adds " · labmail". */
	title = g_strdup_printf("The SMTP lab of group %d", c->group);
	app_page(app, req, resp, 200, title, "home", vars);
	g_free(title);
	tmpl_vars_free(vars);
}

/* The guide in lang, rendered into resp. */
static void
render_guide(const struct app *app, const struct http_request *req,
    const char *lang, struct http_response *resp)
{
	struct tmpl_vars	*vars = tmpl_vars_new();

	tmpl_set(vars, "lang", lang);
	/* The language shown is marked as the current one. */
	/* SAFE: constants. */
	tmpl_set_html(vars, strcmp(lang, "fr") == 0 ? "fr_current" :
	    "en_current", " aria-current=\"page\"");
	/* SAFE: rendered by cmark in safe mode, ids and TOC escaped. */
	tmpl_set_html(vars, "article", guide_html(app->guide, lang));
	app_page(app, req, resp, 200, guide_title(app->guide, lang), "guide",
	    vars);
	tmpl_vars_free(vars);
	http_response_add_header(resp, "Content-Language", lang);
	http_response_add_header(resp, "Vary", "Accept-Language");
	/* The same page for everyone until labmail restarts: browsers and
	 * a web server's cache (web/nginx/labmail.conf) may keep it. */
	http_response_add_header(resp, "Cache-Control", "public, max-age=60");
}

void
route_guide(const struct app *app, const struct http_request *req,
    struct http_response *resp)
{
	const char		*lang = guide_pick_lang(http_query(req, "lang"),
				    http_header(req, "accept-language"));
	struct http_page	*page = app_cache_get(app, req, lang);

	if (page == NULL) {
		render_guide(app, req, lang, resp);
		app_cache_put(app, req, lang, resp);
		return;
	}
	http_response_set_page(resp, page);
	http_page_unref(page);
}

void
route_diagram(const struct app *app, const struct http_request *req,
    struct http_response *resp)
{
	(void)req;
	http_response_set(resp, 200, "image/svg+xml",
	    g_bytes_ref(guide_diagram(app->guide)));
}
