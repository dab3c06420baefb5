/*
 * route_static - the files of static/, with validators for caching.
 */
#include <string.h>
#include <time.h>

#include "assets.h"
#include "routes.h"

/* Parse an HTTP date ("Sat, 28 Nov 2026 04:26:16 GMT"); -1 if bad. */
static gint64
parse_http_date(const char *s)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	return timegm(&tm);
}

/*
 * TRUE if an If-None-Match list names etag, or is "*": its members are
 * separated by commas, and compared weakly (RFC 9110, 13.1.2), so that
 * W/"x" matches "x".
 */
static gboolean
etag_listed(const char *list, const char *etag)
{
	char		**tags = g_strsplit(list, ",", -1);
	const char	 *tag;
	gboolean	  found = FALSE;
	gsize		  i;

	for (i = 0; tags[i] != NULL && !found; i++) {
		tag = g_strstrip(tags[i]);
		if (g_str_has_prefix(tag, "W/"))
			tag += 2;
		found = strcmp(tag, "*") == 0 || strcmp(tag, etag) == 0;
	}
	g_strfreev(tags);
	return found;
}

/* TRUE if the client's copy is current (RFC 9110, section 13.1). */
static gboolean
not_modified(const struct http_request *req, const struct asset *a)
{
	const char	*inm = http_header(req, "if-none-match");
	const char	*ims = http_header(req, "if-modified-since");
	gint64		 since;

	/* If-None-Match, when present, decides alone. */
	if (inm != NULL)
		return etag_listed(inm, a->etag);
	if (ims != NULL && (since = parse_http_date(ims)) >= 0)
		return a->mtime <= since;
	return FALSE;
}

void
route_static(const struct app *app, const struct http_request *req,
    struct http_response *resp)
{
	const char		*name = req->path + strlen("/static/");
	const struct asset	*a = assets_find(app->assets, name);

	if (a == NULL) {
		app_error(app, req, resp, 404);
		return;
	}
	/* A 304 keeps the body, never sent, so that libmicrohttpd gives
	 * its true length: RFC 9110 8.6 allows no other Content-Length. */
	http_response_set(resp, not_modified(req, a) ? 304 : 200,
	    a->content_type, g_bytes_ref(a->data));
	http_response_add_header(resp, "ETag", a->etag);
	http_response_add_header(resp, "Last-Modified", a->last_modified);
	http_response_add_header(resp, "Cache-Control", "max-age=300");
}
