/*
 * assets - the files of static/, loaded into memory at start-up.
 *
 * Serving from a table built once means that no request path ever
 * reaches the file system: "..", encoded slashes, NUL bytes and symlinks
 * simply match no entry and get 404.  Symlinks and hidden files are
 * skipped while loading.  Changing static/ needs a restart.
 *
 * Ownership: struct assets owns every entry; lookups return borrowed
 * pointers that live as long as the table.
 */
#ifndef LABMAIL_ASSETS_H
#define LABMAIL_ASSETS_H

#include <glib.h>

struct asset {
	GBytes		*data;
	const char	*content_type;	/* static string */
	char		*etag;		/* quoted, strong */
	char		*last_modified;	/* HTTP date */
	gint64		 mtime;
};

struct assets;

/* Load every regular file below dir; FALSE if dir cannot be read. */
struct assets	*assets_load(const char *dir, GError **err);
void		 assets_free(struct assets *);

/* The file at a path relative to static/ ("style.css"), or NULL. */
const struct asset *assets_find(const struct assets *, const char *path);

/* Content-Type for a file name, by its extension. */
const char	*assets_content_type(const char *name);

#endif
