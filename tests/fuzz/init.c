/*
 * init - what every fuzz target needs before its first input: GMime,
 * initialised as labmail does at start-up.  libFuzzer calls this once;
 * replay.c calls it too.  A GLib critical (a broken precondition, as
 * g_utf8_make_valid(NULL) was) aborts, so that it is reported too.
 */
#include "compose.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	compose_init();
	g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL);
	return 0;
}
