/*
 * http - the request and response that every front end translates to and
 * from.  The core (app.c and the route_*.c pages) sees only these and
 * knows nothing of sockets, libmicrohttpd or FastCGI.
 *
 * A front end fills a struct http_request, calls app_handle(), and sends
 * the struct http_response back.  Both own their strings: free them with
 * http_request_clear() and http_response_clear().
 */
#ifndef LABMAIL_HTTP_H
#define LABMAIL_HTTP_H

#include <glib.h>

/* Named limits, checked by the front ends before anything is buffered. */
#define HTTP_BODY_MAX		(2 * 1024 * 1024)	/* POST body */
/* Most of a body over HTTP_BODY_MAX read and dropped before the 413, so
 * that the client, still writing it, reads the answer; past it, the
 * connection is closed (front_mhd.c and front_fcgi.c say when). */
#define HTTP_BODY_DROP_MAX	(16 * 1024 * 1024)
#define HTTP_FIELD_MAX		(1536 * 1024)		/* one form field */
/* Request header fields (standalone) or CGI variables (FastCGI, CGI),
 * all together: past it, 431 and no page (front_mhd.h says why). */
#define HTTP_HEADER_MAX		(16 * 1024)
/* Fields of a form or a query, delimiter lines of a multipart body: a
 * page needs a handful, and a 2 MiB body of tiny parts would cost a
 * hundred times its size to parse. */
#define HTTP_FIELDS_MAX		256

struct http_request {
	char		*method;	/* "GET", "POST", ... */
	char		*path;		/* decoded, without the prefix */
	char		*prefix;	/* SCRIPT_NAME behind a web server,
					 * "" standalone; links start with it */
	char		*peer;		/* client address, for logs */
	char		*target;	/* request-target as received (path
					 * and query, still %-encoded), for
					 * the access log; NULL: use path */
	char		*protocol;	/* "HTTP/1.1", for the access log;
					 * NULL: unknown */
	gboolean	 https;
	/* The tables, made on the first entry (NULL: none yet): read
	 * them with http_query() and the like. */
	GHashTable	*query;		/* name -> value, first one wins */
	GHashTable	*form;		/* POST fields, urlencoded/multipart */
	GHashTable	*headers;	/* lower-case name -> value */
	GHashTable	*cookies;	/* name -> value */
	gboolean	 body_too_large;	/* body over HTTP_BODY_MAX: 413 */
	gboolean	 header_too_large;	/* over the front end's limit:
						 * 431, no page runs */
	char		*bad_field;	/* the first form field (never a
					 * query's) whose name or value
					 * held a NUL byte (replaced by
					 * U+FFFD) or a malformed
					 * %-escape, or NULL */
	const char	*malformed;	/* why the request cannot be served
					 * (a static string): 400, no page
					 * runs; NULL if it can */
	gboolean	 unavailable;	/* the server is stopping and the
					 * page would block: 503, no page */
};

struct http_header {
	char	*name;
	char	*value;
};

/*
 * The body is either body (in memory) or, for what may be tens of MB
 * (a message's raw source, an attachment), body_file: a file read from
 * its start, body_file_len bytes, that the response owns and closes.
 */
struct http_response {
	int		 status;
	GArray		*headers;	/* struct http_header */
	GBytes		*body;		/* NULL: empty, or body_file */
	int		 body_file;	/* -1: none */
	guint64		 body_file_len;
	struct http_page *page;		/* NULL, or the page that status,
					 * headers and body still are */
};

/*
 * A whole response kept for reuse (the app's page cache): frozen once by
 * http_response_freeze(), never changed after, shared between threads
 * by reference count.  A response set from a page shares its headers
 * and body; the first change to it (a header added, a new status) gives
 * it copies of its own and it is no longer the page.
 */
struct http_page;

/* Empty request (the front end fills it in). */
void		 http_request_init(struct http_request *);
void		 http_request_clear(struct http_request *);

const char	*http_query(const struct http_request *, const char *name);
const char	*http_form(const struct http_request *, const char *name);
const char	*http_header(const struct http_request *, const char *name);
const char	*http_cookie(const struct http_request *, const char *name);

/* Add name=value to *table (made if NULL) unless name is there (first
 * value wins). */
void		 http_table_add(GHashTable **table, const char *name,
		    const char *value);
/* The number of entries of a request's table. */
guint		 http_table_size(GHashTable *table);

/*
 * Add a form field from raw bytes (first value of a name wins).  A NUL
 * byte is replaced by U+FFFD and the field named in req->bad_field, so
 * that the page can refuse it by name instead of truncating silently.
 * A value over HTTP_FIELD_MAX is dropped and marks body_too_large.
 */
void		 http_request_add_field(struct http_request *,
		    const char *name, const char *data, gsize len);

/*
 * Parse application/x-www-form-urlencoded data ("a=1&b=%C3%A9+x") into
 * req->form (form TRUE) or req->query, decoding with GLib.  In a form,
 * a malformed %-escape or a NUL byte names the field in req->bad_field;
 * in a query, which no form's check should hear of, such a field is
 * dropped or its NUL made U+FFFD.  Past HTTP_FIELDS_MAX fields, the
 * rest is dropped and req->malformed set.
 */
void		 http_parse_urlencoded(struct http_request *, gboolean form,
		    const char *data, gsize len);

/*
 * Parse a multipart/form-data body (content_type: the request's
 * Content-Type, with its boundary) into req->form, with GMime, which
 * must be initialised (compose_init()).  Each part named by its
 * Content-Disposition becomes a field; a file's content counts as its
 * value.  FALSE if the type is not multipart/form-data or the body does
 * not parse; a body with more than HTTP_FIELDS_MAX delimiter lines, or
 * with a part that is a multipart or a message (whose parts would go
 * uncounted), is not parsed at all, and sets req->malformed.
 */
gboolean	 http_parse_multipart(struct http_request *,
		    const char *content_type, const char *data, gsize len);

/*
 * Parse a request body into req->form by its Content-Type (the
 * request's header, NULL if none): application/x-www-form-urlencoded
 * with http_parse_urlencoded(), multipart/form-data with
 * http_parse_multipart(); any other body gives no field.  Every front
 * end reads forms through this one function.
 */
void		 http_parse_form(struct http_request *,
		    const char *content_type, const char *data, gsize len);

/* Parse a Cookie header ("a=1; b=2") into req->cookies. */
void		 http_parse_cookies(struct http_request *, const char *header);

void		 http_response_init(struct http_response *);
void		 http_response_clear(struct http_response *);
void		 http_response_add_header(struct http_response *,
		    const char *name, const char *value);
const char	*http_response_header(const struct http_response *,
		    const char *name);

/* Set status, Content-Type and body (the body is taken over). */
void		 http_response_set(struct http_response *, int status,
		    const char *content_type, GBytes *body);
/*
 * Set the status, the type and a body read from file fd (its whole
 * length, from offset 0), which the response takes over.  FALSE (fd
 * closed, nothing set) if fd cannot be measured.
 */
gboolean	 http_response_set_file(struct http_response *, int status,
		    const char *content_type, int fd);
/* The body's length in bytes, wherever it is. */
guint64		 http_response_body_len(const struct http_response *);
/*
 * A new file for a large body: read-write, already unlinked, in the
 * temporary folder, so that the body is on disk rather than in memory.
 * -1 with *err set if none can be made.
 */
int		 http_body_file_new(GError **err);

/* A short plain-text error page; never echoes the request. */
void		 http_response_error(struct http_response *, int status);
/*
 * Set-Cookie for name=value, HttpOnly, SameSite=Strict, on the prefix's
 * path, Secure under HTTPS.  max_age < 0: until the browser closes;
 * 0: delete the cookie.
 */
void		 http_response_set_cookie(struct http_response *,
		    const struct http_request *, const char *name,
		    const char *value, int max_age);
/* 303 See Other to prefix + path. */
void		 http_response_redirect(struct http_response *,
		    const struct http_request *, const char *path);

/*
 * Freeze resp, whose body must be in memory, into a page; resp stays
 * that page until it changes.  Returns a new reference.
 */
struct http_page *http_response_freeze(struct http_response *);
/* Make resp answer with page: its status, headers and body. */
void		 http_response_set_page(struct http_response *,
		    struct http_page *);
struct http_page *http_page_ref(struct http_page *);
void		 http_page_unref(struct http_page *);

/*
 * A front end's own form of the page that resp still is (front_mhd's
 * libmicrohttpd response), so that serving a cached page copies
 * nothing: made by make(resp) on first use, freed by destroy with the
 * page.  NULL if resp is not an unchanged page or make() returned NULL.
 * Borrowed: valid while resp holds the page.  One front end per process.
 */
typedef gpointer	(*http_page_front_new)(const struct http_response *);
gpointer	 http_response_page_front(const struct http_response *,
		    http_page_front_new make, GDestroyNotify destroy);

const char	*http_status_text(int status);

/* "Sat, 28 Nov 2026 04:26:16 GMT" for Date/Last-Modified (RFC 9110). */
char		*http_date(gint64 unix_time);

#endif
