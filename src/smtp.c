/*
 * smtp - labmail's own SMTP client (RFC 5321); smtp.h is the contract.
 *
 * A session is a small state machine driven by blocking calls from one
 * worker thread.  Three layers, each in one place:
 *
 *  - the wire: conn_read(), conn_write() and conn_handshake() are the
 *    only functions that touch the socket, in clear or through GnuTLS
 *    after STARTTLS, each bounded by a deadline waited for with poll(2);
 *  - the protocol: cmd_send() writes one command, reply_read() reads one
 *    whole reply and validates it strictly;
 *  - the dialogue: smtp_session_open(), smtp_session_send() and
 *    smtp_session_quit() walk the states and map replies to statuses.
 *
 * Every line in either direction goes into the transcript as it happens,
 * made printable, since a student reads it on a web page.
 *
 * STARTTLS (RFC 3207) with GnuTLS: the credentials and the TLS session
 * belong to one SMTP session and die with it.  GnuTLS initialises
 * itself when the library is loaded (3.x), so there is no global init
 * here.
 *
 * No static mutable state, no strerror(3): several sessions may run at
 * once on different threads.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <gnutls/gnutls.h>

#include "smtp.h"

/* Room for one whole line of SMTP_LINE_MAX bytes plus its CRLF. */
#define INBUF_SIZE	(2 * SMTP_LINE_MAX)
G_STATIC_ASSERT(INBUF_SIZE >= SMTP_LINE_MAX + 2);

enum state {
	ST_INIT,
	ST_CONNECT,
	ST_GREETING,
	ST_EHLO,
	ST_HELO,
	ST_STARTTLS,
	ST_HANDSHAKE,
	ST_READY,
	ST_RSET,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_BODY,
	ST_QUIT,
	ST_CLOSED,
};

/* For the transcript's notes: what we were doing when a reply came. */
static const char *const state_names[] = {
	[ST_INIT] = "start",
	[ST_CONNECT] = "connect",
	[ST_GREETING] = "the greeting",
	[ST_EHLO] = "EHLO",
	[ST_HELO] = "HELO",
	[ST_STARTTLS] = "STARTTLS",
	[ST_HANDSHAKE] = "the TLS handshake",
	[ST_READY] = "ready",
	[ST_RSET] = "RSET",
	[ST_MAIL] = "MAIL FROM",
	[ST_RCPT] = "RCPT TO",
	[ST_DATA] = "DATA",
	[ST_BODY] = "the end of the message",
	[ST_QUIT] = "QUIT",
	[ST_CLOSED] = "closed",
};

/* The connection: the socket, its TLS session once STARTTLS began, and
 * what was read but not yet used. */
struct conn {
	int		 fd;		/* -1 when closed */
	gnutls_session_t tls;		/* NULL: in clear */
	gboolean	 tls_up;	/* the handshake succeeded and the
					 * transcript said so: the lines
					 * from here on are inside TLS */
	int		 tls_err;	/* the GnuTLS error behind the last
					 * EPROTO */
	gsize		 inlen;
	char		 in[INBUF_SIZE];
};

struct smtp_session {
	enum state	 state;
	char		*host;
	char		*port;
	char		*helo_name;	/* NULL: own_literal */
	char		*own_literal;	/* "[127.0.0.1]", once connected */
	guint		 connect_ms;
	guint		 command_ms;
	guint		 data_ms;
	enum smtp_tls_mode tls_mode;
	struct smtp_trust *trust;	/* the caller's, or own_trust */
	struct smtp_trust *own_trust;	/* the system's, for this session */
	gboolean	 insecure;
	gnutls_certificate_credentials_t cred;	/* NULL until STARTTLS;
						 * the trust's, or own_cred */
	gboolean	 own_cred;	/* cred is the session's own, empty:
					 * insecure, or no trust to load */
	char		*no_trust;	/* AUTO: why the trust could not be
					 * loaded; the certificate goes
					 * unchecked */
	gint64		 start_us;	/* monotonic */
	gboolean	 in_txn;	/* MAIL accepted, no final reply yet */
	struct smtp_caps caps;
	struct smtp_outcome outcome;
	int		 rcode;		/* the reply just read */
	GPtrArray	*rlines;	/* its lines, as received */
	gsize		 server_shown;	/* octets of server lines in the
					 * transcript so far */
	struct conn	 conn;
};

static void	note(struct smtp_session *, const char *, ...)
		    G_GNUC_PRINTF(2, 3);

/* Tab or printable ASCII. */
static gboolean
plain_ascii(guchar ch)
{
	return ch == '\t' || (ch >= 0x20 && ch < 0x7f);
}

/* Copy text for display: tab, printable ASCII and printable UTF-8 stay,
 * every other byte becomes '?', so that a hostile server can put neither
 * terminal escapes, nor invalid UTF-8, nor bidi overrides into a page. */
static char *
printable_dup(const char *p, gsize len)
{
	GString		*out = g_string_sized_new(len);
	const char	*next;
	gunichar	 u;
	gsize		 i = 0, run;
	guchar		 ch;

	while (i < len) {
		ch = (guchar)p[i];
		if (plain_ascii(ch)) {
			/* The common case: a run of ASCII, in one piece. */
			for (run = i + 1; run < len &&
			    plain_ascii((guchar)p[run]); run++)
				;
			g_string_append_len(out, p + i, (gssize)(run - i));
			i = run;
			continue;
		}
		if (ch >= 0x80) {
			u = g_utf8_get_char_validated(p + i, (gssize)(len - i));
			if (u != (gunichar)-1 && u != (gunichar)-2 &&
			    g_unichar_isprint(u)) {
				next = g_utf8_next_char(p + i);
				g_string_append_len(out, p + i, next - (p + i));
				i = (gsize)(next - p);
				continue;
			}
		}
		g_string_append_c(out, '?');
		i++;
	}
	return g_string_free(out, FALSE);
}

/* Free one transcript line. */
static void
line_free(gpointer p)
{
	struct smtp_line *l = p;

	g_free(l->text);
	g_free(l);
}

/* Free one refused recipient. */
static void
refusal_free(gpointer p)
{
	struct smtp_refusal *r = p;

	g_free(r->rcpt);
	g_free(r->reply);
	g_free(r);
}

/* Append one line to the transcript, stamped with the time. */
static void
transcript_add(struct smtp_session *s, enum smtp_line_kind kind,
    const char *text, gsize len)
{
	struct smtp_line *l = g_new0(struct smtp_line, 1);

	l->kind = kind;
	l->time_us = g_get_real_time();
	l->elapsed_us = g_get_monotonic_time() - s->start_us;
	l->text = printable_dup(text, len);
	l->tls = s->conn.tls_up;
	g_ptr_array_add(s->outcome.transcript, l);
}

/* Append our own remark to the transcript. */
static void
note(struct smtp_session *s, const char *fmt, ...)
{
	va_list	 ap;
	char	*text;

	va_start(ap, fmt);
	text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	transcript_add(s, SMTP_LINE_NOTE, text, strlen(text));
	g_free(text);
}

/* Write a timeout as "2 s" or "0.3 s", without floating point so that
 * the locale's decimal comma cannot sneak in. */
static void
fmt_secs(guint ms, char *buf, gsize size)
{
	guint	frac = ms % 1000;
	int	digits = 3;

	if (frac == 0) {
		g_snprintf(buf, size, "%u s", ms / 1000);
		return;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	g_snprintf(buf, size, "%u.%0*u s", ms / 1000, digits, frac);
}

/* Move to a new state. */
static void
state_set(struct smtp_session *s, enum state st)
{
	s->state = st;
}

/* Milliseconds left before a monotonic deadline, for poll(2). */
static int
ms_left(gint64 deadline)
{
	gint64	left = deadline - g_get_monotonic_time();

	if (left <= 0)
		return 0;
	left = (left + 999) / 1000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Wait until fd is ready for events; -1 with errno ETIMEDOUT once the
 * deadline has passed. */
static int
wait_fd(int fd, short events, gint64 deadline)
{
	struct pollfd	pfd;
	int		ms, n;

	for (;;) {
		if ((ms = ms_left(deadline)) == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

/* What GnuTLS waits for after GNUTLS_E_AGAIN: to read or to write. */
static short
tls_events(const struct conn *c)
{
	return gnutls_record_get_direction(c->tls) == 0 ? POLLIN : POLLOUT;
}

/* Handle a GnuTLS return code other than success: 1 to call GnuTLS
 * again (interrupted, or ready after waiting), else -1 with errno
 * (ETIMEDOUT past the deadline, EPROTO with c->tls_err set). */
static int
tls_retry(struct conn *c, int rc, gint64 deadline)
{
	if (rc == GNUTLS_E_INTERRUPTED)
		return 1;
	if (rc == GNUTLS_E_AGAIN)
		return wait_fd(c->fd, tls_events(c), deadline) == -1 ? -1 : 1;
	if (rc == GNUTLS_E_TIMEDOUT) {
		errno = ETIMEDOUT;
		return -1;
	}
	c->tls_err = rc;
	errno = EPROTO;
	return -1;
}

/* Read some bytes: the count, 0 at end of file, or -1 with errno
 * (ETIMEDOUT past the deadline, EPROTO for a TLS error).  The socket is
 * non-blocking, so a read after poll(2) said "readable" can never hang,
 * in clear or through GnuTLS. */
static gssize
conn_read(struct conn *c, void *buf, gsize len, gint64 deadline)
{
	gssize	n;

	while (c->tls != NULL) {
		n = gnutls_record_recv(c->tls, buf, len);
		if (n >= 0)
			return n;
		/* A server that closes after "221" without a TLS
		 * close_notify: SMTP frames its own replies, so a cut
		 * cannot pass a truncated reply for a whole one. */
		if (n == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;
		if (tls_retry(c, (int)n, deadline) == -1)
			return -1;
	}
	for (;;) {
		n = recv(c->fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (wait_fd(c->fd, POLLIN, deadline) == -1)
			return -1;
	}
}

/* Write all of buf before the deadline: 0, or -1 with errno. */
static int
conn_write(struct conn *c, const void *buf, gsize len, gint64 deadline)
{
	const char	*p = buf;
	gssize		 n;

	/* After GNUTLS_E_AGAIN, GnuTLS wants the same buffer again: p and
	 * len move only when it took bytes. */
	while (c->tls != NULL && len > 0) {
		n = gnutls_record_send(c->tls, p, len);
		if (n > 0) {
			p += n;
			len -= (gsize)n;
		} else if (tls_retry(c, (int)n, deadline) == -1)
			return -1;
	}
	while (len > 0) {
		/* MSG_NOSIGNAL: a server that hangs up must cost us an
		 * EPIPE, not the whole process through SIGPIPE. */
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (gsize)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (wait_fd(c->fd, POLLOUT, deadline) == -1)
			return -1;
	}
	return 0;
}

/* Run the TLS handshake on c->tls before the deadline: 0, or -1 with
 * errno as conn_read(). */
static int
conn_handshake(struct conn *c, gint64 deadline)
{
	int	rc;

	for (;;) {
		rc = gnutls_handshake(c->tls);
		if (rc == GNUTLS_E_SUCCESS)
			return 0;
		/* A warning alert, say: go on, but not past the deadline,
		 * so that a stream of them cannot hold the worker. */
		if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED &&
		    !gnutls_error_is_fatal(rc)) {
			if (ms_left(deadline) > 0)
				continue;
			rc = GNUTLS_E_TIMEDOUT;
		}
		if (tls_retry(c, rc, deadline) == -1)
			return -1;
	}
}

/* Close the connection, if open, and drop its TLS session. */
static void
conn_close(struct conn *c)
{
	if (c->tls != NULL)
		gnutls_deinit(c->tls);
	c->tls = NULL;
	c->tls_up = FALSE;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->inlen = 0;
}

/* A deadline timeout_ms from now, in monotonic microseconds. */
static gint64
deadline_in(guint timeout_ms)
{
	return g_get_monotonic_time() + (gint64)timeout_ms * 1000;
}

/* Say in the transcript why I/O stopped and map it to a status; err is
 * 0 when the server closed the connection. */
static enum smtp_status
io_failed(struct smtp_session *s, int err, guint timeout_ms,
    gboolean writing)
{
	char	secs[32];

	if (err == 0) {
		note(s, "connection closed by the server");
		return SMTP_CONN_FAILED;
	}
	if (err == ETIMEDOUT) {
		fmt_secs(timeout_ms, secs, sizeof(secs));
		if (writing)
			note(s, "could not send within %s", secs);
		else
			note(s, "no reply within %s", secs);
		return SMTP_TIMEOUT;
	}
	if (err == EPROTO && s->conn.tls_err != 0) {
		note(s, "connection lost: TLS error: %s",
		    gnutls_strerror(s->conn.tls_err));
		return SMTP_CONN_FAILED;
	}
	note(s, "connection lost: %s", g_strerror(err));
	return SMTP_CONN_FAILED;
}

/* Write bytes to the server, bounded by timeout_ms. */
static enum smtp_status
wire_write(struct smtp_session *s, const char *buf, gsize len,
    guint timeout_ms)
{
	if (conn_write(&s->conn, buf, len, deadline_in(timeout_ms)) == -1)
		return io_failed(s, errno, timeout_ms, TRUE);
	return SMTP_OK;
}

/* Read one line into line, without its CRLF (or bare LF). */
static enum smtp_status
line_read(struct smtp_session *s, GString *line, gint64 deadline,
    guint timeout_ms)
{
	struct conn	*c = &s->conn;
	char		*nl;
	gsize		 used, len;
	gssize		 n;
	int		 err;

	for (;;) {
		if ((nl = memchr(c->in, '\n', c->inlen)) != NULL) {
			used = (gsize)(nl - c->in) + 1;
			len = used - 1;
			if (len > 0 && c->in[len - 1] == '\r')
				len--;
			if (len > SMTP_LINE_MAX)
				break;
			g_string_truncate(line, 0);
			g_string_append_len(line, c->in, (gssize)len);
			memmove(c->in, c->in + used, c->inlen - used);
			c->inlen -= used;
			return SMTP_OK;
		}
		/* Even with a CR at its end, this is more than a line. */
		if (c->inlen >= SMTP_LINE_MAX + 2)
			break;
		n = conn_read(c, c->in + c->inlen, sizeof(c->in) - c->inlen,
		    deadline);
		if (n > 0) {
			c->inlen += (gsize)n;
			continue;
		}
		err = n == 0 ? 0 : errno;
		/* Show what came before the end, e.g. a "421" without CRLF. */
		if (n == 0 && c->inlen > 0)
			transcript_add(s, SMTP_LINE_SERVER, c->in, c->inlen);
		return io_failed(s, err, timeout_ms, FALSE);
	}
	/* A server that never ends its line must not make us buffer
	 * without limit (memory exhaustion). */
	note(s, "reply line longer than %d bytes", SMTP_LINE_MAX);
	return SMTP_PROTOCOL;
}

/* Put a server line into the transcript while the session's budget
 * for them lasts (SMTP_TRANSCRIPT_SERVER_MAX); FALSE once it is spent. */
static gboolean
server_line_add(struct smtp_session *s, const char *line, gsize len)
{
	if (len > SMTP_TRANSCRIPT_SERVER_MAX - s->server_shown)
		return FALSE;
	s->server_shown += len;
	transcript_add(s, SMTP_LINE_SERVER, line, len);
	return TRUE;
}

/*
 * Read one whole reply into s->rcode and s->rlines.  One deadline for all
 * its lines: a server that dribbles a byte now and then cannot hold the
 * worker forever (slowloris).
 */
static enum smtp_status
reply_read(struct smtp_session *s, guint timeout_ms)
{
	gint64		 deadline = deadline_in(timeout_ms);
	GString		*line = g_string_new(NULL);
	enum smtp_status st = SMTP_OK;
	const char	*text;
	gboolean	 last = FALSE;
	int		 code = 0;
	guint		 n, hidden = 0;

	s->rcode = 0;
	g_ptr_array_set_size(s->rlines, 0);
	for (n = 0; !last; n++) {
		if (n == SMTP_REPLY_LINES_MAX) {
			note(s, "reply longer than %d lines",
			    SMTP_REPLY_LINES_MAX);
			st = SMTP_PROTOCOL;
			break;
		}
		if ((st = line_read(s, line, deadline, timeout_ms)) != SMTP_OK)
			break;
		if (!server_line_add(s, line->str, line->len))
			hidden++;
		/* A NUL would hide the rest of the line from the checks. */
		if (memchr(line->str, '\0', line->len) != NULL ||
		    !smtp_reply_parse_line(line->str, &code, &last, &text)) {
			note(s, "malformed reply line");
			st = SMTP_PROTOCOL;
			break;
		}
		if (n > 0 && code != s->rcode) {
			note(s, "reply lines carry different codes (%d, %d)",
			    s->rcode, code);
			st = SMTP_PROTOCOL;
			break;
		}
		s->rcode = code;
		g_ptr_array_add(s->rlines, g_strdup(line->str));
	}
	g_string_free(line, TRUE);
	if (hidden > 0)
		note(s, "(%u more line%s of this reply not shown: the server "
		    "has said over %d KB)", hidden, hidden == 1 ? "" : "s",
		    SMTP_TRANSCRIPT_SERVER_MAX / 1024);
	if (st != SMTP_OK)
		s->rcode = 0;
	return st;
}

/* The reply just read, made printable, lines joined by '\n', cut
 * after SMTP_REPLY_TEXT_MAX octets (never inside a character). */
static char *
reply_join(const struct smtp_session *s)
{
	GString		*out = g_string_new(NULL);
	const char	*line, *cut;
	char		*p;
	guint		 i;

	for (i = 0; i < s->rlines->len && out->len <= SMTP_REPLY_TEXT_MAX;
	    i++) {
		line = g_ptr_array_index(s->rlines, i);
		p = printable_dup(line, strlen(line));
		if (i > 0)
			g_string_append_c(out, '\n');
		g_string_append(out, p);
		g_free(p);
	}
	if (out->len > SMTP_REPLY_TEXT_MAX) {
		/* The start of the character that holds the last octet
		 * allowed: the text is valid UTF-8 (printable_dup()). */
		cut = g_utf8_find_prev_char(out->str,
		    out->str + SMTP_REPLY_TEXT_MAX + 1);
		g_string_truncate(out, (gsize)(cut - out->str));
		g_string_append(out, " [...]");
	}
	return g_string_free(out, FALSE);
}

/* Make the reply just read the outcome's code and reply. */
static void
reply_keep(struct smtp_session *s)
{
	s->outcome.code = s->rcode;
	g_free(s->outcome.reply);
	s->outcome.reply = reply_join(s);
}

/* Forget the outcome's reply before a command: if its reply never
 * comes, an older one must not pass for it. */
static void
reply_forget(struct smtp_session *s)
{
	s->outcome.code = 0;
	g_clear_pointer(&s->outcome.reply, g_free);
}

/*
 * Map the reply just read to a status: a code in [lo, hi] is SMTP_OK,
 * 4xx and 5xx are refusals, anything else breaks the protocol.  A 421
 * also closes the connection: the server is closing its end (RFC 5321
 * 3.8), so no later command, QUIT included, could reach it.
 */
static enum smtp_status
reply_expect(struct smtp_session *s, int lo, int hi)
{
	if (s->rcode >= lo && s->rcode <= hi)
		return SMTP_OK;
	if (s->rcode == 421) {
		note(s, "the server is closing the connection");
		conn_close(&s->conn);
		state_set(s, ST_CLOSED);
	}
	if (s->rcode >= 400)
		return SMTP_REFUSED;
	note(s, "unexpected reply %d to %s", s->rcode, state_names[s->state]);
	return SMTP_PROTOCOL;
}

/* Show bytes the server sent, as far as our buffer has them, a
 * transcript line per line they hold: at most as many lines as a reply
 * may have, within the transcript's budget (8 KB of bare line ends
 * must not make 8,000 rows). */
static void
server_lines_add(struct smtp_session *s, const char *buf, gsize len)
{
	const char	*nl, *end = buf + len;
	gsize		 n;
	guint		 lines = 0;

	while (buf < end && lines++ < SMTP_REPLY_LINES_MAX) {
		nl = memchr(buf, '\n', (gsize)(end - buf));
		n = (gsize)((nl != NULL ? nl : end) - buf);
		if (n > 0 && buf[n - 1] == '\r')
			n--;
		if (!server_line_add(s, buf, n))
			break;
		buf = nl != NULL ? nl + 1 : end;
	}
}

/* Bytes left unread mean the server answered what we never asked: any
 * reply read from here on would be out of step.  TRUE, noted, if so.
 * Inside TLS they may still wait in GnuTLS, decrypted but not read. */
static gboolean
out_of_turn(struct smtp_session *s)
{
	if (s->conn.inlen == 0 && (s->conn.tls == NULL ||
	    gnutls_record_check_pending(s->conn.tls) == 0))
		return FALSE;
	server_lines_add(s, s->conn.in, s->conn.inlen);
	note(s, "the server sent data out of turn");
	return TRUE;
}

/* Send one command line, CRLF added, and put it in the transcript. */
static enum smtp_status
cmd_send(struct smtp_session *s, const char *cmd)
{
	enum smtp_status st;
	GString		*wire;

	/* A CR or LF inside an argument would end our command early and
	 * let the rest run as a command of its own (SMTP injection). */
	if (strpbrk(cmd, "\r\n") != NULL) {
		note(s, "refusing to send a command holding CR or LF");
		return SMTP_PROTOCOL;
	}
	if (out_of_turn(s))
		return SMTP_PROTOCOL;
	transcript_add(s, SMTP_LINE_CLIENT, cmd, strlen(cmd));
	wire = g_string_new(cmd);
	g_string_append(wire, "\r\n");
	st = wire_write(s, wire->str, wire->len, s->command_ms);
	g_string_free(wire, TRUE);
	return st;
}

/* Send a command in a new state, read its reply and keep it. */
static enum smtp_status
exchange(struct smtp_session *s, enum state st, const char *cmd,
    guint timeout_ms)
{
	enum smtp_status r;

	state_set(s, st);
	reply_forget(s);
	if ((r = cmd_send(s, cmd)) != SMTP_OK)
		return r;
	if ((r = reply_read(s, timeout_ms)) != SMTP_OK)
		return r;
	reply_keep(s);
	return SMTP_OK;
}

/* End a step: record its status and drop a connection that cannot go
 * on (after a timeout or a broken reply, we and the server are out of
 * step for good). */
static enum smtp_status
finish(struct smtp_session *s, enum smtp_status st)
{
	s->outcome.status = st;
	if (st == SMTP_TIMEOUT || st == SMTP_CONN_FAILED ||
	    st == SMTP_PROTOCOL) {
		conn_close(&s->conn);
		state_set(s, ST_CLOSED);
	}
	return st;
}

/* Put a socket address in text form and its port in *port. */
static void
addr_str(const struct sockaddr *sa, char *buf, socklen_t size, guint *port)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	buf[0] = '\0';
	*port = 0;
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, buf, size);
		*port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, size);
		*port = ntohs(sin6->sin6_port);
	}
}

/* The address literal of our end of the connection (RFC 5321 4.1.3),
 * for EHLO: "[192.0.2.1]" or "[IPv6:2001:db8::1]". */
static char *
own_literal(int fd)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in6	*sin6;
	struct in_addr		 v4;
	socklen_t		 len = sizeof(ss);
	char			 buf[INET6_ADDRSTRLEN];
	guint			 port;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return g_strdup("localhost");
	if (ss.ss_family == AF_INET6) {
		sin6 = (struct sockaddr_in6 *)&ss;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(&v4, &sin6->sin6_addr.s6_addr[12], sizeof(v4));
			inet_ntop(AF_INET, &v4, buf, sizeof(buf));
			return g_strdup_printf("[%s]", buf);
		}
		addr_str((struct sockaddr *)&ss, buf, sizeof(buf), &port);
		return g_strdup_printf("[IPv6:%s]", buf);
	}
	if (ss.ss_family == AF_INET) {
		addr_str((struct sockaddr *)&ss, buf, sizeof(buf), &port);
		return g_strdup_printf("[%s]", buf);
	}
	return g_strdup("localhost");
}

/* Connect one socket, waiting at most timeout_ms: the descriptor, or -1
 * with errno (ETIMEDOUT when no answer came). */
static int
connect_one(const struct addrinfo *ai, guint timeout_ms)
{
	socklen_t	len;
	int		fd, err;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR)
		goto fail;
	if (wait_fd(fd, POLLOUT, deadline_in(timeout_ms)) == -1)
		goto fail;
	len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		goto fail;
	if (err != 0) {
		errno = err;
		goto fail;
	}
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

/* Resolve the server and connect to the first address that answers. */
static enum smtp_status
session_connect(struct smtp_session *s)
{
	struct addrinfo		 hints, *res, *ai;
	enum smtp_status	 st = SMTP_CONN_FAILED;
	char			 addr[INET6_ADDRSTRLEN], secs[32];
	guint			 port;
	int			 rc, fd;

	state_set(s, ST_CONNECT);
	note(s, "connecting to %s port %s", s->host, s->port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(s->host, s->port, &hints, &res)) != 0) {
		note(s, "cannot resolve %s port %s: %s", s->host, s->port,
		    rc == EAI_SYSTEM ? g_strerror(errno) : gai_strerror(rc));
		return SMTP_CONN_FAILED;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		addr_str(ai->ai_addr, addr, sizeof(addr), &port);
		if ((fd = connect_one(ai, s->connect_ms)) != -1) {
			note(s, "connected to %s port %u", addr, port);
			s->conn.fd = fd;
			s->own_literal = own_literal(fd);
			st = SMTP_OK;
			break;
		}
		if (errno == ETIMEDOUT) {
			fmt_secs(s->connect_ms, secs, sizeof(secs));
			note(s, "connect to %s port %u: no answer within %s",
			    addr, port, secs);
			st = SMTP_TIMEOUT;
		} else {
			note(s, "connect to %s port %u: %s", addr, port,
			    g_strerror(errno));
			st = SMTP_CONN_FAILED;
		}
	}
	freeaddrinfo(res);
	return st;
}

/* Say EHLO and learn the server's extensions; HELO if EHLO is refused
 * for good (5xx: a server from before RFC 1869). */
static enum smtp_status
session_hello(struct smtp_session *s)
{
	const char		*name, *text;
	enum smtp_status	 st;
	gboolean		 last;
	char			*cmd;
	guint			 i;
	int			 code;

	name = s->helo_name != NULL ? s->helo_name : s->own_literal;
	cmd = g_strdup_printf("EHLO %s", name);
	st = exchange(s, ST_EHLO, cmd, s->command_ms);
	g_free(cmd);
	if (st != SMTP_OK)
		return st;
	if (s->rcode >= 500 && s->rcode <= 599) {
		cmd = g_strdup_printf("HELO %s", name);
		st = exchange(s, ST_HELO, cmd, s->command_ms);
		g_free(cmd);
		if (st != SMTP_OK)
			return st;
		return reply_expect(s, 200, 299);
	}
	if ((st = reply_expect(s, 200, 299)) != SMTP_OK)
		return st;
	s->caps.esmtp = TRUE;
	/* The first line is the server's name, the others its keywords;
	 * a line may be a bare "250", so let the parser find the text. */
	for (i = 1; i < s->rlines->len; i++)
		if (smtp_reply_parse_line(g_ptr_array_index(s->rlines, i),
		    &code, &last, &text))
			smtp_caps_parse_line(&s->caps, text);
	return SMTP_OK;
}

/* See smtp.h. */
struct smtp_trust {
	GMutex				 lock;
	char				*ca_file;	/* NULL: the system's */
	char				*ca_pem;	/* its text, read at
							 * smtp_trust_new() */
	gnutls_certificate_credentials_t cred;		/* NULL until needed */
	char				*error;		/* why cred is NULL
							 * for good */
};

/* Put the CA file's certificates into t->cred; t->error if none. */
static void
load_ca_pem(struct smtp_trust *t)
{
	gnutls_datum_t	pem = { (unsigned char *)t->ca_pem,
			    (unsigned int)strlen(t->ca_pem) };
	int		rc;

	rc = gnutls_certificate_set_x509_trust_mem(t->cred, &pem,
	    GNUTLS_X509_FMT_PEM);
	/* An empty file would trust nothing and fail every handshake:
	 * say what is wrong with the file. */
	if (rc < 0)
		t->error = g_strdup_printf("cannot load the CA file %s: %s",
		    t->ca_file, gnutls_strerror(rc));
	else if (rc == 0)
		t->error = g_strdup_printf("no certificate in the CA file %s",
		    t->ca_file);
}

/*
 * The trust's credentials, made at the first call: from its CA file's
 * PEM, or the system's store.  NULL with *why if they cannot be made;
 * the answer stays the same for every later call.
 */
static gnutls_certificate_credentials_t
trust_credentials(struct smtp_trust *t, const char **why)
{
	int	rc;

	g_mutex_lock(&t->lock);
	if (t->cred == NULL && t->error == NULL) {
		if ((rc = gnutls_certificate_allocate_credentials(&t->cred))
		    < 0)
			t->error = g_strdup(gnutls_strerror(rc));
		else if (t->ca_pem != NULL)
			load_ca_pem(t);
		else if ((rc = gnutls_certificate_set_x509_system_trust(
		    t->cred)) <= 0)
			t->error = g_strdup_printf("cannot load the system's "
			    "trusted certificates: %s", rc < 0 ?
			    gnutls_strerror(rc) : "there are none");
		if (t->error != NULL && t->cred != NULL) {
			gnutls_certificate_free_credentials(t->cred);
			t->cred = NULL;
		}
	}
	*why = t->error;
	g_mutex_unlock(&t->lock);
	return t->cred;
}

struct smtp_trust *
smtp_trust_new(const char *ca_file, GError **err)
{
	struct smtp_trust	*t = g_new0(struct smtp_trust, 1);
	const char		*why;

	g_mutex_init(&t->lock);
	if (ca_file == NULL)
		return t;	/* the system's store, read when needed */
	t->ca_file = g_strdup(ca_file);
	if (!g_file_get_contents(ca_file, &t->ca_pem, NULL, err)) {
		smtp_trust_free(t);
		return NULL;
	}
	/* Checked now, so that a bad file stops the start-up. */
	if (trust_credentials(t, &why) == NULL) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s", why);
		smtp_trust_free(t);
		return NULL;
	}
	return t;
}

void
smtp_trust_free(struct smtp_trust *t)
{
	if (t == NULL)
		return;
	if (t->cred != NULL)
		gnutls_certificate_free_credentials(t->cred);
	g_mutex_clear(&t->lock);
	g_free(t->ca_file);
	g_free(t->ca_pem);
	g_free(t->error);
	g_free(t);
}

/* Give up on TLS: say why in the transcript and in the outcome. */
static enum smtp_status G_GNUC_PRINTF(2, 3)
tls_failed(struct smtp_session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	g_free(s->outcome.tls_error);
	s->outcome.tls_error = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	note(s, "no TLS: %s; no mail is sent", s->outcome.tls_error);
	return SMTP_TLS_FAILED;
}

/* An empty set of credentials of the session's own: nothing to check
 * the server's certificate against. */
static enum smtp_status
own_credentials(struct smtp_session *s)
{
	int	rc;

	if ((rc = gnutls_certificate_allocate_credentials(&s->cred)) < 0) {
		s->cred = NULL;
		return tls_failed(s, "%s", gnutls_strerror(rc));
	}
	s->own_cred = TRUE;
	return SMTP_OK;
}

/*
 * The credentials for this session's handshake: the trust's, shared;
 * insecure, an empty set of its own.  When the trust cannot be loaded
 * (a machine without the ca-certificates package), REQUIRED stops, and
 * AUTO goes on encrypted with the certificate unchecked, as it would
 * with one that does not check out (smtp.h).
 */
static enum smtp_status
tls_credentials(struct smtp_session *s)
{
	const char	*why = NULL;

	if (s->cred != NULL)
		return SMTP_OK;
	if (s->insecure)
		return own_credentials(s);
	if ((s->cred = trust_credentials(s->trust, &why)) != NULL)
		return SMTP_OK;
	if (s->tls_mode == SMTP_TLS_REQUIRED)
		return tls_failed(s, "%s", why);
	s->no_trust = g_strdup(why);
	return own_credentials(s);
}

/* A GnuTLS client session on the connection; the certificate is
 * checked after the handshake (tls_untrusted()). */
static enum smtp_status
tls_session_new(struct smtp_session *s)
{
	gnutls_session_t	 tls;
	int			 rc;

	/* GNUTLS_NO_SIGNAL: a server that hangs up mid-record must cost
	 * an error, not the process through SIGPIPE (as MSG_NOSIGNAL). */
	if ((rc = gnutls_init(&tls, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL)) < 0)
		return tls_failed(s, "%s", gnutls_strerror(rc));
	s->conn.tls = tls;
	if ((rc = gnutls_set_default_priority(tls)) < 0 ||
	    (rc = gnutls_credentials_set(tls, GNUTLS_CRD_CERTIFICATE,
	    s->cred)) < 0)
		return tls_failed(s, "%s", gnutls_strerror(rc));
	/* SNI takes a DNS name only (RFC 6066 3): never an address. */
	if (!g_hostname_is_ip_address(s->host) &&
	    (rc = gnutls_server_name_set(tls, GNUTLS_NAME_DNS, s->host,
	    strlen(s->host))) < 0)
		return tls_failed(s, "%s", gnutls_strerror(rc));
	gnutls_transport_set_int(tls, s->conn.fd);
	/* Our deadline alone bounds the handshake: with a GnuTLS timeout
	 * too, GnuTLS would wait inside poll(2) on its own clock. */
	gnutls_handshake_set_timeout(tls, 0);
	return SMTP_OK;
}

/* Why the handshake failed, in the transcript and the outcome. */
static enum smtp_status
tls_handshake_failed(struct smtp_session *s, int err)
{
	char	 secs[32];

	if (err == ETIMEDOUT) {
		fmt_secs(s->command_ms, secs, sizeof(secs));
		note(s, "the TLS handshake did not end within %s", secs);
		return SMTP_TIMEOUT;
	}
	if (err != EPROTO)
		return tls_failed(s, "the TLS handshake failed: %s",
		    g_strerror(err));
	return tls_failed(s, "the TLS handshake failed: %s",
	    gnutls_strerror(s->conn.tls_err));
}

/*
 * Check the server's certificate once the handshake is done: its chain
 * against the trust, and that it names host (RFC 6125; an IP address is
 * matched against its IP subjectAltNames).  Without this check anyone
 * on the path could answer with a certificate of their own and read the
 * mail.  NULL if it checks out, else why not, as a clause ("The
 * certificate is NOT trusted. The certificate issuer is unknown").
 */
static char *
tls_untrusted(struct smtp_session *s)
{
	gnutls_datum_t	 why = { NULL, 0 };
	unsigned int	 status = 0;
	char		*text;
	int		 rc;

	if (s->no_trust != NULL)
		return g_strdup_printf("no trusted certificates to check it "
		    "against (%s)", s->no_trust);
	rc = gnutls_certificate_verify_peers3(s->conn.tls, s->host, &status);
	if (rc < 0)
		return g_strdup(gnutls_strerror(rc));
	if (status == 0)
		return NULL;
	if (gnutls_certificate_verification_status_print(status,
	    GNUTLS_CRT_X509, &why, 0) < 0 || why.data == NULL) {
		gnutls_free(why.data);
		return g_strdup("it does not check out");
	}
	text = g_strdup(g_strstrip((char *)why.data));
	gnutls_free(why.data);
	if (g_str_has_suffix(text, "."))
		text[strlen(text) - 1] = '\0';
	return text;
}

/*
 * After the handshake: check the certificate as the mode says (fatal
 * only if TLS is required, see smtp.h), then record in the outcome and
 * the transcript that TLS started.
 */
static enum smtp_status
tls_check_peer(struct smtp_session *s)
{
	enum smtp_status st;
	char		*why = NULL, *desc;

	if (!s->insecure && (why = tls_untrusted(s)) != NULL &&
	    s->tls_mode == SMTP_TLS_REQUIRED) {
		st = tls_failed(s, "the server's certificate was not "
		    "accepted for %s: %s", s->host, why);
		g_free(why);
		return st;
	}
	desc = gnutls_session_get_desc(s->conn.tls);
	s->outcome.tls_desc = g_strdup(desc != NULL ? desc : "(TLS)");
	gnutls_free(desc);
	s->outcome.tls = TRUE;
	s->outcome.tls_verified = !s->insecure && why == NULL;
	s->outcome.tls_untrusted = why;
	if (s->insecure)
		note(s, "TLS started: %s \u2014 certificate NOT verified "
		    "(--smtp-insecure)", s->outcome.tls_desc);
	else if (why != NULL)
		note(s, "TLS started: %s \u2014 certificate NOT trusted for "
		    "%s: %s; going on encrypted", s->outcome.tls_desc, s->host,
		    why);
	else
		note(s, "TLS started: %s \u2014 certificate verified for %s",
		    s->outcome.tls_desc, s->host);
	return SMTP_OK;
}

/*
 * STARTTLS, the handshake and EHLO again, as the mode says (see enum
 * smtp_tls_mode in smtp.h).  Returns SMTP_OK to go on, in clear or in
 * TLS.  After a failed handshake the connection is closed here: the
 * server is in TLS and no QUIT in clear can reach it.
 */
static enum smtp_status
session_starttls(struct smtp_session *s)
{
	enum smtp_status st;

	if (s->tls_mode == SMTP_TLS_OFF) {
		if (s->caps.starttls)
			note(s, "the server offers STARTTLS; not used, as TLS "
			    "is off");
		return SMTP_OK;
	}
	if (!s->caps.starttls) {
		if (s->tls_mode != SMTP_TLS_REQUIRED)
			return SMTP_OK;
		/* Its EHLO reply is no error to show as the answer. */
		reply_forget(s);
		return tls_failed(s, "the server does not offer STARTTLS, "
		    "and TLS is required");
	}
	/* A CA file we cannot use is our problem: find it before the
	 * server is asked for anything. */
	if ((st = tls_credentials(s)) != SMTP_OK)
		return st;
	if ((st = exchange(s, ST_STARTTLS, "STARTTLS", s->command_ms)) !=
	    SMTP_OK)
		return st;
	st = reply_expect(s, 220, 220);
	if (st == SMTP_REFUSED && s->state != ST_CLOSED) {
		if (s->tls_mode == SMTP_TLS_REQUIRED)
			return tls_failed(s, "the server refused STARTTLS, and "
			    "TLS is required");
		note(s, "the server refused STARTTLS: going on without TLS");
		return SMTP_OK;
	}
	if (st != SMTP_OK)
		return st;
	/* Bytes after the 220 came in clear but would be read as if they
	 * came through TLS: a man in the middle could answer our EHLO in
	 * advance that way (STARTTLS response injection: the client's
	 * side of CVE-2011-0411). */
	if (s->conn.inlen > 0) {
		note(s, "the server sent data after its 220 to STARTTLS");
		return SMTP_PROTOCOL;
	}
	state_set(s, ST_HANDSHAKE);
	/* The 220 is no answer to show if the handshake fails. */
	reply_forget(s);
	if ((st = tls_session_new(s)) == SMTP_OK &&
	    conn_handshake(&s->conn, deadline_in(s->command_ms)) == -1)
		st = tls_handshake_failed(s, errno);
	if (st != SMTP_OK) {
		conn_close(&s->conn);
		state_set(s, ST_CLOSED);
		return st;
	}
	st = tls_check_peer(s);
	/* The lines after its note are the ones inside TLS: the rest of
	 * the dialogue, or only QUIT when the certificate did not do (RFC
	 * 3207 4.1: QUIT right after the negotiation). */
	s->conn.tls_up = TRUE;
	if (st != SMTP_OK)
		return st;
	/* RFC 3207 4.2: forget all that the server said in clear, and
	 * learn its extensions again from inside TLS. */
	memset(&s->caps, 0, sizeof(s->caps));
	return session_hello(s);
}

/* A new session, not yet connected; copies what it keeps of p. */
struct smtp_session *
smtp_session_new(const struct smtp_params *p)
{
	struct smtp_session *s = g_new0(struct smtp_session, 1);

	s->state = ST_INIT;
	s->host = g_strdup(p->host);
	s->port = g_strdup(p->port != NULL ? p->port : "25");
	s->helo_name = g_strdup(p->helo_name);
	s->connect_ms = p->connect_timeout_ms != 0 ? p->connect_timeout_ms :
	    SMTP_DEFAULT_CONNECT_TIMEOUT_MS;
	s->command_ms = p->command_timeout_ms != 0 ? p->command_timeout_ms :
	    SMTP_DEFAULT_COMMAND_TIMEOUT_MS;
	s->data_ms = p->data_timeout_ms != 0 ? p->data_timeout_ms :
	    SMTP_DEFAULT_DATA_TIMEOUT_MS;
	s->tls_mode = p->tls;
	if ((s->trust = p->trust) == NULL)
		s->trust = s->own_trust = smtp_trust_new(NULL, NULL);
	s->insecure = p->insecure;
	s->start_us = g_get_monotonic_time();
	s->rlines = g_ptr_array_new_with_free_func(g_free);
	s->outcome.status = SMTP_OK;
	s->outcome.refused = g_ptr_array_new_with_free_func(refusal_free);
	s->outcome.transcript = g_ptr_array_new_with_free_func(line_free);
	s->conn.fd = -1;
	return s;
}

/* Close without QUIT and free everything, outcome included. */
void
smtp_session_free(struct smtp_session *s)
{
	if (s == NULL)
		return;
	conn_close(&s->conn);
	g_free(s->host);
	g_free(s->port);
	g_free(s->helo_name);
	g_free(s->own_literal);
	if (s->own_cred)
		gnutls_certificate_free_credentials(s->cred);
	g_free(s->no_trust);
	smtp_trust_free(s->own_trust);
	g_ptr_array_unref(s->rlines);
	g_free(s->outcome.reply);
	g_free(s->outcome.queue_id);
	g_free(s->outcome.tls_desc);
	g_free(s->outcome.tls_error);
	g_free(s->outcome.tls_untrusted);
	g_ptr_array_unref(s->outcome.refused);
	g_ptr_array_unref(s->outcome.transcript);
	g_free(s);
}

/* Connect, read the greeting, say EHLO (or HELO), STARTTLS. */
enum smtp_status
smtp_session_open(struct smtp_session *s)
{
	enum smtp_status st;

	g_return_val_if_fail(s->state == ST_INIT, SMTP_PROTOCOL);
	s->start_us = g_get_monotonic_time();
	if (s->host == NULL) {
		note(s, "no server to connect to");
		return finish(s, SMTP_CONN_FAILED);
	}
	if ((st = session_connect(s)) != SMTP_OK)
		return finish(s, st);
	state_set(s, ST_GREETING);
	if ((st = reply_read(s, s->command_ms)) != SMTP_OK)
		return finish(s, st);
	reply_keep(s);
	/* A 421 or 554 greeting: the server will not talk to us now. */
	if ((st = reply_expect(s, 220, 220)) != SMTP_OK)
		return finish(s, st);
	if ((st = session_hello(s)) != SMTP_OK ||
	    (st = session_starttls(s)) != SMTP_OK)
		return finish(s, st);
	state_set(s, ST_READY);
	return finish(s, SMTP_OK);
}

/* What the server offered in its EHLO reply. */
const struct smtp_caps *
smtp_session_caps(const struct smtp_session *s)
{
	return &s->caps;
}

/* Check the envelope before sending any of it, so that a bad recipient
 * cannot leave half a transaction behind. */
static gboolean
envelope_ok(struct smtp_session *s, const struct smtp_envelope *env)
{
	gsize	i;

	if (env->mail_from == NULL || strpbrk(env->mail_from, "\r\n")) {
		note(s, "refusing a sender holding CR or LF");
		return FALSE;
	}
	if (env->n_rcpt == 0) {
		note(s, "no recipients");
		return FALSE;
	}
	for (i = 0; i < env->n_rcpt; i++) {
		if (env->rcpt[i] == NULL || strpbrk(env->rcpt[i], "\r\n")) {
			note(s, "refusing a recipient holding CR or LF");
			return FALSE;
		}
	}
	return TRUE;
}

/* Say RSET if an earlier transaction was left open. */
static enum smtp_status
session_reset(struct smtp_session *s)
{
	enum smtp_status st;

	if (!s->in_txn)
		return SMTP_OK;
	if ((st = exchange(s, ST_RSET, "RSET", s->command_ms)) != SMTP_OK)
		return st;
	if ((st = reply_expect(s, 200, 299)) == SMTP_OK)
		s->in_txn = FALSE;
	return st;
}

/* MAIL FROM with the parameters the server offers and we need. */
static enum smtp_status
send_mail(struct smtp_session *s, const struct smtp_envelope *env,
    guint64 size)
{
	enum smtp_status st;
	GString		*cmd = g_string_new(NULL);

	g_string_printf(cmd, "MAIL FROM:<%s>", env->mail_from);
	if (s->caps.has_size)
		g_string_append_printf(cmd, " SIZE=%" G_GUINT64_FORMAT, size);
	if (env->eightbit && s->caps.eightbitmime)
		g_string_append(cmd, " BODY=8BITMIME");
	if (env->smtputf8)
		g_string_append(cmd, " SMTPUTF8");
	st = exchange(s, ST_MAIL, cmd->str, s->command_ms);
	g_string_free(cmd, TRUE);
	if (st != SMTP_OK)
		return st;
	if ((st = reply_expect(s, 200, 299)) == SMTP_OK)
		s->in_txn = TRUE;
	return st;
}

/* One RCPT TO per recipient; refusals are listed, not fatal. */
static enum smtp_status
send_rcpts(struct smtp_session *s, const struct smtp_envelope *env)
{
	struct smtp_refusal	*r;
	enum smtp_status	 st;
	char			*cmd;
	gsize			 i;

	for (i = 0; i < env->n_rcpt; i++) {
		cmd = g_strdup_printf("RCPT TO:<%s>", env->rcpt[i]);
		st = exchange(s, ST_RCPT, cmd, s->command_ms);
		g_free(cmd);
		if (st != SMTP_OK)
			return st;
		st = reply_expect(s, 200, 299);
		if (st == SMTP_OK) {
			s->outcome.n_accepted++;
		} else if (st == SMTP_REFUSED && s->state != ST_CLOSED) {
			r = g_new0(struct smtp_refusal, 1);
			r->rcpt = g_strdup(env->rcpt[i]);
			r->code = s->rcode;
			r->reply = reply_join(s);
			g_ptr_array_add(s->outcome.refused, r);
		} else
			return st;
	}
	if (s->outcome.n_accepted == 0) {
		note(s, "every recipient was refused: the message is not sent");
		return SMTP_REFUSED;
	}
	return SMTP_OK;
}

/* Put the first lines of the message as sent into the transcript (not
 * the "." that ends it).  wire is smtp_dot_stuff() output, so every line
 * ends with CRLF and the last one is the ".". */
static void
transcript_body(struct smtp_session *s, const GString *wire)
{
	const char	*p = wire->str, *end = wire->str + wire->len - 3;
	const char	*eol;
	guint		 n = 0;

	for (; p < end; p = eol + 1, n++) {
		eol = memchr(p, '\n', (gsize)(end - p));
		if (n < SMTP_TRANSCRIPT_DATA_LINES)
			transcript_add(s, SMTP_LINE_DATA, p,
			    (gsize)(eol - 1 - p));
	}
	if (n > SMTP_TRANSCRIPT_DATA_LINES)
		note(s, "(%u more lines of the message)",
		    n - SMTP_TRANSCRIPT_DATA_LINES);
}

/*
 * A server may refuse a message midway, say why and hang up before the
 * rest of it is written.  Its reply then waits in our socket, unread:
 * take it, without waiting, so that the page shows the server's own
 * words rather than only "connection lost".  In clear only: a TLS
 * session that broke cannot be read from.
 */
static enum smtp_status
refused_midway(struct smtp_session *s, enum smtp_status st)
{
	char	 byte;

	if (st != SMTP_CONN_FAILED || s->conn.tls != NULL ||
	    (s->conn.inlen == 0 && recv(s->conn.fd, &byte, 1,
	    MSG_PEEK | MSG_DONTWAIT) != 1))
		return st;
	/* Only a refusal: a "250" to half a message is no success, and
	 * must not pass for the outcome's reply either. */
	if (reply_read(s, 0) != SMTP_OK || s->rcode < 400)
		return st;
	reply_keep(s);
	s->in_txn = FALSE;
	conn_close(&s->conn);
	state_set(s, ST_CLOSED);
	return SMTP_REFUSED;
}

/* DATA, the message, and the final reply. */
static enum smtp_status
send_data(struct smtp_session *s, const GString *wire)
{
	enum smtp_status st;

	if ((st = exchange(s, ST_DATA, "DATA", s->command_ms)) != SMTP_OK)
		return st;
	if ((st = reply_expect(s, 354, 354)) != SMTP_OK)
		return st;
	/* Early bytes would pass for the reply to the message. */
	if (out_of_turn(s))
		return SMTP_PROTOCOL;
	state_set(s, ST_BODY);
	reply_forget(s);
	transcript_body(s, wire);
	if ((st = wire_write(s, wire->str, wire->len, s->data_ms)) != SMTP_OK)
		return refused_midway(s, st);
	/* Shown once written: the transcript must not claim an end of
	 * data that never reached the server. */
	transcript_add(s, SMTP_LINE_CLIENT, ".", 1);
	if ((st = reply_read(s, s->data_ms)) != SMTP_OK)
		return st;
	reply_keep(s);
	/* Whatever the answer, the transaction is over. */
	s->in_txn = FALSE;
	if ((st = reply_expect(s, 200, 299)) != SMTP_OK)
		return st;
	s->outcome.queue_id = smtp_queue_id_from_reply(s->outcome.reply);
	return SMTP_OK;
}

/* Put the message on the wire form and return its size as RFC 1870
 * counts it: CRLF line ends, without the stuffed dots and the ".". */
static guint64
stuff(GString *out, const char *data, gsize len)
{
	gsize		i, start = out->len, added = 0;
	gboolean	bol = TRUE;
	char		ch;

	for (i = 0; i < len; i++) {
		ch = data[i];
		if (bol && ch == '.') {
			g_string_append_c(out, '.');
			added++;
		}
		if (ch == '\r' || ch == '\n') {
			if (ch == '\r' && i + 1 < len && data[i + 1] == '\n')
				i++;
			g_string_append_len(out, "\r\n", 2);
			bol = TRUE;
		} else {
			g_string_append_c(out, ch);
			bol = FALSE;
		}
	}
	if (!bol)
		g_string_append_len(out, "\r\n", 2);
	g_string_append_len(out, ".\r\n", 3);
	return out->len - start - 3 - added;
}

/* One mail transaction: MAIL, RCPT..., DATA and the message. */
enum smtp_status
smtp_session_send(struct smtp_session *s, const struct smtp_envelope *env,
    GBytes *message)
{
	enum smtp_status st;
	const char	*data;
	GString		*wire;
	guint64		 size;
	gsize		 len;

	g_return_val_if_fail(env != NULL && message != NULL, SMTP_PROTOCOL);
	/* Not connected (open failed, or a failure closed it): nothing to
	 * do, and the outcome keeps the step that failed. */
	if (s->state != ST_READY)
		return SMTP_CONN_FAILED;
	reply_forget(s);
	g_clear_pointer(&s->outcome.queue_id, g_free);
	g_ptr_array_set_size(s->outcome.refused, 0);
	s->outcome.n_accepted = 0;
	/* The caller's mistake, not the connection's: keep it open. */
	if (!envelope_ok(s, env)) {
		s->outcome.status = SMTP_PROTOCOL;
		return SMTP_PROTOCOL;
	}
	if (env->smtputf8 && !s->caps.smtputf8) {
		note(s, "the server does not offer SMTPUTF8, which these "
		    "addresses need");
		return finish(s, SMTP_UNSUPPORTED);
	}
	data = g_bytes_get_data(message, &len);
	wire = g_string_sized_new(len + len / 32 + 8);
	size = stuff(wire, data, len);
	if (s->caps.has_size && s->caps.size_max > 0 &&
	    size > s->caps.size_max) {
		note(s, "the message (%" G_GUINT64_FORMAT " bytes) is larger "
		    "than the server accepts (SIZE %" G_GUINT64_FORMAT ")",
		    size, s->caps.size_max);
		g_string_free(wire, TRUE);
		return finish(s, SMTP_TOO_BIG);
	}
	if (env->eightbit && !s->caps.eightbitmime)
		note(s, "the server does not offer 8BITMIME; sending the "
		    "8-bit message as it is");
	if ((st = session_reset(s)) == SMTP_OK &&
	    (st = send_mail(s, env, size)) == SMTP_OK &&
	    (st = send_rcpts(s, env)) == SMTP_OK)
		st = send_data(s, wire);
	g_string_free(wire, TRUE);
	/* Ready for another mail, unless a 421 closed the connection. */
	if ((st == SMTP_OK || st == SMTP_REFUSED) && s->state != ST_CLOSED)
		state_set(s, ST_READY);
	return finish(s, st);
}

/* Say QUIT, read its reply if any, and close. */
void
smtp_session_quit(struct smtp_session *s)
{
	if (s->conn.fd == -1)
		return;
	/* Failures here change nothing for the user: the outcome stays
	 * that of the last real step, and the reply to QUIT is not kept. */
	state_set(s, ST_QUIT);
	if (cmd_send(s, "QUIT") == SMTP_OK &&
	    reply_read(s, MIN(s->command_ms, SMTP_QUIT_TIMEOUT_MS)) ==
	    SMTP_OK && s->conn.tls_up)
		/* One try at close_notify, without waiting: the server
		 * said 221 and closes anyway. */
		(void)gnutls_bye(s->conn.tls, GNUTLS_SHUT_WR);
	conn_close(&s->conn);
	state_set(s, ST_CLOSED);
}

/* The outcome and transcript so far. */
const struct smtp_outcome *
smtp_session_outcome(const struct smtp_session *s)
{
	return &s->outcome;
}

/* Validate one reply line and split it into code, last and text. */
gboolean
smtp_reply_parse_line(const char *line, int *code, gboolean *last,
    const char **text)
{
	/* RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39 */
	if (line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '5' || line[2] < '0' || line[2] > '9')
		return FALSE;
	switch (line[3]) {
	case '\0':
		*last = TRUE;
		*text = line + 3;
		break;
	case ' ':
		*last = TRUE;
		*text = line + 4;
		break;
	case '-':
		*last = FALSE;
		*text = line + 4;
		break;
	default:
		return FALSE;
	}
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	return TRUE;
}

/* Append the message in its wire form after DATA. */
void
smtp_dot_stuff(GString *out, const char *data, gsize len)
{
	(void)stuff(out, data, len);
}

/* Parse a decimal number of octets with no sign, space or overflow. */
static gboolean
parse_size(const char *p, guint64 *out)
{
	guint64	v = 0;

	if (*p == '\0')
		return FALSE;
	for (; *p != '\0'; p++) {
		if (!g_ascii_isdigit(*p))
			return FALSE;
		if (v > (G_MAXUINT64 - (guint64)(*p - '0')) / 10)
			return FALSE;
		v = v * 10 + (guint64)(*p - '0');
	}
	*out = v;
	return TRUE;
}

/* Whether the keyword of len bytes at kw is name, ignoring case. */
static gboolean
keyword_is(const char *kw, gsize len, const char *name)
{
	return len == strlen(name) && g_ascii_strncasecmp(kw, name, len) == 0;
}

/* Note one EHLO keyword line in caps; unknown keywords are ignored. */
void
smtp_caps_parse_line(struct smtp_caps *caps, const char *text)
{
	gsize		 len = strcspn(text, " ");
	const char	*arg = text + len;
	guint64		 size;

	while (*arg == ' ')
		arg++;
	if (keyword_is(text, len, "SIZE")) {
		/* A SIZE we cannot read is ignored rather than guessed. */
		if (*arg == '\0') {
			caps->has_size = TRUE;
			caps->size_max = 0;
		} else if (parse_size(arg, &size)) {
			caps->has_size = TRUE;
			caps->size_max = size;
		}
	} else if (keyword_is(text, len, "8BITMIME"))
		caps->eightbitmime = TRUE;
	else if (keyword_is(text, len, "SMTPUTF8"))
		caps->smtputf8 = TRUE;
	else if (keyword_is(text, len, "PIPELINING"))
		caps->pipelining = TRUE;
	else if (keyword_is(text, len, "STARTTLS"))
		caps->starttls = TRUE;
}

/* See smtp.h. */
gboolean
smtp_address_literal_ok(const char *s)
{
	gsize		 len = strlen(s);
	char		*inner;
	struct in_addr	 a4;
	struct in6_addr	 a6;
	gboolean	 ok;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return FALSE;
	inner = g_strndup(s + 1, len - 2);
	/* The tag is an Ldh-str: any case, as "IPv6" in RFC 5321's ABNF. */
	ok = g_ascii_strncasecmp(inner, "IPv6:", 5) == 0 ?
	    inet_pton(AF_INET6, inner + 5, &a6) == 1 :
	    inet_pton(AF_INET, inner, &a4) == 1;
	g_free(inner);
	return ok;
}

/* See smtp.h. */
const char *
smtp_queue_id_find(const char *text, gsize *len)
{
	const char	*p, *start;

	if (text == NULL)
		return NULL;
	for (p = text; *p != '\0'; p++)
		if (g_ascii_strncasecmp(p, "queued as", 9) == 0)
			break;
	if (*p == '\0')
		return NULL;
	for (p += 9; *p == ' '; p++)
		;
	for (start = p; g_ascii_isalnum(*p); p++)
		;
	*len = (gsize)(p - start);
	return p > start ? start : NULL;
}

/* The [A-Za-z0-9]+ token after "queued as", or NULL. */
char *
smtp_queue_id_from_reply(const char *text)
{
	const char	*id;
	gsize		 len;

	id = smtp_queue_id_find(text, &len);
	return id != NULL ? g_strndup(id, len) : NULL;
}

/* A short English word for a status. */
const char *
smtp_status_str(enum smtp_status st)
{
	switch (st) {
	case SMTP_OK:
		return "ok";
	case SMTP_REFUSED:
		return "refused";
	case SMTP_TIMEOUT:
		return "timed out";
	case SMTP_CONN_FAILED:
		return "connection failed";
	case SMTP_PROTOCOL:
		return "protocol error";
	case SMTP_TOO_BIG:
		return "message too big";
	case SMTP_UNSUPPORTED:
		return "unsupported";
	case SMTP_TLS_FAILED:
		return "TLS failed";
	}
	return "unknown";
}
