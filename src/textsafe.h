/*
 * textsafe - which characters of mail may not reach a page as
 * themselves.
 *
 * Mail is attacker-controlled, and a page shows its headers (the inbox
 * list, a message's view): C0 and C1 controls and DEL (terminal escapes
 * when a log or a copy ends up in a terminal, NUL truncation further
 * on), and the bidi embeddings, overrides and isolates U+202A-U+202E and
 * U+2066-U+2069, which make text display in another order than it reads
 * ("invoice<U+202E>fdp.exe" shows as "invoiceexe.pdf").  The modules
 * that turn mail into text (spool summaries, mailview) replace or drop
 * them; which, each header says.
 */
#ifndef LABMAIL_TEXTSAFE_H
#define LABMAIL_TEXTSAFE_H

#include <glib.h>

/* TRUE if c is one of the characters above: a control or a bidi one. */
gboolean	 textsafe_is_unsafe(gunichar c);

#endif
