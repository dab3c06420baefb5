/*
 * front_fcgi - the front ends behind a web server: FastCGI (libfcgi) and
 * plain CGI.  Both read the CGI environment (REQUEST_METHOD, PATH_INFO,
 * SCRIPT_NAME, QUERY_STRING, HTTP_*, HTTPS...) and the body into a
 * struct http_request, call app_handle(), and write the response back
 * with a Status: line; nothing else.
 *
 * FastCGI: a few threads accept requests; those that may wait on SMTP
 * or on the helper (app_may_block()) go to a pool of workers, so several
 * requests in flight never wait for each other.
 *
 * CGI: one request from the environment and standard input, answered on
 * standard output.
 */
#ifndef LABMAIL_FRONT_FCGI_H
#define LABMAIL_FRONT_FCGI_H

#include "app.h"

#define FRONT_FCGI_ACCEPTORS	4
#define FRONT_FCGI_WORKERS	64

struct front_fcgi;

/* Serve FastCGI on a listening socket (taken over). */
struct front_fcgi *front_fcgi_start(const struct app *, int listen_fd,
		    GError **err);
/* Stop accepting, let running requests end, and free. */
void		 front_fcgi_stop(struct front_fcgi *);

/* Answer the one CGI request of this process. */
void		 front_cgi_run(const struct app *);

#endif
