/*
 * smtp - labmail's own SMTP client (RFC 5321).
 *
 * The lab is about this dialogue, so the client is ours and keeps a
 * transcript of every line, as a student would see it with nc.
 *
 * A session is blocking (each I/O waits with poll(2) up to a timeout) and
 * is meant to run on a worker thread, never on the HTTP event loop.  It is
 * an explicit state machine: one function writes commands, one reads and
 * validates replies, and every line in both directions is appended to the
 * transcript as it goes.
 *
 * Use:
 *	s = smtp_session_new(&params);
 *	if (smtp_session_open(s) == SMTP_OK)          connect, 220, EHLO/HELO,
 *		                                       STARTTLS and EHLO again
 *		... look at smtp_session_caps(s), build the message ...
 *		smtp_session_send(s, &envelope, msg);     MAIL, RCPT..., DATA, "."
 *	smtp_session_quit(s);                          QUIT (if still connected)
 *	... read smtp_session_outcome(s) ...
 *	smtp_session_free(s);
 *
 * Ownership: params and envelope strings are borrowed for the call only;
 * the session copies what it keeps.  Everything returned by the accessors
 * belongs to the session and lives until smtp_session_free().
 */
#ifndef LABMAIL_SMTP_H
#define LABMAIL_SMTP_H

#include <glib.h>

/* Limits that protect us from a misbehaving server. */
#define SMTP_LINE_MAX		4096	/* one reply line, CRLF excluded */
#define SMTP_REPLY_LINES_MAX	64	/* lines of one multi-line reply */

/*
 * Used when a timeout of struct smtp_params is 0.  Shorter than the
 * minutes RFC 5321 4.5.3.2 suggests: a person is waiting for the page.
 */
#define SMTP_DEFAULT_CONNECT_TIMEOUT_MS	10000
#define SMTP_DEFAULT_COMMAND_TIMEOUT_MS	30000
#define SMTP_DEFAULT_DATA_TIMEOUT_MS	60000

enum smtp_status {
	SMTP_OK,		/* the step succeeded */
	SMTP_REFUSED,		/* the server answered 4xx/5xx (see outcome);
				 * after a 421 the connection is closed */
	SMTP_TIMEOUT,		/* connect or a reply did not come in time */
	SMTP_CONN_FAILED,	/* could not connect, or connection lost */
	SMTP_PROTOCOL,		/* malformed reply, line too long, ...;
				 * also an envelope we refuse to send
				 * (CR or LF in an address, no rcpt) */
	SMTP_TOO_BIG,		/* message larger than the server's SIZE */
	SMTP_UNSUPPORTED,	/* needs SMTPUTF8 and the server lacks it */
	SMTP_TLS_FAILED,	/* TLS required and not offered or refused
				 * (QUIT still said), or its certificate
				 * does not check out (QUIT said inside
				 * TLS), or the TLS handshake failed
				 * (connection closed); no mail sent */
};

/*
 * STARTTLS (RFC 3207), tried after the first EHLO.  In every mode but
 * OFF, a STARTTLS that was begun and failed (CA file, handshake) ends
 * the session with SMTP_TLS_FAILED: once the server said 220 to
 * STARTTLS the connection cannot go back to plain text.
 *
 * AUTO is opportunistic (RFC 7435), as Postfix's own client at its
 * default "may" level: when the server does not offer STARTTLS or
 * refuses it (4xx/5xx), the mail goes in plain text; when its
 * certificate does not check out (a lab server's self-signed one), or
 * there is nothing to check it against (no trust store on the machine),
 * the mail goes encrypted and the outcome says why the certificate is
 * not trusted.  Failing there would protect nothing, as whoever could
 * forge a certificate could as well strip STARTTLS from the EHLO reply.
 * REQUIRED stops before MAIL in all three cases.
 */
enum smtp_tls_mode {
	SMTP_TLS_AUTO,		/* STARTTLS when offered (the default) */
	SMTP_TLS_REQUIRED,	/* no mail without TLS and a certificate
				 * that checks out (unless insecure) */
	SMTP_TLS_OFF,		/* never STARTTLS */
};

struct smtp_trust;

struct smtp_params {
	const char	*host;		/* name or address of the server */
	const char	*port;		/* service name or number, "25";
					 * NULL: "25" */
	const char	*helo_name;	/* EHLO argument; NULL: the address
					 * literal of our own end of the
					 * connection, e.g. "[127.0.0.1]" */
	guint		 connect_timeout_ms;	/* each address tried */
	guint		 command_timeout_ms;	/* each reply but the last */
	guint		 data_timeout_ms;	/* sending the message, and the
						 * reply to the final "." */
	/* A timeout bounds a whole reply, not each read: a server that
	 * dribbles a byte now and then cannot hold the worker.  The TLS
	 * handshake is bounded by command_timeout_ms as a whole, too. */
	enum smtp_tls_mode tls;
	struct smtp_trust *trust;	/* what the server's certificate must
					 * chain to (see smtp_trust_new());
					 * NULL: the system's trust store,
					 * read for this session */
	gboolean	 insecure;	/* TLS without any certificate check
					 * (chain or name): encrypted, but
					 * open to a man in the middle */
	/* Unless insecure, the certificate must also name host (RFC 6125,
	 * as GnuTLS checks it): a DNS name in its subjectAltName, or, when
	 * host is an IP address, that address as an IP subjectAltName. */
};

/* What the server offered in its EHLO reply; after STARTTLS, in the
 * second EHLO's, which replaces the first (RFC 3207 4.2): what a server
 * said in clear is not trusted. */
struct smtp_caps {
	gboolean	 esmtp;		/* EHLO accepted (else HELO was used) */
	gboolean	 eightbitmime;
	gboolean	 smtputf8;
	gboolean	 pipelining;
	gboolean	 starttls;
	gboolean	 has_size;
	guint64		 size_max;	/* 0 with has_size: no fixed limit */
};

struct smtp_envelope {
	const char	*mail_from;	/* addr-spec, may be "" (null path) */
	const char *const *rcpt;	/* addr-specs */
	gsize		 n_rcpt;
	gboolean	 eightbit;	/* body is 8bit: add BODY=8BITMIME */
	gboolean	 smtputf8;	/* addresses need SMTPUTF8 */
};

enum smtp_line_kind {
	SMTP_LINE_CLIENT,	/* a command we sent */
	SMTP_LINE_DATA,		/* a line of the message we sent */
	SMTP_LINE_SERVER,	/* a reply line we received */
	SMTP_LINE_NOTE,		/* our own remark: "connected to ...",
				 * "timed out after 2 s", "(42 more lines)" */
};

struct smtp_line {
	enum smtp_line_kind kind;
	gint64		 time_us;	/* g_get_real_time() when sent/read */
	gint64		 elapsed_us;	/* since smtp_session_open() */
	char		*text;		/* without CRLF; in lines of every
					 * kind, bytes that are not tab,
					 * printable ASCII or printable
					 * UTF-8 are replaced by '?' */
	gboolean	 tls;		/* sent or read inside TLS (every
					 * line after the "TLS started"
					 * note) */
};

/* Only the first lines of a message body are kept in the transcript. */
#define SMTP_TRANSCRIPT_DATA_LINES	200
/*
 * What a hostile server can make a session keep: the transcript shows
 * the server's lines up to this many octets in all, then says how many
 * lines of each reply it left out; a reply kept in the outcome or a
 * refusal is cut after this many octets.  Without them, 50 refused
 * recipients answered with 64 lines of 4 KB each made a 100 MB page.
 */
#define SMTP_TRANSCRIPT_SERVER_MAX	(64 * 1024)
#define SMTP_REPLY_TEXT_MAX		2048

struct smtp_refusal {
	char		*rcpt;		/* the recipient refused */
	int		 code;
	char		*reply;		/* the reply, as outcome->reply */
};

struct smtp_outcome {
	enum smtp_status status;	/* of the last step run (open or
					 * send; QUIT changes nothing) */
	int		 code;		/* last reply code; 0 if the last
					 * command got no reply */
	char		*reply;		/* last reply, NULL as for code: its
					 * full lines as received, codes
					 * included ("550 5.1.1 <x@y>: ..."),
					 * made printable as the transcript,
					 * joined by '\n', cut after
					 * SMTP_REPLY_TEXT_MAX octets */
	char		*queue_id;	/* from "250 ... queued as ID", or NULL */
	guint		 n_accepted;	/* recipients accepted (last send) */
	GPtrArray	*refused;	/* struct smtp_refusal * */
	GPtrArray	*transcript;	/* struct smtp_line * */
	gboolean	 tls;		/* the TLS handshake succeeded */
	gboolean	 tls_verified;	/* ... and the certificate checked
					 * out (FALSE with insecure) */
	char		*tls_untrusted;	/* with tls, not insecure and not
					 * tls_verified (AUTO): why the
					 * certificate was not trusted, as
					 * GnuTLS says it ("The certificate
					 * is NOT trusted. The certificate
					 * issuer is unknown"); else NULL */
	char		*tls_desc;	/* with tls, GnuTLS's description
					 * "(TLS1.3)-(ECDHE-X25519)-...",
					 * else NULL */
	char		*tls_error;	/* with SMTP_TLS_FAILED: why, in one
					 * sentence ("the server does not
					 * offer STARTTLS", "the server's
					 * certificate was not accepted for
					 * HOST: ..."); else NULL */
};

/*
 * The certificates that servers' must chain to, for every session that
 * is given it: a CA file's (PEM), read now, so before a privilege drop
 * (the file may be readable by root alone), else the system's trust
 * store, read at the first STARTTLS that needs it.  The GnuTLS
 * credentials are made once and shared: sessions only read them.  NULL
 * with *err if ca_file (not NULL) cannot be read or holds no
 * certificate.  Free it after the last session that uses it.
 */
struct smtp_trust	*smtp_trust_new(const char *ca_file, GError **err);
void			 smtp_trust_free(struct smtp_trust *);

struct smtp_session;

struct smtp_session	*smtp_session_new(const struct smtp_params *);
void			 smtp_session_free(struct smtp_session *);

/*
 * Connect, read the greeting, EHLO (HELO if EHLO is refused); then, as
 * params.tls says, STARTTLS, the TLS handshake and EHLO again inside
 * TLS.  SMTP_TLS_FAILED as described at enum smtp_tls_mode.
 */
enum smtp_status	 smtp_session_open(struct smtp_session *);

/* Valid after smtp_session_open() returned SMTP_OK. */
const struct smtp_caps	*smtp_session_caps(const struct smtp_session *);

/*
 * MAIL FROM (with SIZE=, BODY=8BITMIME, SMTPUTF8 when offered and
 * needed), one RCPT TO per recipient, DATA and the message.  The message
 * is the whole RFC 5322 text; line ends may be LF or CRLF, and the
 * session sends CRLF, dot-stuffed, ended by ".".  Sends when at least one
 * recipient was accepted; refused ones are listed in the outcome (but a
 * 421, the server closing, ends the session at once and is its reply).
 * SMTP_TOO_BIG is returned before MAIL when the message exceeds SIZE.
 * If the session is not ready (open failed, or a failure closed the
 * connection), returns SMTP_CONN_FAILED and changes nothing.  After a
 * refusal other than 421 the session stays ready: another send starts
 * with RSET if a transaction was left open.
 */
enum smtp_status	 smtp_session_send(struct smtp_session *,
			    const struct smtp_envelope *, GBytes *message);

/*
 * QUIT and close; harmless when not connected.  The reply is awaited for
 * command_timeout_ms, at most SMTP_QUIT_TIMEOUT_MS: by then the mail is
 * queued or not, and a server that ignores QUIT must not keep the user
 * waiting for a page that is already decided.
 */
#define SMTP_QUIT_TIMEOUT_MS	5000
void			 smtp_session_quit(struct smtp_session *);

const struct smtp_outcome *smtp_session_outcome(const struct smtp_session *);

/* Pure helpers, exposed for the unit tests. */

/*
 * Parse one reply line (CRLF removed).  On success sets *code (200..599),
 * *last (FALSE for "250-", TRUE for "250 " or a bare "250") and *text
 * (points into line, after the separator) and returns TRUE.
 */
gboolean	 smtp_reply_parse_line(const char *line, int *code,
		    gboolean *last, const char **text);

/*
 * Append the message to out as it goes on the wire after DATA: every line
 * ended by CRLF (bare LF or CR become CRLF), a line starting with "."
 * gets one more ".", a final CRLF is added if missing, then ".\r\n".
 */
void		 smtp_dot_stuff(GString *out, const char *data, gsize len);

/* Update caps from one EHLO keyword line ("SIZE 10240000", "8BITMIME"). */
void		 smtp_caps_parse_line(struct smtp_caps *, const char *text);

/*
 * TRUE if s is an address literal as RFC 5321 4.1.3 has them for a
 * domain or an EHLO argument: "[192.0.2.1]" or "[IPv6:2001:db8::1]".
 * General address literals ("[tag:...]") are refused: no tag but IPv6
 * is registered, and a server would refuse them.
 */
gboolean	 smtp_address_literal_ok(const char *s);

/* The queue id in a reply such as "2.0.0 Ok: queued as 1210F36E6C". */
char		*smtp_queue_id_from_reply(const char *text);
/* The same, found in text: where it starts (*len octets), or NULL. */
const char	*smtp_queue_id_find(const char *text, gsize *len);

const char	*smtp_status_str(enum smtp_status);

#endif
