/*
 * log - diagnostics and the access log, in tiers.
 *
 * Lines go to standard error by default, where journald (or a terminal,
 * or a test) picks them up, or to syslog (facility daemon) with
 * --syslog.  log_setup() picks one and the lowest level shown; before it
 * is called, everything goes to stderr at level info.
 *
 * log_fatal() is for start-up and for anything after which it is unsafe
 * to go on: it prints (at every level; with syslog, on stderr too unless
 * that is the journal) and exits with status 1 (status 2 is kept for bad
 * configuration, see config.h).  log_warn(), log_info()
 * and log_debug() report and go on.  log_request() writes one access-log
 * line as it is given (Combined Log Format), at level info.
 * Library-like modules (smtp, compose, tmpl...) never log or exit: they
 * return errors to their caller, which decides.
 *
 * Every line is written with a single write(2) (or syslog(3) call) so
 * that lines from several threads or processes never interleave.
 */
#ifndef LABMAIL_LOG_H
#define LABMAIL_LOG_H

#include <glib.h>

/*
 * Where lines go and which: syslog (ident "labmail", facility daemon,
 * with the pid) or stderr, and the lowest level shown (enum
 * config_log_level: error, warning, info, debug).  Call once at
 * start-up, before any thread or child process exists.
 *
 * On stderr a line reads "labmail: warning: message".  When stderr is
 * journald's own stream (systemd sets $JOURNAL_STREAM), the "labmail: "
 * is left out (the journal records who wrote it) and the line starts
 * with its syslog priority ("<4>warning: message"), which journald
 * takes off and keeps as the entry's priority.
 */
void	log_setup(gboolean use_syslog, int level);

void	log_debug(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void	log_info(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void	log_warn(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
G_NORETURN void log_fatal(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/*
 * One access-log line, at level info, without the "labmail: " of other
 * lines on stderr, so that the line is exactly what the caller built
 * (Combined Log Format parsers read it as it is).
 */
void	log_request(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* Replace control and non-ASCII bytes by '?' (for logging peer data). */
char	*log_printable(const char *s);

/*
 * Peer data for a quoted field of an access-log line ("%r", Referer,
 * User-Agent), escaped as Apache's httpd does: '"' and '\' get a
 * backslash, \b \n \r \t \v stay readable, any other control or
 * non-ASCII byte becomes \xhh.  A forged quote cannot end the field
 * early and a CR/LF cannot start a fake line.  NULL gives "-".
 * Appended to out.
 */
void	log_escape_append(GString *out, const char *s);

#endif
