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

/* route_static.c: files of static/. */
route_handler	route_static;

#endif
