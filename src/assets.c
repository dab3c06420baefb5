/*
 * assets - static files held in a hash table, with ETag and dates.
 */
#include <sys/stat.h>

#include <string.h>

#include "assets.h"
#include "http.h"

#define ASSETS_FILE_MAX		(4 * 1024 * 1024)
#define ASSETS_DEPTH_MAX	8

struct assets {
	GHashTable	*files;		/* relative path -> struct asset * */
};

static const struct {
	const char	*ext;
	const char	*type;
} content_types[] = {
	{ ".css",	"text/css; charset=utf-8" },
	{ ".js",	"text/javascript; charset=utf-8" },
	{ ".svg",	"image/svg+xml" },
	{ ".png",	"image/png" },
	{ ".ico",	"image/x-icon" },
	{ ".txt",	"text/plain; charset=utf-8" },
	{ ".woff2",	"font/woff2" },
};

const char *
assets_content_type(const char *name)
{
	gsize	i;

	for (i = 0; i < G_N_ELEMENTS(content_types); i++)
		if (g_str_has_suffix(name, content_types[i].ext))
			return content_types[i].type;
	return "application/octet-stream";
}

/* Free one entry (hash table destroy function). */
static void
asset_free(gpointer p)
{
	struct asset	*a = p;

	g_bytes_unref(a->data);
	g_free(a->etag);
	g_free(a->last_modified);
	g_free(a);
}

/* Read one regular file into the table under its relative name. */
static gboolean
load_file(struct assets *as, const char *path, const char *rel,
    const struct stat *st, GError **err)
{
	struct asset	*a;
	char		*data, *sum;
	gsize		 len;

	if (st->st_size > ASSETS_FILE_MAX) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
		    "%s: larger than %d bytes", path, ASSETS_FILE_MAX);
		return FALSE;
	}
	if (!g_file_get_contents(path, &data, &len, err))
		return FALSE;
	a = g_new0(struct asset, 1);
	a->data = g_bytes_new_take(data, len);
	a->content_type = assets_content_type(rel);
	sum = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, a->data);
	a->etag = g_strdup_printf("\"%.16s\"", sum);
	g_free(sum);
	a->mtime = st->st_mtime;
	a->last_modified = http_date(a->mtime);
	g_hash_table_replace(as->files, g_strdup(rel), a);
	return TRUE;
}

/* Walk dir (rel is its path below the top, "" at the top). */
static gboolean
load_dir(struct assets *as, const char *dir, const char *rel, int depth,
    GError **err)
{
	GDir		*d;
	const char	*name;
	gboolean	 ok = TRUE;

	if (depth > ASSETS_DEPTH_MAX)
		return TRUE;
	if ((d = g_dir_open(dir, 0, err)) == NULL)
		return FALSE;
	while (ok && (name = g_dir_read_name(d)) != NULL) {
		char		*path = g_build_filename(dir, name, NULL);
		char		*sub = *rel ? g_strconcat(rel, "/", name, NULL) :
				    g_strdup(name);
		struct stat	 st;

		/* lstat: a symlink could lead out of static/. */
		if (name[0] == '.' || lstat(path, &st) == -1)
			;
		else if (S_ISDIR(st.st_mode))
			ok = load_dir(as, path, sub, depth + 1, err);
		else if (S_ISREG(st.st_mode))
			ok = load_file(as, path, sub, &st, err);
		g_free(path);
		g_free(sub);
	}
	g_dir_close(d);
	return ok;
}

struct assets *
assets_load(const char *dir, GError **err)
{
	struct assets	*as = g_new0(struct assets, 1);

	as->files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    asset_free);
	if (!load_dir(as, dir, "", 0, err)) {
		assets_free(as);
		return NULL;
	}
	return as;
}

void
assets_free(struct assets *as)
{
	if (as == NULL)
		return;
	g_hash_table_unref(as->files);
	g_free(as);
}

const struct asset *
assets_find(const struct assets *as, const char *path)
{
	return g_hash_table_lookup(as->files, path);
}
