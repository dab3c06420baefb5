/*
 * app - the core: turns a struct http_request into a struct
 * http_response, the same way under every front end.
 *
 * app_new() loads everything the pages need once (templates, the
 * rendered guide, static files); after that the app is read-only and
 * app_handle() may run on several threads at once.  Routing is a table
 * (app.c); each family of pages lives in its own route_*.c file.
 *
 * Some pages may wait: on the SMTP server, for minutes, or on the
 * helper or a spool's lock.  app_wait() tells the front end which, so
 * that it runs them on worker threads and its event loop never waits,
 * and so that sends waiting on a dead mail server cannot keep the other
 * pages that wait from running.
 */
#ifndef LABMAIL_APP_H
#define LABMAIL_APP_H

#include "config.h"
#include "http.h"
#include "tmpl.h"

struct app_cache;
struct inbox_cache;

#define APP_SESSION_COOKIE	"labmail_session"

struct app {
	const struct config	*cfg;		/* borrowed */
	struct priv		*priv;		/* borrowed: the helper */
	char			*data_dir;	/* holds web/ and static/ */
	GHashTable		*templates;	/* name -> struct tmpl * */
	struct guide		*guide;
	struct assets		*assets;
	struct app_cache	*cache;		/* pages rendered once */
	struct inbox_cache	*inbox;		/* spool indexes, by user */
	struct smtp_trust	*smtp_trust;	/* for STARTTLS; NULL when
						 * smtp-tls is off */
};

/* Load everything from data_dir; NULL with *err set on failure. */
struct app	*app_new(const struct config *, struct priv *,
		    const char *data_dir, GError **err);
void		 app_free(struct app *);

void		 app_handle(const struct app *, const struct http_request *,
		    struct http_response *);
enum app_wait {
	APP_WAIT_NONE,		/* answers at once */
	APP_WAIT_LOCAL,		/* may wait on the helper or a spool lock */
	APP_WAIT_SMTP,		/* talks to the SMTP server */
};

enum app_wait	 app_wait(const struct app *, const struct http_request *);

/*
 * The user logged in on req, or NULL (the caller frees it).  When the
 * helper renews the session, the new cookie is set on resp.
 */
char		*app_user(const struct app *, const struct http_request *,
		    struct http_response *);

/* The template web/templates/NAME.html (aborts if it was not loaded). */
const struct tmpl *app_template(const struct app *, const char *name);

/*
 * An error page for status (4xx, 5xx) in the shared layout: what went
 * wrong in plain words and links on, instead of a bare status line.
 * Nothing of the request is shown.
 */
void		 app_error(const struct app *, const struct http_request *,
		    struct http_response *, int status);

/*
 * static/NAME.svg as an image with alt text, in safe HTML for a page
 * answering req (its links carry the prefix); the caller frees it.  An
 * image, not an emoji: a machine without an emoji font shows those as
 * empty boxes.
 */
char		*app_icon(const struct app *, const struct http_request *,
		    const char *name, const char *alt);

/*
 * Render the template name with vars into the shared layout and set it
 * as the response: status, title, HTML.  vars are borrowed; the layout's
 * own values (base, title, nav) are added to them.
 */
void		 app_page(const struct app *, const struct http_request *,
		    struct http_response *, int status, const char *title,
		    const char *name, struct tmpl_vars *vars);

/*
 * Pages that depend on nothing but the prefix and a key (the guide in
 * one language) are rendered once, then served from memory, whole:
 * status, headers (the security headers included) and body.  Lookups
 * return a new reference, or NULL.  Put completes resp's headers and
 * freezes it into the cache (resp then answers with the cached page);
 * resp must hold nothing of one user's (no Set-Cookie) and its body
 * must be in memory.
 * A new page past APP_CACHE_PAGES empties the cache first (a FastCGI
 * peer chooses the prefix; CGI variables are at most HTTP_HEADER_MAX
 * bytes, so a page is at most a few hundred KB).  Thread-safe.
 */
#define APP_CACHE_PAGES	64
struct http_page *app_cache_get(const struct app *,
		    const struct http_request *, const char *key);
void		 app_cache_put(const struct app *, const struct http_request *,
		    const char *key, struct http_response *resp);

#endif
