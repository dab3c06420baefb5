/*
 * route_login - log in with a Unix account (PAM, in the privileged
 * helper), log out.  The password goes to the helper and nowhere else:
 * it is never logged, never shown again, never kept.
 */
#include <string.h>

#include "csrf.h"
#include "priv.h"
#include "routes.h"

/* What the user reads for each refusal, and the status it answers. */
static const struct {
	enum priv_status st;
	int		 http;
	const char	*text;
} refusals[] = {
	{ PRIV_DENIED, 401, "Wrong user name or password." },
	{ PRIV_ROOT_REFUSED, 403, "root may not log in here. The guide "
	    "(step 5) shows how to receive root's mail as a normal user." },
	{ PRIV_OTHER_USER, 403, "labmail was not started as root, so only "
	    "the user running it can log in." },
	{ PRIV_ACCOUNT, 403, "This account has expired or its password "
	    "must be changed first." },
	{ PRIV_THROTTLED, 429, NULL },	/* says how long: refuse_login() */
	{ PRIV_UNAVAILABLE, 503, "Logging in is not possible right now: "
	    "labmail cannot keep its count of failed logins (its log says "
	    "why). Try again later." },
};

/*
 * TRUE if path may be where a login leads: one of our own pages, so a
 * path of ours alone ("/inbox/2"), never "//host/..." that a browser
 * takes for another site (an open redirect for phishing), and nothing
 * that is not plain ASCII in a Location header.
 */
static gboolean
next_ok(const char *path)
{
	if (path == NULL || path[0] != '/' || path[1] == '/')
		return FALSE;
	for (; *path != '\0'; path++)
		if (!g_ascii_isalnum(*path) && strchr("/._-", *path) == NULL)
			return FALSE;
	return TRUE;
}

/* The login form, with the user name kept and a notice: what went
 * wrong, or (info) what the form is for.  next is the page to go to
 * once logged in (NULL: the inbox). */
static void
login_form(const struct app *app, const struct http_request *req,
    struct http_response *resp, int status, const char *user,
    const char *notice, gboolean info, const char *next)
{
	struct tmpl_vars	*vars = tmpl_vars_new();
	char			*token = csrf_token(req, resp);
	char			*shown = g_utf8_make_valid(user ? user : "", -1);

	tmpl_set(vars, "csrf_token", token);
	tmpl_set(vars, "next", next_ok(next) ? next : "");
	tmpl_set(vars, "user", shown);
	tmpl_set(vars, "notice", notice);
	tmpl_set(vars, "notice_kind", info ? " info" : "");
	tmpl_set(vars, "spool_dir", app->cfg->spool_dir);
	app_page(app, req, resp, status, "Log in", "login", vars);
	http_response_add_header(resp, "Cache-Control", "no-store");
	tmpl_vars_free(vars);
	g_free(shown);
	g_free(token);
}

void
route_login_page(const struct app *app, const struct http_request *req,
    struct http_response *resp, int status, const char *notice)
{
	/* Back to this page once logged in. */
	login_form(app, req, resp, status, NULL, notice, TRUE, req->path);
}

void
route_login_form(const struct app *app, const struct http_request *req,
    struct http_response *resp)
{
	char			*user = app_user(app, req, resp);
	struct tmpl_vars	*vars;
	char			*token;

	if (user == NULL) {
		/* route_logout() leads here with ?logged_out=1. */
		login_form(app, req, resp, 200, NULL,
		    http_query(req, "logged_out") != NULL ?
		    "You are logged out." : NULL, TRUE, NULL);
		return;
	}
	vars = tmpl_vars_new();
	token = csrf_token(req, resp);
	tmpl_set(vars, "user", user);
	tmpl_set(vars, "csrf_token", token);
	app_page(app, req, resp, 200, "Logged in", "logged-in", vars);
	tmpl_vars_free(vars);
	g_free(token);
	g_free(user);
}

/* The refusal for st: its status, its text with the wait filled in. */
static void
refuse_login(const struct app *app, const struct http_request *req,
    struct http_response *resp, const char *user, enum priv_status st,
    guint retry)
{
	const char	*next = http_form(req, "next");
	char		*text, *wait;
	gsize		 i;

	for (i = G_N_ELEMENTS(refusals) - 1; i > 0; i--)
		if (refusals[i].st == st)
			break;
	text = st == PRIV_THROTTLED ? g_strdup_printf("Too many failed "
	    "attempts: wait %u second%s, then try again.", MAX(retry, 1),
	    retry > 1 ? "s" : "") : g_strdup(refusals[i].text);
	login_form(app, req, resp, refusals[i].http, user, text, FALSE, next);
	if (st == PRIV_THROTTLED || st == PRIV_UNAVAILABLE) {
		wait = g_strdup_printf("%u", retry);
		http_response_add_header(resp, "Retry-After", wait);
		g_free(wait);
	}
	g_free(text);
}

void
route_login_post(const struct app *app, const struct http_request *req,
    struct http_response *resp)
{
	const char	*password = http_form(req, "password");
	const char	*next = http_form(req, "next");
	char		*user, *token = NULL;
	guint		 retry = 0;
	enum priv_status st;

	/* No account name has blanks around it; a phone's keyboard often
	 * adds one after a word. */
	user = g_strstrip(g_strdup(http_form(req, "user") ?
	    http_form(req, "user") : ""));
	if (!csrf_check(req))
		login_form(app, req, resp, 403, user, "This form had expired "
		    "or did not come from this page. Please try again.", FALSE,
		    next);
	else if (*user == '\0' || password == NULL || *password == '\0' ||
	    req->bad_field != NULL)
		login_form(app, req, resp, 400, user,
		    "Give your user name and your password.", FALSE, next);
	else if ((st = priv_login(app->priv, user, password, req->peer,
	    &token, &retry)) != PRIV_OK)
		refuse_login(app, req, resp, user, st, retry);
	else {
		http_response_set_cookie(resp, req, APP_SESSION_COOKIE, token,
		    -1);
		http_response_redirect(resp, req, next_ok(next) ? next :
		    "/inbox");
		g_free(token);
	}
	g_free(user);
}

void
route_logout(const struct app *app, const struct http_request *req,
    struct http_response *resp)
{
	const char	*token = http_cookie(req, APP_SESSION_COOKIE);

	if (!csrf_check(req)) {
		app_error(app, req, resp, 403);
		return;
	}
	http_response_set_cookie(resp, req, APP_SESSION_COOKIE, "", 0);
	/* Revoked in the helper: a copy of the cookie is worthless now,
	 * unless the helper could not write that down. */
	if (token != NULL && priv_logout(app->priv, token) != PRIV_OK) {
		login_form(app, req, resp, 503, NULL, "You are logged out "
		    "in this browser, but labmail could not record it: a copy "
		    "of your session would still work until it expires. Tell "
		    "whoever runs labmail (its log says why).", FALSE, NULL);
		return;
	}
	http_response_redirect(resp, req, "/login?logged_out=1");
}
