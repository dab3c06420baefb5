/*
 * assets - static files held in a hash table, with ETag and dates.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <unistd.h>

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

/* Read the whole of an open file of the given size. */
static GBytes *
read_all(int fd, gsize size, const char *path, GError **err)
{
	char	*data = g_malloc(size + 1);
	gsize	 got = 0;
	ssize_t	 n;

	while (got < size && (n = read(fd, data + got, size - got)) > 0)
		got += n;
	if (got != size) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_IO,
		    "%s: short read", path);
		g_free(data);
		return NULL;
	}
	return g_bytes_new_take(data, size);
}

/*
 * Read one regular file into the table under its relative name.  It is
 * opened with O_NOFOLLOW and checked with fstat(), so that a symlink put
 * in place after the lstat() of the walk is refused too.  It is copied,
 * not mapped: editing the file while labmail runs must not crash it.
 */
static gboolean
load_file(struct assets *as, const char *path, const char *rel,
    GError **err)
{
	struct asset	*a;
	struct stat	 st;
	GBytes		*data = NULL;
	char		*sum;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
		    "%s: not a regular file", path);
	else if (st.st_size > ASSETS_FILE_MAX)
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
		    "%s: larger than %d bytes", path, ASSETS_FILE_MAX);
	else
		data = read_all(fd, st.st_size, path, err);
	if (fd != -1)
		close(fd);
	if (data == NULL)
		return FALSE;
	a = g_new0(struct asset, 1);
	a->data = data;
	a->content_type = assets_content_type(rel);
	sum = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, a->data);
	a->etag = g_strdup_printf("\"%.16s\"", sum);
	g_free(sum);
	a->mtime = st.st_mtime;
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
			ok = load_file(as, path, sub, err);
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
