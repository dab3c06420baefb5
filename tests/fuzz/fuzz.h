/*
 * fuzz.h - what every fuzz target in tests/fuzz/ provides, and helpers.
 *
 * A target is one file, fuzz_NAME.c, that defines
 * LLVMFuzzerTestOneInput(): it feeds the bytes to one parser and checks
 * what that parser's header promises about its result (with g_assert,
 * so that a broken promise is a crash the fuzzer reports).  It is built
 * twice:
 *  - by `make fuzz` with clang's libFuzzer, ASan and UBSan, which
 *    searches for new inputs, starting from tests/fuzz/corpus/NAME/;
 *  - by `make check` with replay.c as main(), which runs every file of
 *    that corpus once (also under ASan and UBSan with SANITIZE=1), so
 *    that an input that once broke a parser stays a test.
 * A target keeps no state between inputs and never exits on bad input.
 */
#ifndef LABMAIL_FUZZ_H
#define LABMAIL_FUZZ_H

#include <sys/mman.h>

#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <glib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Once per process, before any input: init.c, shared by every target. */
int	LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * Which of n things a target does with an input, from its first byte:
 * (byte - '0') % n, so that a hand-written seed can start with a digit.
 */
static inline guint
fuzz_selector(uint8_t b, guint n)
{
	return (guint8)(b - '0') % n;
}

/*
 * An oracle written apart from textsafe.c, so that a mistake there is
 * caught: C0 and C1 controls, DEL, and the bidi embeddings, overrides
 * and isolates, which the modules that turn mail into text promise to
 * keep out of a page.
 */
static inline gboolean
fuzz_unsafe_char(gunichar c)
{
	return g_unichar_iscntrl(c) || (c >= 0x202a && c <= 0x202e) ||
	    (c >= 0x2066 && c <= 0x2069);
}

/* An anonymous file holding data, offset at 0 (for the spool readers). */
static inline int
fuzz_file(const uint8_t *data, size_t size)
{
	int	fd = memfd_create("labmail-fuzz", MFD_CLOEXEC);

	g_assert(fd >= 0);
	g_assert(size == 0 || write(fd, data, size) == (ssize_t)size);
	g_assert(lseek(fd, 0, SEEK_SET) == 0);
	return fd;
}

#endif
