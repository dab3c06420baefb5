/*
 * front_fcgi - the front ends behind a web server: FastCGI (libfcgi) and
 * plain CGI.  Both read the CGI environment (REQUEST_METHOD, PATH_INFO,
 * SCRIPT_NAME, QUERY_STRING, HTTP_*, HTTPS...) and the body into a
 * struct http_request, call app_handle(), and write the response back
 * with a Status: line; nothing else.
 *
 * FastCGI: a few threads accept connections and answer quick first
 * requests at once.  A request that may wait on SMTP or on the helper
 * (app_may_block()), and a connection the web server keeps open for more
 * requests (FCGI_KEEP_CONN: nginx's fastcgi_keep_conn), get a thread of
 * their own, so several requests in flight never wait for each other.
 *
 * CGI: one request from the environment and standard input, answered on
 * standard output.
 */
#ifndef LABMAIL_FRONT_FCGI_H
#define LABMAIL_FRONT_FCGI_H

#include "app.h"

#define FRONT_FCGI_ACCEPTORS	4

struct front_fcgi;

/* Serve FastCGI on a listening socket (taken over). */
struct front_fcgi *front_fcgi_start(const struct app *, int listen_fd,
		    GError **err);
/* Stop accepting, let running requests end, and free. */
void		 front_fcgi_stop(struct front_fcgi *);

/* Answer the one CGI request of this process. */
void		 front_cgi_run(const struct app *);

#endif
