/*
 * textsafe - see textsafe.h.
 */
#include "textsafe.h"

gboolean
textsafe_is_unsafe(gunichar c)
{
	if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
		return TRUE;
	if (c >= 0x202a && c <= 0x202e)
		return TRUE;
	if (c >= 0x2066 && c <= 0x2069)
		return TRUE;
	return FALSE;
}
