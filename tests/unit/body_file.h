/*
 * body_file.h - for unit tests of functions that write a body to a file
 * (spool_copy_message(), mailview_part()): an anonymous file to give
 * them, and its bytes afterwards.
 */
#ifndef LABMAIL_TEST_BODY_FILE_H
#define LABMAIL_TEST_BODY_FILE_H

#include <sys/mman.h>
#include <sys/stat.h>

#include <unistd.h>

#include <glib.h>

/* An empty anonymous file (never fails in a test that can run). */
static inline int
body_file(void)
{
	int	fd = memfd_create("labmail-test-body", MFD_CLOEXEC);

	g_assert(fd >= 0);
	return fd;
}

/* Everything in fd, read from its start; fd is closed. */
static inline GBytes *
body_file_bytes(int fd)
{
	struct stat	 st;
	char		*buf;

	g_assert(fstat(fd, &st) == 0);
	buf = g_malloc(st.st_size + 1);
	g_assert(pread(fd, buf, st.st_size, 0) == st.st_size);
	close(fd);
	return g_bytes_new_take(buf, st.st_size);
}

#endif
