/*
 * front_fcgi - CGI environment and streams <-> http_request/response,
 * over FastCGI (libfcgi) or plain CGI (environ, stdin, stdout).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <glib-unix.h>

#include "front_fcgi.h"
#include "log.h"

extern char **environ;

/* One request's environment and streams, whatever carries them. */
struct gateway {
	char	**envp;
	gsize	(*read)(void *ctx, char *buf, gsize n);
	gboolean (*write)(void *ctx, const char *buf, gsize n);
	void	 *ctx;
};

struct front_fcgi {
	const struct app	*app;
	int			 listen_fd;
	int			 stop_pipe[2];	/* readable once stopping */
	pthread_t		 acceptor;
	gint			 acceptor_done;	/* atomic */
	GThreadPool		*connections;
	GMutex			 live_lock;
	GHashTable		*live;		/* struct fcgi_conn * set */
};

/* One connection from the web server: libfcgi reads its requests one
 * after the other into fcgx, and req is the one being answered. */
struct fcgi_conn {
	FCGX_Request		 fcgx;
	struct http_request	 req;
	gboolean		 answering;	/* its page runs; these two */
	gboolean		 shut;		/* under front's live_lock */
	int			 dup_fd;	/* the same socket, for
						 * front_fcgi_stop() to shut
						 * down: libfcgi may close
						 * fcgx.ipcFd, whose number
						 * could then be reused */
};

/* The value of name in envp, or NULL. */
static const char *
env_get(char **envp, const char *name)
{
	gsize	len = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
			return *envp + len + 1;
	return NULL;
}

/* The bytes of all the CGI variables, "NAME=value" each. */
static gsize
env_bytes(char **envp)
{
	gsize	n = 0;

	for (; envp != NULL && *envp != NULL; envp++)
		n += strlen(*envp);
	return n;
}

/* The client's address in its usual text form, or "-" if addr is none
 * (it is a log field, and a key of the login throttle). */
static char *
peer_address(const char *addr)
{
	char		text[INET6_ADDRSTRLEN];
	guint8		bin[sizeof(struct in6_addr)];
	int		family = AF_INET;

	if (addr == NULL)
		return g_strdup("-");
	if (inet_pton(AF_INET, addr, bin) != 1) {
		family = AF_INET6;
		if (inet_pton(AF_INET6, addr, bin) != 1)
			return g_strdup("-");
	}
	return g_strdup(inet_ntop(family, bin, text, sizeof(text)));
}

/* HTTP_ACCEPT_LANGUAGE -> accept-language, and the two without HTTP_. */
static void
read_headers(struct gateway *gw, struct http_request *req)
{
	char	**e;

	for (e = gw->envp; e != NULL && *e != NULL; e++) {
		const char	*eq = strchr(*e, '=');
		const char	*name = *e;
		char		*h, *p;

		if (eq == NULL)
			continue;
		if (g_str_has_prefix(name, "HTTP_"))
			name += strlen("HTTP_");
		else if (!g_str_has_prefix(name, "CONTENT_TYPE=") &&
		    !g_str_has_prefix(name, "CONTENT_LENGTH="))
			continue;
		h = g_ascii_strdown(name, eq - name);
		for (p = h; *p != '\0'; p++)
			if (*p == '_')
				*p = '-';
		http_table_add(&req->headers, h, eq + 1);
		g_free(h);
	}
}

/* Read and drop input until want bytes or its end; the bytes dropped. */
static guint64
input_drop(struct gateway *gw, guint64 want)
{
	char	 buf[16384];
	guint64	 done = 0;
	gsize	 n;

	while (done < want && (n = gw->read(gw->ctx, buf,
	    MIN(want - done, sizeof(buf)))) > 0)
		done += n;
	return done;
}

/* Read up to max bytes of input, to its end if it comes first. */
static GString *
input_read(struct gateway *gw, gsize max)
{
	GString	*buf = g_string_sized_new(MIN(max, 65536));
	gsize	 n, room;

	while (buf->len < max) {
		room = MIN(max - buf->len, 65536);
		g_string_set_size(buf, buf->len + room);
		n = gw->read(gw->ctx, buf->str + buf->len - room, room);
		g_string_set_size(buf, buf->len - room + n);
		if (n == 0)
			break;
	}
	return buf;
}

/*
 * Read the body (bounded) and parse it if it is a form.  Without
 * CONTENT_LENGTH, a body sent chunked (Apache passes it to a CGI
 * program as it came) is read to the end of the input.  One over
 * HTTP_BODY_MAX is read and dropped up to HTTP_BODY_DROP_MAX, not
 * buffered: a web server still writing it would lose the 413 (Apache's
 * mod_cgid drops the answer on a broken pipe).
 */
static void
read_body(struct gateway *gw, struct http_request *req)
{
	const char	*len_s = env_get(gw->envp, "CONTENT_LENGTH");
	const char	*type = env_get(gw->envp, "CONTENT_TYPE");
	guint64		 len = G_MAXUINT64;	/* to the end of the input */
	GString		*body;

	if (len_s != NULL && *len_s != '\0') {
		if (!g_ascii_string_to_unsigned(len_s, 10, 0,
		    G_MAXUINT64 - 1, &len, NULL) || len == 0)
			return;
	} else if (env_get(gw->envp, "HTTP_TRANSFER_ENCODING") == NULL)
		return;
	if (len != G_MAXUINT64 && len > HTTP_BODY_MAX) {
		req->body_too_large = TRUE;
		input_drop(gw, MIN(len, HTTP_BODY_DROP_MAX));
		return;
	}
	body = input_read(gw, MIN(len, HTTP_BODY_MAX + 1));
	if (body->len > HTTP_BODY_MAX) {
		req->body_too_large = TRUE;
		input_drop(gw, HTTP_BODY_DROP_MAX - body->len);
	} else if (len != G_MAXUINT64 && body->len < len)
		/* A client gone mid-body: what came is no form to act on
		 * (the end of a mail would be lost, and the mail sent). */
		req->malformed = "the body ended before its length";
	else
		http_parse_form(req, type, body->str, body->len);
	g_string_free(body, TRUE);
}

/* TRUE if s holds a control character (CR, LF, ...). */
static gboolean
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return TRUE;
	return FALSE;
}

/* Fill req from the CGI variables and the body. */
static void
read_request(struct gateway *gw, struct http_request *req)
{
	const char	*path = env_get(gw->envp, "PATH_INFO");
	const char	*prefix = env_get(gw->envp, "SCRIPT_NAME");
	const char	*query = env_get(gw->envp, "QUERY_STRING");
	const char	*https = env_get(gw->envp, "HTTPS");
	const char	*cookie;
	gsize		 plen;

	http_request_init(req);
	req->method = g_strdup(env_get(gw->envp, "REQUEST_METHOD") ?
	    env_get(gw->envp, "REQUEST_METHOD") : "GET");
	req->path = g_strdup(path != NULL && *path != '\0' ? path : "/");
	req->target = g_strdup(env_get(gw->envp, "REQUEST_URI"));
	req->protocol = g_strdup(env_get(gw->envp, "SERVER_PROTOCOL"));
	/* Links are made as prefix + "/page": no trailing slash here. */
	plen = prefix != NULL ? strlen(prefix) : 0;
	while (plen > 0 && prefix[plen - 1] == '/')
		plen--;
	req->prefix = g_strndup(prefix != NULL ? prefix : "", plen);
	/* The prefix goes into links, a cookie's Path and Location. */
	if (has_control(req->prefix))
		req->malformed = "a control character in SCRIPT_NAME";
	/* Whoever can reach the socket sets it. */
	req->peer = peer_address(env_get(gw->envp, "REMOTE_ADDR"));
	/* As standalone: no page for more than a web server would pass. */
	if (env_bytes(gw->envp) > HTTP_HEADER_MAX)
		req->header_too_large = TRUE;
	req->https = https != NULL && (g_ascii_strcasecmp(https, "on") == 0 ||
	    strcmp(https, "1") == 0);
	if (query != NULL)
		http_parse_urlencoded(req, FALSE, query, strlen(query));
	read_headers(gw, req);
	if ((cookie = http_header(req, "cookie")) != NULL)
		http_parse_cookies(req, cookie);
	read_body(gw, req);
}

/* Copy the response's body file to the gateway, in chunks. */
static void
write_body_file(struct gateway *gw, const struct http_response *resp)
{
	char	 buf[65536];
	guint64	 off = 0;
	ssize_t	 n;

	while (off < resp->body_file_len) {
		n = pread(resp->body_file, buf, MIN(sizeof(buf),
		    resp->body_file_len - off), (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || !gw->write(gw->ctx, buf, (gsize)n))
			return;		/* the web server sees it short */
		off += (guint64)n;
	}
}

/* Write the response: a Status: line, the headers, the body. */
static void
write_response(struct gateway *gw, const struct http_request *req,
    const struct http_response *resp)
{
	GString		*head = g_string_new(NULL);
	gsize		 len = 0;
	const char	*data = NULL;
	guint		 i;

	g_string_printf(head, "Status: %d %s\r\n", resp->status,
	    http_status_text(resp->status));
	for (i = 0; i < resp->headers->len; i++) {
		const struct http_header *h = &g_array_index(resp->headers,
		    struct http_header, i);

		/* One line each, as libmicrohttpd makes sure too. */
		if (strpbrk(h->name, "\r\n") != NULL ||
		    strpbrk(h->value, "\r\n") != NULL) {
			log_warn("fastcgi: header %s dropped: it holds a line "
			    "end", h->name);
			continue;
		}
		g_string_append_printf(head, "%s: %s\r\n", h->name, h->value);
	}
	if (resp->body != NULL)
		data = g_bytes_get_data(resp->body, &len);
	/* A 204 or 304 has no body, and no length to tell (RFC 9110 8.6). */
	if (resp->status != 204 && resp->status != 304)
		g_string_append_printf(head, "Content-Length: %"
		    G_GUINT64_FORMAT "\r\n", http_response_body_len(resp));
	g_string_append(head, "\r\n");
	gw->write(gw->ctx, head->str, head->len);
	g_string_free(head, TRUE);
	if (strcmp(req->method, "HEAD") == 0 || resp->status == 204 ||
	    resp->status == 304)
		return;
	if (resp->body_file >= 0)
		write_body_file(gw, resp);
	else if (len > 0)
		gw->write(gw->ctx, data, len);
}

/* --- FastCGI --- */

/* Read from a FastCGI request's input stream. */
static gsize
fcgx_read(void *ctx, char *buf, gsize n)
{
	int	got = FCGX_GetStr(buf, (int)MIN(n, G_MAXINT), ctx);

	return got > 0 ? (gsize)got : 0;
}

/* Write to a FastCGI request's output stream. */
static gboolean
fcgx_write(void *ctx, const char *buf, gsize n)
{
	return FCGX_PutStr(buf, (int)n, ctx) == (int)n;
}

/* Read the request that FCGX_Accept_r() has just taken. */
static void
fcgi_read(struct fcgi_conn *conn)
{
	struct gateway	gw = { conn->fcgx.envp, fcgx_read, fcgx_write,
			    conn->fcgx.in };

	read_request(&gw, &conn->req);
	/* libfcgi reads the next request of a kept connection from where
	 * this one's input stopped: input left unread (a body dropped in
	 * part, or longer than said) would be taken for it, and the
	 * connection closed unanswered.  Close it after the answer. */
	if (input_drop(&gw, 1) != 0)
		conn->fcgx.keepConnection = FALSE;
}

/* Mark conn as answering, under the lock that front_fcgi_stop() shuts
 * connections down with; FALSE if it was shut down already. */
static gboolean
set_answering(struct front_fcgi *f, struct fcgi_conn *conn, gboolean on)
{
	gboolean	ok;

	g_mutex_lock(&f->live_lock);
	ok = !conn->shut;
	conn->answering = on && ok;
	g_mutex_unlock(&f->live_lock);
	return ok;
}

/* Answer the request read, unless a stop shut the connection down: its
 * page, a send say, must not run for nobody.  The connection stays open
 * if the web server asked to keep it (FCGI_KEEP_CONN), else fcgx.ipcFd
 * is -1. */
static void
fcgi_answer(struct front_fcgi *f, struct fcgi_conn *conn)
{
	struct gateway		gw = { conn->fcgx.envp, fcgx_read, fcgx_write,
				    conn->fcgx.out };
	struct http_response	resp;

	if (set_answering(f, conn, TRUE)) {
		http_response_init(&resp);
		app_handle(f->app, &conn->req, &resp);
		write_response(&gw, &conn->req, &resp);
		http_response_clear(&resp);
		set_answering(f, conn, FALSE);
	}
	http_request_clear(&conn->req);
	FCGX_Finish_r(&conn->fcgx);
}

/* Wait up to seconds for a request on fd (or its close); FALSE if none
 * came, or (if stop_too) we are stopping. */
static gboolean
fcgi_wait_request(struct front_fcgi *f, int fd, int seconds,
    gboolean stop_too)
{
	struct pollfd	pfd[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = f->stop_pipe[0], .events = POLLIN },
	};
	int		n;

	while ((n = poll(pfd, stop_too ? 2 : 1, seconds * 1000)) < 0)
		if (errno != EINTR)
			return FALSE;
	return n > 0 && pfd[1].revents == 0;
}

/*
 * Connection thread: every request the web server sends on one
 * connection, until it closes it or stays silent too long.  Each
 * connection has a thread of its own, so a request waiting on SMTP or
 * on the helper, or a client that trickles its request in, holds up no
 * other.
 */
static void
fcgi_serve_connection(gpointer data, gpointer user_data)
{
	struct fcgi_conn	*conn = data;
	struct front_fcgi	*f = user_data;
	gboolean		 first = TRUE;

	/* A connection accepted is owed its first request's answer, even
	 * if we began to stop since (the stop's grace period bounds it). */
	while (conn->fcgx.ipcFd >= 0 &&
	    fcgi_wait_request(f, conn->fcgx.ipcFd, first ?
	    FRONT_FCGI_FIRST_SECONDS : FRONT_FCGI_IDLE_SECONDS, !first) &&
	    FCGX_Accept_r(&conn->fcgx) == 0) {
		fcgi_read(conn);
		fcgi_answer(f, conn);
		first = FALSE;
	}
	g_mutex_lock(&f->live_lock);
	g_hash_table_remove(f->live, conn);
	g_mutex_unlock(&f->live_lock);
	FCGX_Free(&conn->fcgx, 1);
	close(conn->dup_fd);
	g_free(conn);
}

/* A connection for a connection thread.  libfcgi reads its requests
 * (FCGX_Accept_r() on a request that has a connection but no listening
 * socket); keepConnection keeps libfcgi from closing it before the
 * first one, which then says whether the web server keeps it.  NULL,
 * fd closed, if there is no descriptor left for its dup. */
static struct fcgi_conn *
fcgi_conn_new(int fd)
{
	struct fcgi_conn	*conn;
	struct timeval		 tv = { .tv_sec = FRONT_FCGI_READ_SECONDS };
	int			 one = 1, dup_fd;

	if ((dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		close(fd);
		return NULL;
	}
	conn = g_new0(struct fcgi_conn, 1);
	conn->dup_fd = dup_fd;

	/* A peer that stops reading or sending mid-request times out. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* As libfcgi's own accept: a reply goes out in several writes
	 * (records), which Nagle's algorithm would hold back for the web
	 * server's delayed ACK, 40 ms each.  Fails harmlessly on a Unix
	 * socket. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	FCGX_InitRequest(&conn->fcgx, -1, 0);
	conn->fcgx.ipcFd = fd;
	conn->fcgx.keepConnection = TRUE;
	return conn;
}

/* TRUE for an accept(2) error to try again at once: nothing is wrong
 * with us (accept(2): the pending network errors are passed on too). */
static gboolean
accept_retry_now(int err)
{
	switch (err) {
	case EAGAIN:		/* taken by a sibling first, or non-blocking */
	case EINTR:		/* woken by front_fcgi_stop() */
	case ECONNABORTED:
	case EPROTO:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETDOWN:
	case ENETUNREACH:
		return TRUE;
	default:
		return FALSE;
	}
}

/* The number of connections still open. */
static guint
live_count(struct front_fcgi *f)
{
	guint	n;

	g_mutex_lock(&f->live_lock);
	n = g_hash_table_size(f->live);
	g_mutex_unlock(&f->live_lock);
	return n;
}

/* Note a failed accept(2), once in a row, and wait a little. */
static void
accept_failed(gboolean *warned, int err)
{
	if (!*warned)
		log_warn("fastcgi: cannot accept a connection: %s; trying "
		    "again", g_strerror(err));
	*warned = TRUE;
	g_usleep(100 * 1000);
}

/*
 * Past FRONT_FCGI_CONNS_MAX, close a new connection at once (the web
 * server answers 502) rather than start one more thread; say so once
 * each time the limit is reached.
 */
static void
refuse_connection(int fd, gboolean *full)
{
	/* Logged first: whoever sees the close may look for the line. */
	if (!*full)
		log_warn("fastcgi: %d connections open, the most there may "
		    "be: closing new ones until one ends",
		    FRONT_FCGI_CONNS_MAX);
	*full = TRUE;
	close(fd);
}

/*
 * Acceptor thread: accept connections, nothing more, and hand each to a
 * connection thread: whatever a client sends, or does not, it cannot
 * keep the next one waiting.  Out of descriptors or memory, it waits a
 * little and tries again, rather than end; at FRONT_FCGI_CONNS_MAX it
 * closes new connections.  The listening socket may be
 * shared (systemd, spawn-fcgi siblings): it is never shut down nor its
 * options changed; poll(2) also watches the stop pipe, and a sibling
 * that takes a connection first leaves accept(2) blocked until
 * front_fcgi_stop() interrupts it with FRONT_FCGI_WAKE_SIGNAL.
 */
static void *
fcgi_accept_loop(void *data)
{
	struct front_fcgi	*f = data;
	struct fcgi_conn	*conn;
	gboolean		 warned = FALSE, full = FALSE;
	int			 fd;
	struct pollfd		 pfd[2] = {
		{ .fd = f->listen_fd, .events = POLLIN },
		{ .fd = f->stop_pipe[0], .events = POLLIN },
	};

	/* The stop pipe is watched with the socket: no check of its own. */
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno != EINTR)
				accept_failed(&warned, errno);
			continue;
		}
		if (pfd[1].revents != 0)
			break;
		if ((fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC)) ==
		    -1) {
			if (!accept_retry_now(errno))
				accept_failed(&warned, errno);
			continue;
		}
		if (live_count(f) >= FRONT_FCGI_CONNS_MAX) {
			refuse_connection(fd, &full);
			continue;
		}
		full = FALSE;
		if ((conn = fcgi_conn_new(fd)) == NULL) {
			accept_failed(&warned, EMFILE);
			continue;
		}
		warned = FALSE;
		/* In the live set before its thread runs: a stop that
		 * begins now must find it. */
		g_mutex_lock(&f->live_lock);
		g_hash_table_add(f->live, conn);
		g_mutex_unlock(&f->live_lock);
		g_thread_pool_push(f->connections, conn, NULL);
	}
	g_atomic_int_set(&f->acceptor_done, TRUE);
	return NULL;
}

/* The wake signal's handler: only its interruption matters. */
static void
wake(int sig)
{
	(void)sig;
}

struct front_fcgi *
front_fcgi_start(const struct app *app, int listen_fd, GError **err)
{
	struct front_fcgi	*f;
	struct sigaction	 sa;
	int			 listening = 0;
	socklen_t		 len = sizeof(listening);

	if (FCGX_Init() != 0) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "libfcgi did not start");
		return NULL;
	}
	if (getsockopt(listen_fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
	    &len) == -1 || !listening) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "the FastCGI socket is not a listening socket");
		return NULL;
	}
	/* No SA_RESTART: the signal must end a blocked accept(2). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wake;
	sigemptyset(&sa.sa_mask);
	sigaction(FRONT_FCGI_WAKE_SIGNAL, &sa, NULL);
	f = g_new0(struct front_fcgi, 1);
	f->app = app;
	f->listen_fd = listen_fd;
	if (!g_unix_open_pipe(f->stop_pipe, FD_CLOEXEC, err)) {
		g_free(f);
		return NULL;
	}
	g_mutex_init(&f->live_lock);
	f->live = g_hash_table_new(NULL, NULL);
	/* Unbounded: a kept connection holds its thread while idle, and a
	 * bound would leave new connections queued behind idle ones.  The
	 * web server bounds how many it opens, the timeouts how long a
	 * silent one lasts. */
	f->connections = g_thread_pool_new(fcgi_serve_connection, f, -1,
	    FALSE, NULL);
	if ((errno = pthread_create(&f->acceptor, NULL, fcgi_accept_loop,
	    f)) != 0)
		log_fatal("fastcgi: no acceptor thread: %s", g_strerror(errno));
	return f;
}

/* GHFunc: end a connection's reads and writes, whatever libfcgi does,
 * unless its page runs (a send's answer must not be lost: the mail is
 * out, and the user would send it again). */
static void
conn_shut(gpointer key, gpointer value, gpointer data)
{
	struct fcgi_conn	*conn = key;

	(void)value; (void)data;
	if (!conn->answering) {
		conn->shut = TRUE;
		shutdown(conn->dup_fd, SHUT_RDWR);
	}
}

void
front_fcgi_stop(struct front_fcgi *f)
{
	gint64	deadline;

	/* Closing the pipe's write end says we are stopping, and wakes the
	 * acceptor and the connection threads that wait for a request.
	 * The signal, until it is done, ends an accept(2) that blocks. */
	close(f->stop_pipe[1]);
	while (!g_atomic_int_get(&f->acceptor_done)) {
		pthread_kill(f->acceptor, FRONT_FCGI_WAKE_SIGNAL);
		g_usleep(10 * 1000);
	}
	pthread_join(f->acceptor, NULL);
	/* Our own socket refuses new connections at once (the web server
	 * can go elsewhere); a shared one keeps them for the next one. */
	close(f->listen_fd);
	/* Requests in progress may end, within a grace period; then the
	 * connections are shut down under them, so that a client that
	 * trickles bytes cannot hold the stop.  A send already talking to
	 * the SMTP server still finishes (its own timeouts bound it). */
	deadline = g_get_monotonic_time() +
	    FRONT_FCGI_STOP_SECONDS * G_USEC_PER_SEC;
	while (live_count(f) > 0 && g_get_monotonic_time() < deadline)
		g_usleep(50 * 1000);
	g_mutex_lock(&f->live_lock);
	g_hash_table_foreach(f->live, conn_shut, NULL);
	g_mutex_unlock(&f->live_lock);
	g_thread_pool_free(f->connections, FALSE, TRUE);
	g_hash_table_unref(f->live);
	g_mutex_clear(&f->live_lock);
	close(f->stop_pipe[0]);
	g_free(f);
}

/* --- CGI --- */

/* Read the CGI body from standard input. */
static gsize
stdin_read(void *ctx, char *buf, gsize n)
{
	(void)ctx;
	return fread(buf, 1, n, stdin);
}

/* Write the CGI answer to standard output. */
static gboolean
stdout_write(void *ctx, const char *buf, gsize n)
{
	(void)ctx;
	return fwrite(buf, 1, n, stdout) == n;
}

void
front_cgi_run(const struct app *app)
{
	struct gateway		gw = { environ, stdin_read, stdout_write,
				    NULL };
	struct http_request	req;
	struct http_response	resp;

	read_request(&gw, &req);
	http_response_init(&resp);
	app_handle(app, &req, &resp);
	write_response(&gw, &req, &resp);
	fflush(stdout);
	http_response_clear(&resp);
	http_request_clear(&req);
}
