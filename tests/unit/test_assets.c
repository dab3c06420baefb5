/*
 * test_assets - unit tests of the assets module.
 *
 * A temporary static/ folder is built with the cases that matter: plain
 * files at the top and below, a hidden file and a hidden folder, a
 * symlink to /etc/passwd and one to a folder outside, a FIFO, folders
 * deeper than the limit.  assets_load() must take the files and only
 * those; assets_find() must not reach anything else, whatever the path.
 */

#include <sys/stat.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <unistd.h>
#include <utime.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "assets.h"
#include "http.h"

#define TEST_MTIME	1700000000	/* Tue, 14 Nov 2023 22:13:20 GMT */
#define DEEP_OK		"d1/d2/d3/d4/d5/d6/d7/d8/deep.txt"
#define DEEP_TOO	"d1/d2/d3/d4/d5/d6/d7/d8/d9/deeper.txt"

/* The folder under test, made by setup(). */
static char	*top;

/* Write rel below top, making its folders, and set its mtime. */
static void
put(const char *rel, const char *text)
{
	char		*path = g_build_filename(top, rel, NULL);
	char		*parent = g_path_get_dirname(path);
	struct utimbuf	 times = { TEST_MTIME, TEST_MTIME };

	assert_int_equal(g_mkdir_with_parents(parent, 0700), 0);
	assert_true(g_file_set_contents(path, text, -1, NULL));
	assert_int_equal(g_utime(path, &times), 0);
	g_free(parent);
	g_free(path);
}

/* Make a symlink rel below top pointing to target. */
static void
link_to(const char *rel, const char *target)
{
	char	*path = g_build_filename(top, rel, NULL);

	assert_int_equal(symlink(target, path), 0);
	g_free(path);
}

/* The files of the tree: path and content. */
static const struct {
	const char	*rel;
	const char	*text;
} files[] = {
	{ "style.css", "body { color: #1f2328; }\n" },
	{ "js/app.js", "\"use strict\";\n" },
	{ "img/diagram.svg", "<svg></svg>\n" },
	{ "img/logo.png", "\x89PNG\r\n" },
	{ "favicon.ico", "ico" },
	{ "robots.txt", "User-agent: *\n" },
	{ "fonts/a.woff2", "wOF2" },
	{ "data.bin", "\x01\x02" },
	{ "README", "no extension\n" },
	{ "same.txt", "body { color: #1f2328; }\n" },	/* = style.css */
	{ "empty.txt", "" },
	{ DEEP_OK, "eight folders down\n" },
	{ DEEP_TOO, "nine folders down\n" },
	{ ".hidden", "secret\n" },
	{ ".git/config", "[core]\n" },
	{ "js/.app.js.swp", "swap\n" },
};

static int
setup(void **state)
{
	char	*fifo;
	gsize	 i;

	(void)state;
	top = g_dir_make_tmp("test_assets-XXXXXX", NULL);
	if (top == NULL)
		return -1;
	for (i = 0; i < G_N_ELEMENTS(files); i++)
		put(files[i].rel, files[i].text);
	/* Ways out of static/ that the loader must not follow. */
	link_to("passwd", "/etc/passwd");
	link_to("passwd.txt", "/etc/passwd");
	link_to("etc", "/etc");
	link_to("js/style.css", "../style.css");
	fifo = g_build_filename(top, "pipe.txt", NULL);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	g_free(fifo);
	return 0;
}

static int
teardown(void **state)
{
	char	*argv[] = { "rm", "-rf", top, NULL };
	int	 status;

	(void)state;
	/* The tree is ours, made by setup(); rm -rf does not follow links. */
	if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
	    NULL, NULL, &status, NULL) || status != 0)
		return -1;
	g_free(top);
	return 0;
}

/* Load top, which must succeed. */
static struct assets *
load(void)
{
	GError		*err = NULL;
	struct assets	*as = assets_load(top, &err);

	if (as == NULL)
		fail_msg("assets_load(%s): %s", top, err->message);
	return as;
}

/* Every regular file is there, with its bytes, type, ETag and date. */
static void
test_files(void **state)
{
	struct assets	*as = load();
	gsize		 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(files); i++) {
		const struct asset	*a = assets_find(as, files[i].rel);
		char			*sum, *etag;
		gsize			 len;
		const void		*data;

		/* Hidden files and the too-deep one are tested below. */
		if (files[i].rel[0] == '.' || strstr(files[i].rel, "/.") != NULL)
			continue;
		if (strcmp(files[i].rel, DEEP_TOO) == 0)
			continue;
		if (a == NULL)
			fail_msg("%s not found", files[i].rel);
		data = g_bytes_get_data(a->data, &len);
		assert_int_equal(len, strlen(files[i].text));
		assert_memory_equal(data, files[i].text, len);
		assert_ptr_equal(a->content_type,
		    assets_content_type(files[i].rel));
		/* A strong ETag: quoted, 16 hex digits of the SHA-256. */
		sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256,
		    files[i].text, -1);
		etag = g_strdup_printf("\"%.16s\"", sum);
		assert_string_equal(a->etag, etag);
		assert_int_equal(a->mtime, TEST_MTIME);
		assert_string_equal(a->last_modified,
		    "Tue, 14 Nov 2023 22:13:20 GMT");
		g_free(etag);
		g_free(sum);
	}
	/* Same bytes, same ETag; other bytes, another. */
	assert_string_equal(assets_find(as, "same.txt")->etag,
	    assets_find(as, "style.css")->etag);
	assert_string_not_equal(assets_find(as, "robots.txt")->etag,
	    assets_find(as, "style.css")->etag);
	assets_free(as);
}

/* Hidden files, symlinks, FIFOs and paths that try to get out: 404. */
static void
test_not_found(void **state)
{
	static const char *const paths[] = {
		/* Skipped while loading. */
		".hidden", ".git/config", "js/.app.js.swp",
		"passwd", "passwd.txt", "etc/passwd", "etc", "js/style.css",
		"pipe.txt", DEEP_TOO,
		/* Not names of the table. */
		"", "/", "js", "js/", "/style.css", "./style.css",
		"js/../style.css", "../style.css", "style.css/",
		"js//app.js", "JS/app.js", "Style.css", "style.css\n",
		"style%2ecss", "js%2fapp.js", "..", "../../etc/passwd",
		"/etc/passwd", "d1/d2",
	};
	struct assets	*as = load();
	gsize		 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(paths); i++)
		if (assets_find(as, paths[i]) != NULL)
			fail_msg("\"%s\" was found", paths[i]);
	/* And the files that are there are found (so the above can fail). */
	assert_non_null(assets_find(as, "style.css"));
	assert_non_null(assets_find(as, "js/app.js"));
	assert_non_null(assets_find(as, DEEP_OK));
	assets_free(as);
}

/* Content types by extension; anything else is opaque bytes. */
static void
test_content_types(void **state)
{
	static const struct {
		const char	*name;
		const char	*type;
	} cases[] = {
		{ "style.css", "text/css; charset=utf-8" },
		{ "js/app.js", "text/javascript; charset=utf-8" },
		{ "diagram.svg", "image/svg+xml" },
		{ "logo.png", "image/png" },
		{ "favicon.ico", "image/x-icon" },
		{ "robots.txt", "text/plain; charset=utf-8" },
		{ "a.woff2", "font/woff2" },
		{ "index.html", "application/octet-stream" },
		{ "data.bin", "application/octet-stream" },
		{ "README", "application/octet-stream" },
		{ "css", "application/octet-stream" },
		{ "style.css.bak", "application/octet-stream" },
		{ "style.CSS", "application/octet-stream" },
		{ "", "application/octet-stream" },
	};
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++)
		assert_string_equal(assets_content_type(cases[i].name),
		    cases[i].type);
}

/* A folder that cannot be read, a file, a file too large: errors. */
static void
test_load_errors(void **state)
{
	GError	*err = NULL;
	char	*missing = g_build_filename(top, "missing", NULL);
	char	*file = g_build_filename(top, "style.css", NULL);
	char	*big_dir, *big;
	char	*data;

	(void)state;
	assert_null(assets_load(missing, &err));
	assert_true(g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT));
	g_clear_error(&err);
	assert_null(assets_load(file, &err));
	assert_non_null(err);
	g_clear_error(&err);

	big_dir = g_dir_make_tmp("test_assets_big-XXXXXX", NULL);
	assert_non_null(big_dir);
	big = g_build_filename(big_dir, "big.bin", NULL);
	data = g_malloc0(4 * 1024 * 1024 + 1);
	assert_true(g_file_set_contents(big, data, 4 * 1024 * 1024 + 1,
	    NULL));
	assert_null(assets_load(big_dir, &err));
	assert_non_null(err);
	assert_non_null(strstr(err->message, "big.bin: larger than"));
	g_clear_error(&err);
	/* At the limit, it loads. */
	assert_true(g_file_set_contents(big, data, 4 * 1024 * 1024, NULL));
	{
		struct assets	*as = assets_load(big_dir, &err);

		assert_non_null(as);
		assert_int_equal(g_bytes_get_size(assets_find(as,
		    "big.bin")->data), 4 * 1024 * 1024);
		assets_free(as);
	}
	assets_free(NULL);
	assert_int_equal(g_unlink(big), 0);
	assert_int_equal(g_rmdir(big_dir), 0);
	g_free(data);
	g_free(big);
	g_free(big_dir);
	g_free(file);
	g_free(missing);
}

/* An mtime past year 9999 (possible on tmpfs) still gives a valid date. */
static void
test_far_mtime(void **state)
{
	struct timespec	 times[2] = { { 300000000000, 0 },
			    { 300000000000, 0 } };
	char		*dir, *path;
	struct assets	*as;
	struct stat	 st;

	(void)state;
	/* tmpfs holds 64-bit times; ext4, the usual /tmp, stops at 2446. */
	dir = g_strdup("/dev/shm/test_assets_far-XXXXXX");
	if (g_mkdtemp(dir) == NULL) {
		g_free(dir);
		dir = g_dir_make_tmp("test_assets_far-XXXXXX", NULL);
	}
	assert_non_null(dir);
	path = g_build_filename(dir, "far.txt", NULL);
	assert_true(g_file_set_contents(path, "x", -1, NULL));
	if (utimensat(AT_FDCWD, path, times, 0) != 0 ||
	    stat(path, &st) != 0 || st.st_mtime != 300000000000) {
		/* This file system cannot hold that time. */
		g_unlink(path);
		g_rmdir(dir);
		g_free(path);
		g_free(dir);
		skip();
	}
	as = assets_load(dir, NULL);
	assert_non_null(as);
	assert_string_equal(assets_find(as, "far.txt")->last_modified,
	    "Fri, 31 Dec 9999 23:59:59 GMT");
	assets_free(as);
	assert_int_equal(g_unlink(path), 0);
	assert_int_equal(g_rmdir(dir), 0);
	g_free(path);
	g_free(dir);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_content_types),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_far_mtime),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
