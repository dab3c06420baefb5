/*
 * routes - the pages, one family per file, called through the table in
 * app.c.  Each handler fills resp; it may rely on app_handle() to add
 * the security headers and to log the request.
 */
#ifndef LABMAIL_ROUTES_H
#define LABMAIL_ROUTES_H

#include "app.h"

typedef void route_handler(const struct app *, const struct http_request *,
    struct http_response *);

/* route_guide.c: the home page, the guide and its diagram. */
route_handler	route_home;
route_handler	route_guide;
route_handler	route_diagram;

/* route_send.c: the send form and the SMTP dialogue. */
route_handler	route_send_form;
route_handler	route_send_post;

/* route_login.c: log in and out. */
route_handler	route_login_form;
route_handler	route_login_post;
route_handler	route_logout;
/* The login form as the answer to a page that needs a login. */
void		route_login_page(const struct app *,
		    const struct http_request *, struct http_response *,
		    int status, const char *notice);

/* route_inbox.c: the user's spool, and the indexes kept between pages. */
route_handler	route_inbox;
route_handler	route_inbox_item;
struct inbox_cache *inbox_cache_new(void);
void		inbox_cache_free(struct inbox_cache *);

/* route_static.c: files of static/. */
route_handler	route_static;

#endif
