/*
 * replay - run a fuzz target over files, without libFuzzer.
 *
 *	build/replay_NAME FILE|DIR...
 *
 * Each file (each file of a directory, in name order) is given to the
 * target's LLVMFuzzerTestOneInput() once, in a buffer of exactly its
 * size, so that ASan sees a read past the end, after the same
 * LLVMFuzzerInitialize() as under libFuzzer (init.c).  A broken promise aborts;
 * the exit status is 0 when every input passed.  `make check` runs it
 * over tests/fuzz/corpus/NAME.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"

static int	replay_path(const char *path);

/* The input being run, for the crash report (set before each one). */
static const char *current = "";

/* A broken promise aborts: say which input did it, then die of it. */
static void
name_the_input(int sig)
{
	static const char what[] = "replay: this input broke a promise: ";
	ssize_t n;

	n = write(STDERR_FILENO, what, sizeof(what) - 1);
	n = write(STDERR_FILENO, current, strlen(current));
	n = write(STDERR_FILENO, "\n", 1);
	(void)n;
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
compare_paths(gconstpointer a, gconstpointer b)
{
	/* g_ptr_array_sort() passes pointers to the elements. */
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Give one file to the target. */
static int
replay_file(const char *path)
{
	char		*text;
	gsize		 len;
	GError		*err = NULL;
	uint8_t		*exact;

	if (!g_file_get_contents(path, &text, &len, &err)) {
		fprintf(stderr, "replay: %s\n", err->message);
		g_error_free(err);
		return -1;
	}
	exact = g_memdup2(text, len);
	g_free(text);
	current = path;
	LLVMFuzzerTestOneInput(exact, len);
	g_free(exact);
	return 1;
}

/* Every file of a directory, in name order. */
static int
replay_dir(const char *path)
{
	GDir		*d;
	GPtrArray	*names;
	const char	*name;
	GError		*err = NULL;
	int		 n = 0, r = 0;
	guint		 i;

	if ((d = g_dir_open(path, 0, &err)) == NULL) {
		fprintf(stderr, "replay: %s\n", err->message);
		g_error_free(err);
		return -1;
	}
	names = g_ptr_array_new_with_free_func(g_free);
	while ((name = g_dir_read_name(d)) != NULL)
		g_ptr_array_add(names, g_build_filename(path, name, NULL));
	g_dir_close(d);
	g_ptr_array_sort(names, compare_paths);
	for (i = 0; i < names->len && r >= 0; i++) {
		r = replay_path(names->pdata[i]);
		n += r;
	}
	g_ptr_array_unref(names);
	return r < 0 ? -1 : n;
}

static int
replay_path(const char *path)
{
	if (g_file_test(path, G_FILE_TEST_IS_DIR))
		return replay_dir(path);
	return replay_file(path);
}

int
main(int argc, char **argv)
{
	int	i, n, total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	signal(SIGABRT, name_the_input);
#ifndef __SANITIZE_ADDRESS__	/* AddressSanitizer reports a SIGSEGV */
	signal(SIGSEGV, name_the_input);
#endif
	for (i = 1; i < argc; i++) {
		if ((n = replay_path(argv[i])) < 0)
			return 1;
		total += n;
	}
	printf("%s: %d inputs replayed, every promise kept\n", argv[0], total);
	return total > 0 ? 0 : 1;
}
