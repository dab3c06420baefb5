/*
 * log - diagnostics on stderr, in tiers.
 *
 * log_fatal() is for start-up and for anything after which it is unsafe
 * to go on: it prints and exits with status 1 (status 2 is kept for bad
 * configuration, see config.h).  log_warn() and log_info() report and go
 * on.  Library-like modules (smtp, compose, tmpl...) never log or exit:
 * they return errors to their caller, which decides.
 *
 * Every line is written with a single write(2) so that lines from several
 * threads never interleave.
 */
#ifndef LABMAIL_LOG_H
#define LABMAIL_LOG_H

#include <glib.h>

/*
 * Where lines go and which: syslog (facility daemon) or stderr, and the
 * lowest level shown (enum config_log_level).  Call once at start-up.
 */
void	log_setup(gboolean use_syslog, int level);

void	log_debug(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void	log_info(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void	log_warn(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
G_NORETURN void log_fatal(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* Replace control and non-ASCII bytes by '?' (for logging peer data). */
char	*log_printable(const char *s);

#endif
