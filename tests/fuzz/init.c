/*
 * init - what every fuzz target needs before its first input: GMime,
 * initialised as labmail does at start-up.  libFuzzer calls this once;
 * replay.c calls it too.
 */
#include "compose.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	compose_init();
	return 0;
}
