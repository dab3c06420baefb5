/*
 * log - diagnostics on stderr or syslog, one write(2) per line.
 *
 * The settings are plain statics: log_setup() writes them once at
 * start-up, before the helper is forked and before any thread starts,
 * and everything after only reads them.
 */
#include <sys/stat.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static gboolean	log_syslog;	/* syslog(3) instead of stderr */
static gboolean	log_journal;	/* lines for journald on stderr */
static gboolean	stderr_journal;	/* stderr is journald's stream */
static int	log_level = CONFIG_LOG_INFO;

/* The tiers: the level that shows them, syslog priority, word. */
enum tier { TIER_FATAL, TIER_WARN, TIER_INFO, TIER_DEBUG, TIER_REQUEST };

static const struct {
	int		 level;		/* enum config_log_level */
	int		 priority;	/* syslog(3) */
	const char	*word;		/* before the message, or NULL */
} tiers[] = {
	[TIER_FATAL] = { CONFIG_LOG_ERROR, LOG_CRIT, "fatal" },
	[TIER_WARN] = { CONFIG_LOG_WARNING, LOG_WARNING, "warning" },
	[TIER_INFO] = { CONFIG_LOG_INFO, LOG_INFO, NULL },
	[TIER_DEBUG] = { CONFIG_LOG_DEBUG, LOG_DEBUG, "debug" },
	[TIER_REQUEST] = { CONFIG_LOG_INFO, LOG_INFO, NULL },
};

/*
 * TRUE if stderr is the stream that systemd connected to journald:
 * $JOURNAL_STREAM holds its "device:inode" (systemd.exec(5)).  Checking
 * the inode, not only the variable, keeps a child whose stderr was
 * redirected from writing "<6>" prefixes into a plain file.
 */
static gboolean
stderr_is_journal(void)
{
	const char	*env = getenv("JOURNAL_STREAM");
	struct stat	 st;
	guint64		 dev, ino;
	char		*end;

	if (env == NULL || fstat(STDERR_FILENO, &st) == -1)
		return FALSE;
	dev = g_ascii_strtoull(env, &end, 10);
	if (end == env || *end != ':')
		return FALSE;
	env = end + 1;
	ino = g_ascii_strtoull(env, &end, 10);
	if (end == env || *end != '\0')
		return FALSE;
	return dev == (guint64)st.st_dev && ino == (guint64)st.st_ino;
}

void
log_setup(gboolean use_syslog, int level)
{
	log_level = CLAMP(level, CONFIG_LOG_ERROR, CONFIG_LOG_DEBUG);
	log_syslog = use_syslog;
	stderr_journal = stderr_is_journal();
	log_journal = !use_syslog && stderr_journal;
	/*
	 * LOG_NDELAY: connect to /dev/log now, while still root and before
	 * the fork, so that the helper and the web process both log.
	 * LOG_PID is looked up at each call, so each gives its own pid.
	 * No LOG_CONS: a daemon must not write to the console.
	 */
	if (use_syslog)
		openlog("labmail", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* Format a line of the tier and send it in one go. */
static void G_GNUC_PRINTF(2, 0)
log_write(enum tier t, const char *fmt, va_list ap)
{
	GString	*line;
	ssize_t	 n;

	if (tiers[t].level > log_level)
		return;
	line = g_string_sized_new(256);
	if (log_journal)
		g_string_append_printf(line, "<%d>", tiers[t].priority);
	else if (!log_syslog && t != TIER_REQUEST)
		g_string_append(line, "labmail: ");
	if (tiers[t].word != NULL)
		g_string_append_printf(line, "%s: ", tiers[t].word);
	g_string_append_vprintf(line, fmt, ap);
	if (log_syslog) {
		/* syslog(3) sends each message in one datagram. */
		syslog(tiers[t].priority, "%s", line->str);
		/*
		 * Whoever started labmail must still see why it stopped,
		 * even with no syslog daemon.  Under systemd stderr is the
		 * journal, which gets the syslog line already: no copy.
		 */
		if (t != TIER_FATAL || stderr_journal) {
			g_string_free(line, TRUE);
			return;
		}
		g_string_prepend(line, "labmail: ");
	}
	g_string_append_c(line, '\n');
	n = write(STDERR_FILENO, line->str, line->len);
	(void)n;	/* nowhere left to report a failed write to stderr */
	g_string_free(line, TRUE);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_write(TIER_DEBUG, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_write(TIER_INFO, fmt, ap);
	va_end(ap);
}

void
log_request(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_write(TIER_REQUEST, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_write(TIER_WARN, fmt, ap);
	va_end(ap);
}

void
log_fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_write(TIER_FATAL, fmt, ap);
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

void
log_escape_append(GString *out, const char *s)
{
	const char	*p;

	if (s == NULL) {
		g_string_append_c(out, '-');
		return;
	}
	for (p = s; *p != '\0'; p++) {
		unsigned char	 c = (unsigned char)*p;

		switch (c) {
		case '"':
		case '\\':
			g_string_append_c(out, '\\');
			g_string_append_c(out, c);
			break;
		case '\b':
			g_string_append(out, "\\b");
			break;
		case '\n':
			g_string_append(out, "\\n");
			break;
		case '\r':
			g_string_append(out, "\\r");
			break;
		case '\t':
			g_string_append(out, "\\t");
			break;
		case '\v':
			g_string_append(out, "\\v");
			break;
		default:
			if (c < 0x20 || c >= 0x7f)
				g_string_append_printf(out, "\\x%02x", c);
			else
				g_string_append_c(out, c);
		}
	}
}
