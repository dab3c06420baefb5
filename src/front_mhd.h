/*
 * front_mhd - the standalone front end, on libmicrohttpd.
 *
 * It translates each HTTP request into a struct http_request, calls
 * app_handle(), and sends the struct http_response back; nothing else.
 * Requests that may wait (app_wait()) are suspended and handled on
 * worker threads, so the event loop keeps serving every other page
 * meanwhile.  Sends have a pool of their own, with a thread for every
 * connection libmicrohttpd takes: however many wait on a dead mail
 * server, no send queues behind them, and logins and inboxes, on the
 * other pool, are not held up either.
 */
#ifndef LABMAIL_FRONT_MHD_H
#define LABMAIL_FRONT_MHD_H

#include "app.h"

/* Connections served at once; more wait in the listen queue. */
#define FRONT_MHD_CONNECTIONS	1000
/* Workers for the pages that may wait on the helper or a spool. */
#define FRONT_MHD_WORKERS	64
/*
 * libmicrohttpd's threads: one per processor, but never one alone.  Given
 * a pool of one, libmicrohttpd 0.9.75 runs a single internal thread
 * instead, which under a burst of connections (256 at once) left their
 * requests unread until its 60 s timeout; a pool of two on one processor
 * does not.  Lab machines often have one processor.
 */
#define FRONT_MHD_THREADS_MIN	2
/* Workers for sends: one for each connection, so none ever queues. */
#define FRONT_MHD_SENDERS	FRONT_MHD_CONNECTIONS
/* At a stop, how long a page that a worker made may take to go out. */
#define FRONT_MHD_ANSWER_SECONDS	5

/*
 * Memory of one connection (libmicrohttpd's pool): the request line and
 * headers, a copy of the Cookie header (libmicrohttpd parses one), its
 * bookkeeping and the response's header.  When what a request brought
 * leaves too little of it for the response's header, libmicrohttpd
 * drops the connection without an answer, after the page ran (a mail
 * could go out unanswered); so a request whose header fields, the
 * request-target and the Cookie header counted twice, exceed
 * HTTP_HEADER_MAX is answered 431 and runs no page.  That still takes
 * an 8 KB header line, as nginx's and Apache's default limits do.  Beyond about 28 KB,
 * libmicrohttpd answers 431 itself.
 */
#define FRONT_MHD_CONN_MEMORY	(32 * 1024)

struct front_mhd;

/*
 * Serve on a socket already bound and listening (taken over); over TLS
 * when cert_pem and key_pem (the PEM texts, read before the privileges
 * were dropped) are not NULL.
 */
struct front_mhd *front_mhd_start(const struct app *, int listen_fd,
		    const char *cert_pem, const char *key_pem, GError **err);
/* Let running requests end (meanwhile, a page that would block gets
 * 503), stop serving, and free. */
void		 front_mhd_stop(struct front_mhd *);

#endif
