/*
 * log - diagnostics on stderr, one write(2) per line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"

/* Format "labmail: LEVEL: message\n" and write it in one go. */
static void
log_write(const char *level, const char *fmt, va_list ap)
{
	GString	*line = g_string_new("labmail: ");
	ssize_t	 n;

	if (level != NULL)
		g_string_append_printf(line, "%s: ", level);
	g_string_append_vprintf(line, fmt, ap);
	g_string_append_c(line, '\n');
	n = write(STDERR_FILENO, line->str, line->len);
	(void)n;	/* nowhere left to report a failed write to stderr */
	g_string_free(line, TRUE);
}

void
log_setup(gboolean use_syslog, int level)
{
	/* Being written: stderr only for now. */
	(void)use_syslog;
	(void)level;
}

void
log_debug(const char *fmt, ...)
{
	(void)fmt;
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_write(NULL, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_write("warning", fmt, ap);
	va_end(ap);
}

void
log_fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_write("fatal", fmt, ap);
	va_end(ap);
	exit(1);
}

char *
log_printable(const char *s)
{
	char	*copy = g_strdup(s != NULL ? s : "");
	char	*p;

	/* Peer data could carry terminal escapes or fake log lines. */
	for (p = copy; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	return copy;
}
