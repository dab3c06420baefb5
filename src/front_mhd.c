/*
 * front_mhd - libmicrohttpd adapter: MHD connection <-> http_request.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <string.h>

#include <microhttpd.h>

#include "front_mhd.h"
#include "log.h"

struct front_mhd {
	struct MHD_Daemon	*daemon;
	const struct app	*app;
	GThreadPool		*workers;	/* APP_WAIT_LOCAL pages */
	GThreadPool		*senders;	/* APP_WAIT_SMTP pages */
	GMutex			 workers_lock;	/* the two below, pushes */
	GCond			 answered;	/* handed went down */
	gboolean		 stopping;	/* no more work for workers */
	guint			 handed;	/* requests given to workers,
						 * not yet answered */
	gboolean		 https;
};

/* Where a request is in its life. */
enum conn_state {
	CONN_NEW,		/* only the request-target is known */
	CONN_READING,		/* headers in, body coming */
	CONN_WORKING,		/* suspended, a worker runs app_handle() */
	CONN_DONE,		/* resp is ready to send */
};

struct conn {
	struct front_mhd	*front;
	struct MHD_Connection	*mhd;
	enum conn_state		 state;
	struct http_request	 req;
	struct http_response	 resp;
	GString			*body;		/* a POST's, up to HTTP_BODY_MAX */
	gsize			 body_len;	/* bytes received, kept or not */
	char			*target;	/* as received, until conn_new */
	gboolean		 handed;	/* counted in front->handed */
};

/* Copy one header, cookie or query argument into a request table. */
static enum MHD_Result
copy_value(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	GHashTable	**table = cls;
	char		 *name;

	if (kind == MHD_HEADER_KIND) {
		name = g_ascii_strdown(key, -1);
		http_table_add(table, name, value ? value : "");
		g_free(name);
	} else
		http_table_add(table, key, value ? value : "");
	return MHD_YES;
}

/* The numeric address of the client. */
static char *
peer_address(struct MHD_Connection *mhd)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mhd,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char	host[INET6_ADDRSTRLEN];
	const void *addr;

	if (ci == NULL || ci->client_addr == NULL)
		return g_strdup("-");
	if (ci->client_addr->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr;
	else
		addr = &((const struct sockaddr_in *)ci->client_addr)->sin_addr;
	if (inet_ntop(ci->client_addr->sa_family, addr, host,
	    sizeof(host)) == NULL)
		return g_strdup("-");
	return g_strdup(host);
}

/*
 * MHD's first look at a request (URI log callback): keep the
 * request-target exactly as the client sent it, for the access log;
 * MHD decodes the url it passes on_request().  What this returns is
 * on_request()'s *con_cls.
 */
static void *
uri_log(void *cls, const char *uri, struct MHD_Connection *mhd)
{
	struct conn	*c = g_new0(struct conn, 1);

	(void)cls; (void)mhd;
	c->state = CONN_NEW;
	c->target = g_strdup(uri);
	return c;
}

/* Add one header line's bytes to *cls (MHD value iterator). */
static enum MHD_Result
count_header(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	gsize	*n = cls;

	(void)kind;
	*n += strlen(key) + (value != NULL ? strlen(value) : 0) + 4;
	/* libmicrohttpd keeps a parsed copy of the cookies too. */
	if (value != NULL && g_ascii_strcasecmp(key, "cookie") == 0)
		*n += strlen(value);
	return MHD_YES;
}

/*
 * The bytes of the request line and header fields as libmicrohttpd
 * holds them in the connection's memory (see HTTP_HEADER_MAX), repeated
 * fields included.  The request-target counts twice: as received, and
 * decoded, with its query split into arguments.
 */
static gsize
header_bytes(struct MHD_Connection *mhd, const char *target)
{
	gsize	n = 2 * strlen(target);

	MHD_get_connection_values(mhd, MHD_HEADER_KIND, count_header, &n);
	return n;
}

/* A new request: fill in what the headers tell. */
static struct conn *
conn_new(struct conn *c, struct front_mhd *f, struct MHD_Connection *mhd,
    const char *url, const char *method, const char *version)
{
	const char	*length, *query;

	c->front = f;
	c->mhd = mhd;
	c->state = CONN_READING;
	http_request_init(&c->req);
	http_response_init(&c->resp);
	c->req.method = g_strdup(method);
	c->req.path = g_strdup(url);
	/* MHD gives uri_log() every request; the url is a fallback. */
	c->req.target = c->target != NULL ? g_steal_pointer(&c->target) :
	    g_strdup(url);
	c->req.protocol = g_strdup(version);
	c->req.prefix = g_strdup("");
	c->req.https = f->https;
	c->req.peer = peer_address(mhd);
	MHD_get_connection_values(mhd, MHD_HEADER_KIND, copy_value,
	    &c->req.headers);
	MHD_get_connection_values(mhd, MHD_COOKIE_KIND, copy_value,
	    &c->req.cookies);
	/* The query with the same parser as FastCGI and CGI (libmicrohttpd
	 * has its own), so that every mode reads it alike. */
	if ((query = strchr(c->req.target, '?')) != NULL)
		http_parse_urlencoded(&c->req, FALSE, query + 1,
		    strlen(query + 1));
	length = http_header(&c->req, "content-length");
	if (header_bytes(mhd, c->req.target) > HTTP_HEADER_MAX)
		c->req.header_too_large = TRUE;
	else if (length != NULL && g_ascii_strtoull(length, NULL, 10) >
	    HTTP_BODY_MAX)
		c->req.body_too_large = TRUE;
	else if (strcmp(method, "POST") == 0)
		c->body = g_string_new(NULL);
	return c;
}

/* Free a connection's state (MHD completion callback). */
static void
conn_done(void *cls, struct MHD_Connection *mhd, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct conn	*c = *con_cls;

	(void)cls; (void)mhd; (void)toe;
	if (c == NULL)
		return;
	if (c->state == CONN_NEW) {	/* never reached on_request() */
		g_free(c->target);
		g_free(c);
		*con_cls = NULL;
		return;
	}
	if (c->handed) {
		g_mutex_lock(&c->front->workers_lock);
		c->front->handed--;
		g_cond_broadcast(&c->front->answered);
		g_mutex_unlock(&c->front->workers_lock);
	}
	if (c->body != NULL)
		g_string_free(c->body, TRUE);
	http_request_clear(&c->req);
	http_response_clear(&c->resp);
	g_free(c);
	*con_cls = NULL;
}

/* Keep body bytes, within the limit; past it, mark the request. */
static void
read_body(struct conn *c, const char *data, size_t size)
{
	c->body_len += size;
	if (c->body_len > HTTP_BODY_MAX && !c->req.body_too_large) {
		c->req.body_too_large = TRUE;
		if (c->body != NULL)
			g_string_free(c->body, TRUE);
		c->body = NULL;		/* the rest is dropped */
	}
	if (c->body != NULL)
		g_string_append_len(c->body, data, size);
}

/*
 * Parse the whole body as a form, with the same parser as the FastCGI
 * and CGI front ends (http_parse_form()), so that every mode reads a
 * form alike: first value of a name wins, a NUL byte is named.
 */
static void
finish_body(struct conn *c)
{
	if (c->body == NULL || c->req.body_too_large)
		return;
	http_parse_form(&c->req, http_header(&c->req, "content-type"),
	    c->body->str, c->body->len);
	g_string_free(c->body, TRUE);
	c->body = NULL;
}

/*
 * Decode %XX in the path and query with MHD's own decoder, but empty a
 * value that decodes to a NUL byte: "style.css%00.txt" would otherwise
 * reach us cut short as "style.css" (a classic filter bypass).  An empty
 * path matches no route, so the answer is 404.
 */
static size_t
unescape(void *cls, struct MHD_Connection *mhd, char *s)
{
	size_t	len = MHD_http_unescape(s);

	(void)cls; (void)mhd;
	if (memchr(s, '\0', len) != NULL) {
		*s = '\0';
		return 0;
	}
	return len;
}

/* libmicrohttpd's own messages, through our log (levels, syslog); some
 * quote the decoded URL, so a %0D%0A in it must not start a line. */
static void G_GNUC_PRINTF(2, 0)
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char	*msg = g_strdup_vprintf(fmt, ap);
	char	*shown = log_printable(g_strchomp(msg));

	(void)cls;
	log_warn("%s", shown);
	g_free(shown);
	g_free(msg);
}

/* Drop our reference when MHD is done with a body. */
static void
bytes_unref(void *cls)
{
	g_bytes_unref(cls);
}

/* Add resp's headers to r (NULL: nothing); returns r. */
static struct MHD_Response *
with_headers(struct MHD_Response *r, const struct http_response *resp)
{
	guint	i;

	for (i = 0; r != NULL && i < resp->headers->len; i++) {
		const struct http_header *h = &g_array_index(resp->headers,
		    struct http_header, i);

		MHD_add_response_header(r, h->name, h->value);
	}
	return r;
}

/* A libmicrohttpd response for resp, whose body is in memory (shared,
 * not copied). */
static struct MHD_Response *
memory_response(const struct http_response *resp)
{
	gsize		 len = 0;
	const void	*data = NULL;

	if (resp->body != NULL)
		data = g_bytes_get_data(resp->body, &len);
	if (len == 0)
		return with_headers(MHD_create_response_from_buffer(0, NULL,
		    MHD_RESPMEM_PERSISTENT), resp);
	return with_headers(
	    MHD_create_response_from_buffer_with_free_callback_cls(len,
	    (void *)data, bytes_unref, g_bytes_ref(resp->body)), resp);
}

/* http_page_front_new: the response kept with a cached page. */
static gpointer
page_response_new(const struct http_response *resp)
{
	return memory_response(resp);
}

static void
page_response_free(gpointer r)
{
	MHD_destroy_response(r);
}

/*
 * Hand the response to MHD, without copying the body; a cached page's
 * MHD response is made once and queued again for every request (MHD
 * counts the references).
 */
static enum MHD_Result
send_response(struct conn *c)
{
	struct MHD_Response	*r;
	enum MHD_Result		 ret;

	r = http_response_page_front(&c->resp, page_response_new,
	    page_response_free);
	if (r != NULL)
		return MHD_queue_response(c->mhd, c->resp.status, r);
	if (c->resp.body_file < 0)
		r = memory_response(&c->resp);
	else {
		/* MHD reads it (sendfile(2) over plain HTTP) and closes it. */
		r = with_headers(MHD_create_response_from_fd64(
		    c->resp.body_file_len, c->resp.body_file), &c->resp);
		if (r != NULL)
			c->resp.body_file = -1;
	}
	if (r == NULL)
		return MHD_NO;
	ret = MHD_queue_response(c->mhd, c->resp.status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Worker thread: run a request that may wait on SMTP, then resume. */
static void
work(gpointer data, gpointer user_data)
{
	struct conn	*c = data;

	(void)user_data;
	app_handle(c->front->app, &c->req, &c->resp);
	c->state = CONN_DONE;
	MHD_resume_connection(c->mhd);
}

/*
 * Suspend c and give it to a worker of pool; FALSE when stopping, with c's
 * request marked so that app_handle() answers 503 without blocking.
 */
static gboolean
to_worker(struct front_mhd *f, struct conn *c, GThreadPool *pool)
{
	gboolean	pushed = FALSE;

	g_mutex_lock(&f->workers_lock);
	if (!f->stopping) {
		c->state = CONN_WORKING;
		c->handed = TRUE;
		f->handed++;
		MHD_suspend_connection(c->mhd);
		g_thread_pool_push(pool, c, NULL);
		pushed = TRUE;
	} else
		c->req.unavailable = TRUE;
	g_mutex_unlock(&f->workers_lock);
	return pushed;
}

/*
 * TRUE when a request already refused (a body over the limit: 413;
 * header fields over theirs: 431) is to be answered before any of its
 * body is read: the client waits to be told to send it ("Expect:
 * 100-continue", and gets no "100 Continue"), or it announces more than
 * we would read and drop.  Any other body is read and dropped, then
 * answered: a client that sends before it reads (a browser) would get a
 * reset, not the page, if the connection closed under it.
 */
static gboolean
refuse_now(const struct conn *c)
{
	const char	*expect = http_header(&c->req, "expect");
	const char	*length = http_header(&c->req, "content-length");

	if (!c->req.body_too_large && !c->req.header_too_large)
		return FALSE;
	return (expect != NULL && g_ascii_strcasecmp(expect,
	    "100-continue") == 0) || (length != NULL &&
	    g_ascii_strtoull(length, NULL, 10) > HTTP_BODY_DROP_MAX);
}

/* Run the page here, on the event loop (it must not wait), and send it. */
static enum MHD_Result
answer_now(struct front_mhd *f, struct conn *c)
{
	app_handle(f->app, &c->req, &c->resp);
	c->state = CONN_DONE;
	return send_response(c);
}

/* MHD access handler: called once for the headers, for each body chunk,
 * at the end of the body, and again after a resume. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *mhd, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct front_mhd	*f = cls;
	struct conn		*c = *con_cls;
	enum app_wait		 wait;

	if (c == NULL || c->state == CONN_NEW) {
		*con_cls = c = conn_new(c != NULL ? c : g_new0(struct conn, 1),
		    f, mhd, url, method, version);
		if (refuse_now(c))
			return answer_now(f, c);
		return MHD_YES;
	}
	if (c->state == CONN_READING && *upload_data_size > 0) {
		read_body(c, upload_data, *upload_data_size);
		*upload_data_size = 0;
		/* A chunked body past what we drop: a client that keeps
		 * sending must not hold the connection, as libmicrohttpd's
		 * timeout is an idle one, and libmicrohttpd 0.9.75 takes no
		 * answer before the body's end.  Close it. */
		return c->body_len > HTTP_BODY_DROP_MAX ? MHD_NO : MHD_YES;
	}
	if (c->state == CONN_READING) {
		finish_body(c);
		wait = app_wait(f->app, &c->req);
		if (!c->req.body_too_large && !c->req.header_too_large &&
		    wait != APP_WAIT_NONE && to_worker(f, c,
		    wait == APP_WAIT_SMTP ? f->senders : f->workers))
			return MHD_YES;
		return answer_now(f, c);
	}
	if (c->state != CONN_DONE)
		return MHD_YES;
	return send_response(c);
}

struct front_mhd *
front_mhd_start(const struct app *app, int listen_fd, const char *cert_pem,
    const char *key_pem, GError **err)
{
	struct front_mhd	*f = g_new0(struct front_mhd, 1);
	unsigned int		 flags = MHD_USE_AUTO_INTERNAL_THREAD |
				    MHD_ALLOW_SUSPEND_RESUME |
				    MHD_USE_ERROR_LOG;

	f->app = app;
	f->https = cert_pem != NULL;
	if (f->https) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
			    "this libmicrohttpd has no TLS");
			g_free(f);
			return NULL;
		}
		flags |= MHD_USE_TLS;
	}
	g_mutex_init(&f->workers_lock);
	g_cond_init(&f->answered);
	f->workers = g_thread_pool_new(work, f, FRONT_MHD_WORKERS, FALSE,
	    NULL);
	f->senders = g_thread_pool_new(work, f, FRONT_MHD_SENDERS, FALSE,
	    NULL);
	/* The key options are read only with MHD_USE_TLS. */
	f->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, f,
	    /* First, so that no message escapes to MHD's own logger. */
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, listen_fd,
	    MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned int)MAX(g_get_num_processors(), FRONT_MHD_THREADS_MIN),
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)FRONT_MHD_CONNECTIONS,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)FRONT_MHD_CONN_MEMORY,
	    MHD_OPTION_NOTIFY_COMPLETED, conn_done, NULL,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
	    MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
	    f->https ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert_pem,
	    MHD_OPTION_HTTPS_MEM_KEY, key_pem,
	    MHD_OPTION_END);
	if (f->daemon == NULL) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "libmicrohttpd did not start%s", f->https ?
		    " (is the certificate or the key bad?)" : "");
		g_thread_pool_free(f->workers, TRUE, TRUE);
		g_thread_pool_free(f->senders, TRUE, TRUE);
		g_cond_clear(&f->answered);
		g_mutex_clear(&f->workers_lock);
		g_free(f);
		return NULL;
	}
	return f;
}

/*
 * Sends under way finish and are answered; pages that would block
 * meanwhile get 503.  Not MHD_quiesce_daemon(): in libmicrohttpd 0.9.75
 * it races with a worker's epoll loop over the listening socket, and
 * the loser aborts the process ("Failed to remove listen FD from epoll
 * set").  New connections are served until MHD_stop_daemon().
 */
void
front_mhd_stop(struct front_mhd *f)
{
	gint64	deadline;

	g_mutex_lock(&f->workers_lock);
	f->stopping = TRUE;
	g_mutex_unlock(&f->workers_lock);
	g_thread_pool_free(f->workers, FALSE, TRUE);
	g_thread_pool_free(f->senders, FALSE, TRUE);
	/* A worker done has only resumed its connection: the event loop
	 * still has to send the page.  Wait for that (the connection's
	 * end), a little, rather than close it unanswered. */
	deadline = g_get_monotonic_time() +
	    FRONT_MHD_ANSWER_SECONDS * G_USEC_PER_SEC;
	g_mutex_lock(&f->workers_lock);
	while (f->handed > 0 &&
	    g_cond_wait_until(&f->answered, &f->workers_lock, deadline))
		;
	g_mutex_unlock(&f->workers_lock);
	MHD_stop_daemon(f->daemon);
	g_cond_clear(&f->answered);
	g_mutex_clear(&f->workers_lock);
	g_free(f);
}
