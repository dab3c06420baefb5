/*
 * front_fcgi - the front ends behind a web server: FastCGI (libfcgi) and
 * plain CGI.  Both read the CGI environment (REQUEST_METHOD, PATH_INFO,
 * SCRIPT_NAME, QUERY_STRING, HTTP_*, HTTPS...) and the body into a
 * struct http_request, call app_handle(), and write the response back
 * with a Status: line; nothing else.
 *
 * FastCGI: one thread accepts connections and hands each to a thread of
 * its own, which answers its requests one after the other, as many as
 * the web server sends on it (FCGI_KEEP_CONN: nginx's fastcgi_keep_conn).
 * Requests in flight never wait for each other, nor for a client that
 * is slow to send.  A connection closes when its first request does not
 * come within FRONT_FCGI_FIRST_SECONDS, when a kept one stays idle
 * FRONT_FCGI_IDLE_SECONDS (longer than web servers keep them: nginx 60
 * s), and when one read or write waits FRONT_FCGI_READ_SECONDS.  Past
 * FRONT_FCGI_CONNS_MAX connections at once, new ones are closed.  The
 * listening socket, maybe shared with systemd or spawn-fcgi siblings,
 * is never shut down nor its options changed; front_fcgi_stop() wakes
 * the acceptor with FRONT_FCGI_WAKE_SIGNAL, whose handler does nothing.
 * Peers are not filtered by address (libfcgi's FCGI_WEB_SERVER_ADDRS):
 * listen on loopback or a Unix socket.
 *
 * CGI: one request from the environment and standard input, answered on
 * standard output.
 */
#ifndef LABMAIL_FRONT_FCGI_H
#define LABMAIL_FRONT_FCGI_H

#include <signal.h>

#include "app.h"

/* A real-time signal: no library or admin sends it to us. */
#define FRONT_FCGI_WAKE_SIGNAL		SIGRTMIN
#define FRONT_FCGI_STOP_SECONDS		10
#define FRONT_FCGI_FIRST_SECONDS	60
#define FRONT_FCGI_IDLE_SECONDS		300
#define FRONT_FCGI_READ_SECONDS		60
/* Connections at once, a thread each (a web server keeps a few). */
#define FRONT_FCGI_CONNS_MAX		512

struct front_fcgi;

/* Serve FastCGI on a listening socket (taken over). */
struct front_fcgi *front_fcgi_start(const struct app *, int listen_fd,
		    GError **err);
/* Stop accepting, let running requests end (after
 * FRONT_FCGI_STOP_SECONDS the connections still reading a request are
 * shut down; a page that runs, a send say, finishes and is answered),
 * and free. */
void		 front_fcgi_stop(struct front_fcgi *);

/* Answer the one CGI request of this process. */
void		 front_cgi_run(const struct app *);

#endif
