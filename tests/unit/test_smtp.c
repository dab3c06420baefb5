/*
 * test_smtp - unit tests of the SMTP client (src/smtp.c).
 *
 * The pure helpers are checked against tables.  The session is checked
 * against a fake server: a thread that listens on an ephemeral loopback
 * port and plays a scripted dialogue, recording what the client sent.
 * cmocka's asserts must run on the main thread, so the fake server only
 * records; the test asserts once it has joined the thread.
 *
 * For STARTTLS the fake server turns TLS on in the middle of its script
 * with GnuTLS's server side, with a throwaway CA and server
 * certificates made in memory when the tests start (ECDSA P-256, quick
 * to make): no tool, no file but the CA's PEM for smtp_trust_new().
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "smtp.h"

/* Short, so that the timeout test is quick; long enough for a loaded
 * machine to answer a loopback connection. */
#define QUICK_MS	300
#define PATIENT_MS	5000

/* ---- pure helpers ---- */

struct parse_case {
	const char	*line;
	gboolean	 ok;
	int		 code;
	gboolean	 last;
	const char	*text;
};

static const struct parse_case parse_cases[] = {
	{ "250 OK", TRUE, 250, TRUE, "OK" },
	{ "250-PIPELINING", TRUE, 250, FALSE, "PIPELINING" },
	{ "220", TRUE, 220, TRUE, "" },
	{ "354 End data with <CR><LF>.<CR><LF>", TRUE, 354, TRUE,
	    "End data with <CR><LF>.<CR><LF>" },
	{ "550 5.1.1 <x@y>: Recipient address rejected", TRUE, 550, TRUE,
	    "5.1.1 <x@y>: Recipient address rejected" },
	{ "421-", TRUE, 421, FALSE, "" },
	{ "25", FALSE, 0, FALSE, NULL },
	{ "2500 x", FALSE, 0, FALSE, NULL },
	{ "600 x", FALSE, 0, FALSE, NULL },
	{ "199 x", FALSE, 0, FALSE, NULL },
	{ "260 x", FALSE, 0, FALSE, NULL },	/* 2nd digit 0..5 only */
	{ "abc", FALSE, 0, FALSE, NULL },
	{ "250x", FALSE, 0, FALSE, NULL },
	{ "25a OK", FALSE, 0, FALSE, NULL },
	{ " 250 OK", FALSE, 0, FALSE, NULL },
	{ "", FALSE, 0, FALSE, NULL },
};

/* smtp_reply_parse_line() on good and bad lines. */
static void
test_reply_parse_line(void **state)
{
	const struct parse_case	*c;
	const char		*text;
	gboolean		 last;
	gsize			 i;
	int			 code;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(parse_cases); i++) {
		c = &parse_cases[i];
		code = -1;
		last = -1;
		text = NULL;
		if (smtp_reply_parse_line(c->line, &code, &last, &text) !=
		    c->ok)
			fail_msg("\"%s\": expected %s", c->line,
			    c->ok ? "valid" : "invalid");
		if (!c->ok)
			continue;
		assert_int_equal(code, c->code);
		assert_int_equal(last, c->last);
		assert_string_equal(text, c->text);
	}
}

struct stuff_case {
	const char	*in;
	gsize		 inlen;		/* 0: strlen(in) */
	const char	*out;
	gsize		 outlen;	/* 0: strlen(out) */
};

static const struct stuff_case stuff_cases[] = {
	{ "", 0, ".\r\n", 0 },
	{ "a\r\n", 0, "a\r\n.\r\n", 0 },
	{ "a\n", 0, "a\r\n.\r\n", 0 },
	{ "a", 0, "a\r\n.\r\n", 0 },
	{ "a\nb", 0, "a\r\nb\r\n.\r\n", 0 },
	{ "a\rb\r", 0, "a\r\nb\r\n.\r\n", 0 },
	{ "a\r\r\nb\n\n", 0, "a\r\n\r\nb\r\n\r\n.\r\n", 0 },
	{ ".\n", 0, "..\r\n.\r\n", 0 },
	{ ".", 0, "..\r\n.\r\n", 0 },
	{ "..x\n.y\nz.\n", 0, "...x\r\n..y\r\nz.\r\n.\r\n", 0 },
	{ "a\r\n.\r\nb", 0, "a\r\n..\r\nb\r\n.\r\n", 0 },
	{ "\n", 0, "\r\n.\r\n", 0 },
	{ "a\0b\n", 4, "a\0b\r\n.\r\n", 8 },
};

/* smtp_dot_stuff(): dots, line ends, the missing last newline. */
static void
test_dot_stuff(void **state)
{
	const struct stuff_case	*c;
	GString			*out;
	gsize			 i, inlen, outlen;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(stuff_cases); i++) {
		c = &stuff_cases[i];
		inlen = c->inlen != 0 ? c->inlen : strlen(c->in);
		outlen = c->outlen != 0 ? c->outlen : strlen(c->out);
		out = g_string_new("prefix:");
		smtp_dot_stuff(out, c->in, inlen);
		assert_int_equal(out->len, 7 + outlen);
		assert_memory_equal(out->str, "prefix:", 7);
		if (memcmp(out->str + 7, c->out, outlen) != 0)
			fail_msg("case %zu: got \"%s\"", i,
			    g_strescape(out->str + 7, NULL));
		g_string_free(out, TRUE);
	}
}

struct caps_case {
	const char	*line;
	gboolean	 has_size;
	guint64		 size_max;
	gboolean	 eightbit, utf8, pipelining, starttls;
};

static const struct caps_case caps_cases[] = {
	{ "SIZE 10240000", TRUE, 10240000, FALSE, FALSE, FALSE, FALSE },
	{ "size 100", TRUE, 100, FALSE, FALSE, FALSE, FALSE },
	{ "SIZE", TRUE, 0, FALSE, FALSE, FALSE, FALSE },
	{ "SIZE abc", FALSE, 0, FALSE, FALSE, FALSE, FALSE },
	{ "SIZE 12x", FALSE, 0, FALSE, FALSE, FALSE, FALSE },
	{ "SIZE -5", FALSE, 0, FALSE, FALSE, FALSE, FALSE },
	{ "SIZE 99999999999999999999999", FALSE, 0, FALSE, FALSE, FALSE,
	    FALSE },
	{ "SIZE 18446744073709551615", TRUE, G_MAXUINT64, FALSE, FALSE,
	    FALSE, FALSE },
	{ "SIZEX 100", FALSE, 0, FALSE, FALSE, FALSE, FALSE },
	{ "8BITMIME", FALSE, 0, TRUE, FALSE, FALSE, FALSE },
	{ "8bitmime", FALSE, 0, TRUE, FALSE, FALSE, FALSE },
	{ "SMTPUTF8", FALSE, 0, FALSE, TRUE, FALSE, FALSE },
	{ "PIPELINING", FALSE, 0, FALSE, FALSE, TRUE, FALSE },
	{ "StartTLS", FALSE, 0, FALSE, FALSE, FALSE, TRUE },
	{ "STARTTLSX", FALSE, 0, FALSE, FALSE, FALSE, FALSE },
	{ "DSN", FALSE, 0, FALSE, FALSE, FALSE, FALSE },
	{ "AUTH PLAIN LOGIN", FALSE, 0, FALSE, FALSE, FALSE, FALSE },
	{ "", FALSE, 0, FALSE, FALSE, FALSE, FALSE },
};

/* smtp_caps_parse_line() on one keyword line at a time. */
static void
test_caps_parse_line(void **state)
{
	const struct caps_case	*c;
	struct smtp_caps	 caps;
	gsize			 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(caps_cases); i++) {
		c = &caps_cases[i];
		memset(&caps, 0, sizeof(caps));
		smtp_caps_parse_line(&caps, c->line);
		if (caps.has_size != c->has_size ||
		    caps.size_max != c->size_max ||
		    caps.eightbitmime != c->eightbit ||
		    caps.smtputf8 != c->utf8 ||
		    caps.pipelining != c->pipelining ||
		    caps.starttls != c->starttls || caps.esmtp)
			fail_msg("caps line \"%s\" parsed wrong", c->line);
	}
}

struct qid_case {
	const char	*reply;
	const char	*id;
};

static const struct qid_case qid_cases[] = {
	{ "2.0.0 Ok: queued as 1210F36E6C", "1210F36E6C" },
	{ "250 2.0.0 Ok: queued as 1210F36E6C", "1210F36E6C" },
	{ "Ok: Queued As   4XyZ09 thanks", "4XyZ09" },
	{ "queued as ABC123.", "ABC123" },
	{ "250-first\n250 ok queued as QQ1", "QQ1" },
	{ "2.0.0 Ok: queued as ", NULL },
	{ "2.0.0 Ok: queued as -", NULL },
	{ "2.0.0 Ok", NULL },
	{ "queued", NULL },
	{ "", NULL },
};

/* smtp_queue_id_from_reply(): the token after "queued as". */
static void
test_queue_id(void **state)
{
	char	*id;
	gsize	 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(qid_cases); i++) {
		id = smtp_queue_id_from_reply(qid_cases[i].reply);
		if (qid_cases[i].id == NULL) {
			if (id != NULL)
				fail_msg("\"%s\": got id %s",
				    qid_cases[i].reply, id);
		} else {
			assert_non_null(id);
			assert_string_equal(id, qid_cases[i].id);
		}
		g_free(id);
	}
	assert_null(smtp_queue_id_from_reply(NULL));
}

/* smtp_status_str(): a distinct word for each status. */
static void
test_status_str(void **state)
{
	GHashTable	*seen = g_hash_table_new(g_str_hash, g_str_equal);
	const char	*w;
	int		 st;

	(void)state;
	for (st = SMTP_OK; st <= SMTP_TLS_FAILED; st++) {
		w = smtp_status_str((enum smtp_status)st);
		assert_non_null(w);
		assert_string_not_equal(w, "unknown");
		assert_false(g_hash_table_contains(seen, w));
		g_hash_table_add(seen, (gpointer)w);
	}
	assert_string_equal(smtp_status_str(SMTP_OK), "ok");
	assert_string_equal(smtp_status_str(SMTP_TIMEOUT), "timed out");
	g_hash_table_unref(seen);
}

/* ---- the fake server ---- */

enum fake_op {
	F_END,
	F_SEND,		/* write arg as it is */
	F_RECV,		/* read one command line and record it */
	F_RECV_DATA,	/* read the message up to "." and record it raw */
	F_DRAIN,	/* read until the client closes */
	F_TLS,		/* the server side of the TLS handshake; the steps
			 * after it go through TLS */
	F_READ_SOME,	/* one read of what the client sent, dropped */
};

struct fake_step {
	enum fake_op	 op;
	const char	*arg;
	gsize		 len;	/* of arg for F_SEND; 0: strlen(arg) */
};

struct fake {
	int			 lfd;
	char			 port[8];
	const struct fake_step	*script;
	GThread			*thread;
	GPtrArray		*got;	/* command lines, CRLF removed */
	GString			*data;	/* the message as received */
	gboolean		 eof;	/* the client closed first */
	gnutls_certificate_credentials_t cred;	/* for F_TLS */
	gnutls_session_t	 tls;	/* after F_TLS */
	int			 tls_rc;	/* of the server's handshake */
};

/* Read from the client, in clear or through TLS (the socket blocks, with
 * a receive timeout): a count, 0 at end of file, -1 on error. */
static gssize
fake_recv(struct fake *f, int fd, void *buf, gsize len)
{
	gssize	n;

	if (f->tls == NULL)
		return recv(fd, buf, len, 0);
	do
		n = gnutls_record_recv(f->tls, buf, len);
	while (n == GNUTLS_E_INTERRUPTED);
	if (n == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;
	return n < 0 ? -1 : n;
}

/* Read one line, CRLF kept, byte by byte (the fake is not fast, only
 * simple); NULL at end of file or after 5 s of silence. */
static GString *
fake_line(struct fake *f, int fd)
{
	GString	*line = g_string_new(NULL);
	char	 ch;
	ssize_t	 n;

	for (;;) {
		n = fake_recv(f, fd, &ch, 1);
		if (n == 1) {
			g_string_append_c(line, ch);
			if (ch == '\n')
				return line;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0)
			f->eof = TRUE;
		g_string_free(line, TRUE);
		return NULL;
	}
}

/* Write len bytes of s to the client. */
static void
fake_send(struct fake *f, int fd, const char *s, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if (f->tls != NULL)
			n = gnutls_record_send(f->tls, s, len);
		else
			n = send(fd, s, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

/* The server side of the handshake; FALSE if it failed (f->tls_rc). */
static gboolean
fake_tls(struct fake *f, int fd)
{
	int	rc;

	if ((rc = gnutls_init(&f->tls, GNUTLS_SERVER | GNUTLS_NO_SIGNAL)) < 0) {
		f->tls = NULL;
		f->tls_rc = rc;
		return FALSE;
	}
	gnutls_set_default_priority(f->tls);
	gnutls_credentials_set(f->tls, GNUTLS_CRD_CERTIFICATE, f->cred);
	gnutls_transport_set_int(f->tls, fd);
	/* The socket blocks (with SO_RCVTIMEO): only warnings loop. */
	do
		rc = gnutls_handshake(f->tls);
	while (rc < 0 && rc != GNUTLS_E_AGAIN && !gnutls_error_is_fatal(rc));
	f->tls_rc = rc;
	return rc == GNUTLS_E_SUCCESS;
}

/* The server thread: accept one client and play the script. */
static gpointer
fake_run(gpointer arg)
{
	struct fake		*f = arg;
	const struct fake_step	*step;
	struct pollfd		 pfd = { f->lfd, POLLIN, 0 };
	struct timeval		 tv = { 5, 0 };
	GString			*line;
	char			 buf[512];
	int			 fd;

	if (poll(&pfd, 1, PATIENT_MS) != 1)
		return NULL;
	if ((fd = accept(f->lfd, NULL, NULL)) == -1)
		return NULL;
	/* Never hang a test run on a client that went quiet. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (step = f->script; step->op != F_END; step++) {
		switch (step->op) {
		case F_SEND:
			fake_send(f, fd, step->arg, step->len != 0 ?
			    step->len : strlen(step->arg));
			break;
		case F_RECV:
			if ((line = fake_line(f, fd)) == NULL)
				goto done;
			g_string_truncate(line, line->len - 1);
			if (line->len > 0 && line->str[line->len - 1] == '\r')
				g_string_truncate(line, line->len - 1);
			g_ptr_array_add(f->got, g_string_free(line, FALSE));
			break;
		case F_RECV_DATA:
			while ((line = fake_line(f, fd)) != NULL) {
				g_string_append_len(f->data, line->str,
				    (gssize)line->len);
				if (strcmp(line->str, ".\r\n") == 0) {
					g_string_free(line, TRUE);
					break;
				}
				g_string_free(line, TRUE);
			}
			break;
		case F_DRAIN:
			while (fake_recv(f, fd, buf, sizeof(buf)) > 0)
				;
			f->eof = TRUE;
			break;
		case F_TLS:
			if (!fake_tls(f, fd))
				goto done;
			break;
		case F_READ_SOME:
			if (fake_recv(f, fd, buf, sizeof(buf)) <= 0)
				goto done;
			break;
		case F_END:
			break;
		}
	}
done:
	if (f->tls != NULL)
		gnutls_deinit(f->tls);
	f->tls = NULL;
	close(fd);
	return NULL;
}

/* Start a fake server on an ephemeral port of a loopback address, with
 * cred for F_TLS; NULL if the address cannot be bound (no IPv6 here). */
static struct fake *
fake_start_cred(int family, const struct fake_step *script,
    gnutls_certificate_credentials_t cred)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 len;
	struct fake		*f;
	int			 fd, port;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof(*sin6);
	}
	if ((fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return NULL;
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, 4) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		close(fd);
		return NULL;
	}
	port = ntohs(family == AF_INET ? sin->sin_port : sin6->sin6_port);
	f = g_new0(struct fake, 1);
	f->lfd = fd;
	g_snprintf(f->port, sizeof(f->port), "%d", port);
	f->script = script;
	f->cred = cred;
	f->got = g_ptr_array_new_with_free_func(g_free);
	f->data = g_string_new(NULL);
	f->thread = g_thread_new("fake-smtp", fake_run, f);
	return f;
}

/* Start a fake server without TLS on a loopback address. */
static struct fake *
fake_start_on(int family, const struct fake_step *script)
{
	return fake_start_cred(family, script, NULL);
}

/* Start a fake server on 127.0.0.1. */
static struct fake *
fake_start(const struct fake_step *script)
{
	struct fake	*f = fake_start_on(AF_INET, script);

	assert_non_null(f);
	return f;
}

/* Wait for the server thread to end and stop listening. */
static void
fake_join(struct fake *f)
{
	if (f->thread != NULL)
		g_thread_join(f->thread);
	f->thread = NULL;
	if (f->lfd != -1)
		close(f->lfd);
	f->lfd = -1;
}

/* Free a joined fake server. */
static void
fake_free(struct fake *f)
{
	fake_join(f);
	g_ptr_array_unref(f->got);
	g_string_free(f->data, TRUE);
	g_free(f);
}

/* Assert that the server received exactly these command lines. */
static void
assert_got(const struct fake *f, const char *const *want)
{
	guint	i;

	for (i = 0; want[i] != NULL; i++) {
		if (i >= f->got->len)
			fail_msg("server got %u lines, wanted \"%s\" next",
			    f->got->len, want[i]);
		assert_string_equal(g_ptr_array_index(f->got, i), want[i]);
	}
	assert_int_equal(f->got->len, i);
}

/* ---- sessions ---- */

static const char *const rcpt_root[] = { "root@mail181.com" };
static const char *const rcpt_two[] = { "nobody@mail181.com",
    "root@mail181.com" };

static const struct smtp_envelope env_root = {
	"darth@starwars.univ", rcpt_root, 1, FALSE, FALSE
};
static const struct smtp_envelope env_two = {
	"darth@starwars.univ", rcpt_two, 2, FALSE, FALSE
};

static const char lab_msg[] =
    "Subject: lab\n"
    "\n"
    "NAME1, NAME2, secret, 181\n"
    ".hidden line\n";

static const char lab_wire[] =
    "Subject: lab\r\n"
    "\r\n"
    "NAME1, NAME2, secret, 181\r\n"
    "..hidden line\r\n"
    ".\r\n";

#define GREET		{ F_SEND, "220 fake ESMTP\r\n", 0 }
#define EHLO_POSTFIX	{ F_RECV, NULL, 0 }, { F_SEND, "250-fake\r\n" \
    "250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n" \
    "250 SMTPUTF8\r\n", 0 }
#define OK_250		{ F_SEND, "250 2.1.0 Ok\r\n", 0 }
#define QUIT_221	{ F_RECV, NULL, 0 }, { F_SEND, "221 2.0.0 Bye\r\n", 0 }
/* MAIL FROM, one RCPT TO and DATA accepted, then the message read. */
#define UP_TO_DATA	{ F_RECV, NULL, 0 }, OK_250, \
			{ F_RECV, NULL, 0 }, OK_250, \
			{ F_RECV, NULL, 0 }, { F_SEND, "354 go\r\n", 0 }, \
			{ F_RECV_DATA, NULL, 0 }
/* ... and accepted. */
#define MAIL_ACCEPTED	UP_TO_DATA, { F_SEND, "250 ok\r\n", 0 }

/* Open, send (when open succeeded) and quit against a fake server, with
 * the TLS settings of tls (NULL: the defaults, STARTTLS when offered). */
static struct smtp_session *
run_tls(struct fake *f, const struct smtp_params *tls,
    const struct smtp_envelope *env, const char *msg, guint timeout_ms,
    enum smtp_status *open_st, enum smtp_status *send_st)
{
	struct smtp_params	 p;
	struct smtp_session	*s;
	GBytes			*bytes;

	memset(&p, 0, sizeof(p));
	if (tls != NULL) {
		p.tls = tls->tls;
		p.trust = tls->trust;
		p.insecure = tls->insecure;
	}
	p.host = "127.0.0.1";
	p.port = f->port;
	p.connect_timeout_ms = PATIENT_MS;
	p.command_timeout_ms = timeout_ms;
	p.data_timeout_ms = timeout_ms;
	s = smtp_session_new(&p);
	*open_st = smtp_session_open(s);
	*send_st = SMTP_CONN_FAILED;	/* as send says when not open */
	if (*open_st == SMTP_OK) {
		bytes = g_bytes_new(msg, strlen(msg));
		*send_st = smtp_session_send(s, env, bytes);
		g_bytes_unref(bytes);
	}
	smtp_session_quit(s);
	fake_join(f);
	return s;
}

/* Open, send and quit with the default settings. */
static struct smtp_session *
run(struct fake *f, const struct smtp_envelope *env, const char *msg,
    guint timeout_ms, enum smtp_status *open_st, enum smtp_status *send_st)
{
	return run_tls(f, NULL, env, msg, timeout_ms, open_st, send_st);
}

/* The transcript's kinds, one letter a line: N, C, S, D. */
static char *
kinds(const struct smtp_session *s)
{
	const struct smtp_outcome	*o = smtp_session_outcome(s);
	const struct smtp_line		*l;
	GString				*out = g_string_new(NULL);
	guint				 i;

	for (i = 0; i < o->transcript->len; i++) {
		l = g_ptr_array_index(o->transcript, i);
		g_string_append_c(out, "CDSN"[l->kind]);
	}
	return g_string_free(out, FALSE);
}

/* Whether the transcript has a line of this kind and text. */
static gboolean
has_line(const struct smtp_session *s, enum smtp_line_kind kind,
    const char *text)
{
	const struct smtp_outcome	*o = smtp_session_outcome(s);
	const struct smtp_line		*l;
	guint				 i;

	for (i = 0; i < o->transcript->len; i++) {
		l = g_ptr_array_index(o->transcript, i);
		if (l->kind == kind && strcmp(l->text, text) == 0)
			return TRUE;
	}
	return FALSE;
}

/* Assert the transcript's kinds, and free what kinds() made. */
static void
assert_kinds(const struct smtp_session *s, const char *want)
{
	char	*got = kinds(s);

	assert_string_equal(got, want);
	g_free(got);
}

/* The whole lab dialogue, as the guide shows it with nc. */
static void
test_session_ok(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_POSTFIX,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, "250 2.1.5 Ok\r\n", 0 },
		{ F_RECV, NULL, 0 },
		{ F_SEND, "354 End data with <CR><LF>.<CR><LF>\r\n", 0 },
		{ F_RECV_DATA, NULL, 0 },
		{ F_SEND, "250 2.0.0 Ok: queued as 1210F36E6C\r\n", 0 },
		QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const want[] = {
		"EHLO [127.0.0.1]",
		"MAIL FROM:<darth@starwars.univ> SIZE=57",
		"RCPT TO:<root@mail181.com>",
		"DATA",
		"QUIT",
		NULL
	};
	struct fake			*f = fake_start(script);
	struct smtp_session		*s;
	const struct smtp_outcome	*o;
	const struct smtp_caps		*caps;
	const struct smtp_line		*l, *prev;
	enum smtp_status		 ost, sst;
	char				*note;
	guint				 i;

	(void)state;
	s = run(f, &env_root, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_OK);
	assert_int_equal(sst, SMTP_OK);
	assert_got(f, want);
	assert_int_equal(f->data->len, strlen(lab_wire));
	assert_string_equal(f->data->str, lab_wire);

	caps = smtp_session_caps(s);
	assert_true(caps->esmtp);
	assert_true(caps->pipelining);
	assert_true(caps->has_size);
	assert_true(caps->size_max == 10240000);
	assert_true(caps->eightbitmime);
	assert_true(caps->smtputf8);
	assert_false(caps->starttls);

	o = smtp_session_outcome(s);
	assert_int_equal(o->status, SMTP_OK);
	assert_int_equal(o->code, 250);
	assert_string_equal(o->reply, "250 2.0.0 Ok: queued as 1210F36E6C");
	assert_string_equal(o->queue_id, "1210F36E6C");
	assert_int_equal(o->n_accepted, 1);
	assert_int_equal(o->refused->len, 0);
	/* connecting, connected, 220, EHLO + 5 lines, MAIL, RCPT, DATA,
	 * 4 message lines, ".", 250, QUIT, 221 */
	assert_kinds(s, "NNSCSSSSSCSCSCSDDDDCSCS");
	note = g_strdup_printf("connecting to 127.0.0.1 port %s", f->port);
	assert_true(has_line(s, SMTP_LINE_NOTE, note));
	g_free(note);
	note = g_strdup_printf("connected to 127.0.0.1 port %s", f->port);
	assert_true(has_line(s, SMTP_LINE_NOTE, note));
	g_free(note);
	assert_true(has_line(s, SMTP_LINE_DATA, "..hidden line"));
	assert_true(has_line(s, SMTP_LINE_DATA, ""));
	assert_true(has_line(s, SMTP_LINE_CLIENT, "."));
	assert_true(has_line(s, SMTP_LINE_SERVER, "221 2.0.0 Bye"));
	for (i = 1; i < o->transcript->len; i++) {
		prev = g_ptr_array_index(o->transcript, i - 1);
		l = g_ptr_array_index(o->transcript, i);
		assert_true(l->elapsed_us >= prev->elapsed_us);
		assert_true(l->time_us > 0);
		assert_true(l->elapsed_us >= 0 && l->elapsed_us < 5000000);
	}
	smtp_session_free(s);
	fake_free(f);
}

/* Multi-line replies everywhere, some lines ended by a bare LF. */
static void
test_session_multiline(void **state)
{
	static const struct fake_step script[] = {
		{ F_SEND, "220-fake.example ESMTP\n220-welcome\r\n"
		    "220 go\n", 0 },
		{ F_RECV, NULL, 0 },
		/* The last line a bare code: no keyword, no separator. */
		{ F_SEND, "250-fake\r\n250-size 1000\n250-STARTTLS\r\n"
		    "250\r\n", 0 },
		{ F_RECV, NULL, 0 },
		{ F_SEND, "250-2.1.0 one\r\n250 2.1.0 Ok\r\n", 0 },
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, "354-go\r\n354 on\r\n", 0 },
		{ F_RECV_DATA, NULL, 0 },
		{ F_SEND, "250-2.0.0 all\r\n"
		    "250 2.0.0 Ok: queued as MULTI42\r\n", 0 },
		QUIT_221, { F_END, NULL, 0 }
	};
	static const struct smtp_params off = { .tls = SMTP_TLS_OFF };
	struct fake			*f = fake_start(script);
	struct smtp_session		*s;
	const struct smtp_outcome	*o;
	const struct smtp_caps		*caps;
	enum smtp_status		 ost, sst;

	(void)state;
	/* STARTTLS is offered: with TLS off, noted but not used. */
	s = run_tls(f, &off, &env_root, "hi", PATIENT_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_OK);
	assert_int_equal(sst, SMTP_OK);
	assert_true(has_line(s, SMTP_LINE_NOTE, "the server offers STARTTLS; "
	    "not used, as TLS is off"));
	assert_false(smtp_session_outcome(s)->tls);
	caps = smtp_session_caps(s);
	assert_true(caps->has_size && caps->size_max == 1000);
	assert_true(caps->starttls);
	assert_false(caps->pipelining);
	o = smtp_session_outcome(s);
	assert_string_equal(o->reply,
	    "250-2.0.0 all\n250 2.0.0 Ok: queued as MULTI42");
	assert_string_equal(o->queue_id, "MULTI42");
	assert_true(has_line(s, SMTP_LINE_SERVER, "220-welcome"));
	assert_string_equal(f->data->str, "hi\r\n.\r\n");
	smtp_session_free(s);
	fake_free(f);
}

/* EHLO refused with 500: HELO, and no ESMTP parameters after it. */
static void
test_session_helo(void **state)
{
	static const struct fake_step script[] = {
		GREET,
		{ F_RECV, NULL, 0 },
		{ F_SEND, "500 5.5.2 Error: command not recognized\r\n", 0 },
		{ F_RECV, NULL, 0 }, { F_SEND, "250 fake\r\n", 0 },
		MAIL_ACCEPTED,
		QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const want[] = {
		"EHLO [127.0.0.1]", "HELO [127.0.0.1]",
		"MAIL FROM:<darth@starwars.univ>", "RCPT TO:<root@mail181.com>",
		"DATA", "QUIT", NULL
	};
	struct fake		*f = fake_start(script);
	struct smtp_session	*s;
	enum smtp_status	 ost, sst;

	(void)state;
	s = run(f, &env_root, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_OK);
	assert_int_equal(sst, SMTP_OK);
	assert_got(f, want);
	assert_false(smtp_session_caps(s)->esmtp);
	assert_false(smtp_session_caps(s)->has_size);
	assert_null(smtp_session_outcome(s)->queue_id);
	smtp_session_free(s);
	fake_free(f);
}

/* A 421 greeting: refused, the reply kept, and no QUIT: the server
 * is closing the connection. */
static void
test_session_greet421(void **state)
{
	static const struct fake_step script[] = {
		{ F_SEND, "421 4.3.2 Service shutting down\r\n", 0 },
		{ F_RECV, NULL, 0 }, { F_END, NULL, 0 }
	};
	static const char *const want[] = { NULL };
	struct fake			*f = fake_start(script);
	struct smtp_session		*s;
	const struct smtp_outcome	*o;
	enum smtp_status		 ost, sst;
	GBytes				*b;

	(void)state;
	s = run(f, &env_root, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_REFUSED);
	assert_got(f, want);
	o = smtp_session_outcome(s);
	assert_int_equal(o->status, SMTP_REFUSED);
	assert_int_equal(o->code, 421);
	assert_string_equal(o->reply, "421 4.3.2 Service shutting down");
	/* Sending on a session that is not open does nothing. */
	b = g_bytes_new_static("x", 1);
	assert_int_equal(smtp_session_send(s, &env_root, b), SMTP_CONN_FAILED);
	g_bytes_unref(b);
	assert_int_equal(o->status, SMTP_REFUSED);
	assert_int_equal(o->code, 421);
	smtp_session_free(s);
	fake_free(f);
}

#define RCPT_550 "550 5.1.1 <nobody@mail181.com>: Recipient address " \
    "rejected: User unknown in local recipient table"

/* One of two recipients refused: the mail goes to the other. */
static void
test_session_rcpt_one_refused(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_POSTFIX,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, RCPT_550 "\r\n", 0 },
		{ F_RECV, NULL, 0 }, { F_SEND, "250 2.1.5 Ok\r\n", 0 },
		{ F_RECV, NULL, 0 }, { F_SEND, "354 go\r\n", 0 },
		{ F_RECV_DATA, NULL, 0 },
		{ F_SEND, "250 2.0.0 Ok: queued as 9A\r\n", 0 },
		QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const want[] = {
		"EHLO [127.0.0.1]", "MAIL FROM:<darth@starwars.univ> SIZE=57",
		"RCPT TO:<nobody@mail181.com>", "RCPT TO:<root@mail181.com>",
		"DATA", "QUIT", NULL
	};
	struct fake			*f = fake_start(script);
	struct smtp_session		*s;
	const struct smtp_outcome	*o;
	const struct smtp_refusal	*r;
	enum smtp_status		 ost, sst;

	(void)state;
	s = run(f, &env_two, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(sst, SMTP_OK);
	assert_got(f, want);
	assert_string_equal(f->data->str, lab_wire);
	o = smtp_session_outcome(s);
	assert_int_equal(o->n_accepted, 1);
	assert_int_equal(o->refused->len, 1);
	r = g_ptr_array_index(o->refused, 0);
	assert_string_equal(r->rcpt, "nobody@mail181.com");
	assert_int_equal(r->code, 550);
	assert_string_equal(r->reply, RCPT_550);
	assert_string_equal(o->queue_id, "9A");
	smtp_session_free(s);
	fake_free(f);
}

/* A 421 to a RCPT ends the session there: no more commands go to a
 * server that is closing, and the 421 is the reply shown, not one
 * recipient's refusal. */
static void
test_session_rcpt421(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_POSTFIX,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 },
		{ F_SEND, "421 4.3.0 shutting down\r\n", 0 },
		{ F_RECV, NULL, 0 }, { F_END, NULL, 0 }
	};
	static const char *const want[] = {
		"EHLO [127.0.0.1]", "MAIL FROM:<darth@starwars.univ> SIZE=57",
		"RCPT TO:<nobody@mail181.com>", NULL
	};
	struct fake			*f = fake_start(script);
	struct smtp_session		*s;
	const struct smtp_outcome	*o;
	enum smtp_status		 ost, sst;

	(void)state;
	s = run(f, &env_two, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_OK);
	assert_int_equal(sst, SMTP_REFUSED);
	assert_got(f, want);
	o = smtp_session_outcome(s);
	assert_int_equal(o->code, 421);
	assert_string_equal(o->reply, "421 4.3.0 shutting down");
	assert_int_equal(o->refused->len, 0);
	assert_int_equal(o->n_accepted, 0);
	assert_true(has_line(s, SMTP_LINE_NOTE,
	    "the server is closing the connection"));
	smtp_session_free(s);
	fake_free(f);
}

/* A reply that comes with the 354, before the message was sent, must
 * not pass for the reply to the message. */
static void
test_session_reply_before_message(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_POSTFIX,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 },
		{ F_SEND, "354 go\r\n250 2.0.0 Ok: queued as FAKE\r\n", 0 },
		{ F_RECV, NULL, 0 }, { F_END, NULL, 0 }
	};
	static const char *const want[] = {
		"EHLO [127.0.0.1]", "MAIL FROM:<darth@starwars.univ> SIZE=57",
		"RCPT TO:<root@mail181.com>", "DATA", NULL
	};
	struct fake			*f = fake_start(script);
	struct smtp_session		*s;
	enum smtp_status		 ost, sst;

	(void)state;
	s = run(f, &env_root, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(sst, SMTP_PROTOCOL);
	assert_got(f, want);
	assert_null(smtp_session_outcome(s)->queue_id);
	assert_true(has_line(s, SMTP_LINE_NOTE,
	    "the server sent data out of turn"));
	/* What it sent shows, as the line it is. */
	assert_true(has_line(s, SMTP_LINE_SERVER,
	    "250 2.0.0 Ok: queued as FAKE"));
	smtp_session_free(s);
	fake_free(f);
}

/* Bytes out of turn are shown within bounds: 4,000 bare line ends do
 * not make 4,000 rows. */
static void
test_session_out_of_turn_bounded(void **state)
{
	static char		 flood[4096];
	struct fake_step	 script[] = {
		GREET, EHLO_POSTFIX,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, flood, 0 },
		{ F_RECV, NULL, 0 }, { F_END, NULL, 0 }
	};
	struct fake		*f;
	struct smtp_session	*s;
	enum smtp_status	 ost, sst;

	(void)state;
	memset(flood, '\n', sizeof(flood) - 1);
	memcpy(flood, "354 go\r\n250 ok\r\n", 16);
	f = fake_start(script);
	s = run(f, &env_root, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(sst, SMTP_PROTOCOL);
	assert_true(has_line(s, SMTP_LINE_SERVER, "250 ok"));
	assert_true(smtp_session_outcome(s)->transcript->len <
	    30 + SMTP_REPLY_LINES_MAX);
	smtp_session_free(s);
	fake_free(f);
}

/* Every recipient refused: no DATA, refused, then QUIT. */
static void
test_session_rcpt_all_refused(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_POSTFIX,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, RCPT_550 "\r\n", 0 },
		{ F_RECV, NULL, 0 }, { F_SEND, "450 4.2.0 try later\r\n", 0 },
		QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const want[] = {
		"EHLO [127.0.0.1]", "MAIL FROM:<darth@starwars.univ> SIZE=57",
		"RCPT TO:<nobody@mail181.com>", "RCPT TO:<root@mail181.com>",
		"QUIT", NULL
	};
	struct fake			*f = fake_start(script);
	struct smtp_session		*s;
	const struct smtp_outcome	*o;
	const struct smtp_refusal	*r;
	enum smtp_status		 ost, sst;

	(void)state;
	s = run(f, &env_two, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(sst, SMTP_REFUSED);
	assert_got(f, want);
	assert_int_equal(f->data->len, 0);
	o = smtp_session_outcome(s);
	assert_int_equal(o->status, SMTP_REFUSED);
	assert_int_equal(o->n_accepted, 0);
	assert_int_equal(o->refused->len, 2);
	r = g_ptr_array_index(o->refused, 1);
	assert_string_equal(r->rcpt, "root@mail181.com");
	assert_int_equal(r->code, 450);
	assert_int_equal(o->code, 450);
	assert_string_equal(o->reply, "450 4.2.0 try later");
	assert_null(o->queue_id);
	smtp_session_free(s);
	fake_free(f);
}

/* Refused after the message: the outcome says why, no queue id. */
static void
test_session_data552(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_POSTFIX,
		UP_TO_DATA,
		{ F_SEND, "552 5.3.4 Message too big\r\n", 0 },
		QUIT_221, { F_END, NULL, 0 }
	};
	struct fake			*f = fake_start(script);
	struct smtp_session		*s;
	const struct smtp_outcome	*o;
	enum smtp_status		 ost, sst;

	(void)state;
	s = run(f, &env_root, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(sst, SMTP_REFUSED);
	o = smtp_session_outcome(s);
	assert_int_equal(o->code, 552);
	assert_string_equal(o->reply, "552 5.3.4 Message too big");
	assert_null(o->queue_id);
	assert_int_equal(o->n_accepted, 1);
	assert_string_equal(f->data->str, lab_wire);
	/* The connection was still good: QUIT went out. */
	assert_string_equal(g_ptr_array_index(f->got, f->got->len - 1),
	    "QUIT");
	smtp_session_free(s);
	fake_free(f);
}

/* The server hangs up instead of answering MAIL. */
static void
test_session_closed(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_POSTFIX, { F_RECV, NULL, 0 }, { F_END, NULL, 0 }
	};
	static const char *const want[] = {
		"EHLO [127.0.0.1]", "MAIL FROM:<darth@starwars.univ> SIZE=57",
		NULL
	};
	struct fake			*f = fake_start(script);
	struct smtp_session		*s;
	const struct smtp_outcome	*o;
	enum smtp_status		 ost, sst;

	(void)state;
	s = run(f, &env_root, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_OK);
	assert_int_equal(sst, SMTP_CONN_FAILED);
	assert_got(f, want);
	o = smtp_session_outcome(s);
	assert_int_equal(o->status, SMTP_CONN_FAILED);
	/* EHLO's 250 must not pass for the reply to MAIL. */
	assert_int_equal(o->code, 0);
	assert_null(o->reply);
	assert_true(has_line(s, SMTP_LINE_NOTE,
	    "connection closed by the server"));
	/* Nothing after the note: no QUIT on a dead connection. */
	assert_kinds(s, "NNSCSSSSSCN");
	smtp_session_free(s);
	fake_free(f);
}

/* A server that never speaks: a timeout, in about the time asked. */
static void
test_session_silent(void **state)
{
	static const struct fake_step script[] = {
		{ F_DRAIN, NULL, 0 }, { F_END, NULL, 0 }
	};
	struct fake			*f = fake_start(script);
	struct smtp_session		*s;
	const struct smtp_outcome	*o;
	const struct smtp_line		*l;
	enum smtp_status		 ost, sst;

	(void)state;
	s = run(f, &env_root, lab_msg, QUICK_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_TIMEOUT);
	assert_true(f->eof);
	o = smtp_session_outcome(s);
	assert_int_equal(o->status, SMTP_TIMEOUT);
	assert_int_equal(o->code, 0);
	assert_null(o->reply);
	assert_kinds(s, "NNN");
	l = g_ptr_array_index(o->transcript, 2);
	assert_string_equal(l->text, "no reply within 0.3 s");
	assert_true(l->elapsed_us >= QUICK_MS * 1000);
	assert_true(l->elapsed_us < PATIENT_MS * 1000);
	smtp_session_free(s);
	fake_free(f);
}

/* Silence after the message: the data timeout applies. */
static void
test_session_silent_after_data(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_POSTFIX,
		UP_TO_DATA, { F_DRAIN, NULL, 0 },
		{ F_END, NULL, 0 }
	};
	struct fake		*f = fake_start(script);
	struct smtp_session	*s;
	enum smtp_status	 ost, sst;

	(void)state;
	s = run(f, &env_root, lab_msg, QUICK_MS, &ost, &sst);
	assert_int_equal(sst, SMTP_TIMEOUT);
	assert_string_equal(f->data->str, lab_wire);
	assert_true(has_line(s, SMTP_LINE_NOTE, "no reply within 0.3 s"));
	assert_null(smtp_session_outcome(s)->queue_id);
	assert_int_equal(smtp_session_outcome(s)->code, 0);
	smtp_session_free(s);
	fake_free(f);
}

/* A message over the server's SIZE is not even offered (MAIL). */
static void
test_session_too_big(void **state)
{
	static const struct fake_step script[] = {
		GREET,
		{ F_RECV, NULL, 0 },
		{ F_SEND, "250-fake\r\n250 SIZE 100\r\n", 0 },
		QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const want[] = { "EHLO [127.0.0.1]", "QUIT", NULL };
	struct fake		*f = fake_start(script);
	struct smtp_session	*s;
	enum smtp_status	 ost, sst;
	char			*msg;

	(void)state;
	/* 100 bytes with its CRLF would fit; 101 do not. */
	msg = g_strnfill(99, 'x');
	s = run(f, &env_root, msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_OK);
	assert_int_equal(sst, SMTP_TOO_BIG);
	assert_got(f, want);
	assert_int_equal(smtp_session_outcome(s)->status, SMTP_TOO_BIG);
	assert_int_equal(smtp_session_outcome(s)->code, 0);
	assert_true(has_line(s, SMTP_LINE_NOTE, "the message (101 bytes) is "
	    "larger than the server accepts (SIZE 100)"));
	smtp_session_free(s);
	fake_free(f);
	g_free(msg);
}

/* A message exactly at the server's SIZE goes through. */
static void
test_session_size_exact(void **state)
{
	static const struct fake_step script[] = {
		GREET,
		{ F_RECV, NULL, 0 },
		{ F_SEND, "250-fake\r\n250 SIZE 100\r\n", 0 },
		MAIL_ACCEPTED,
		QUIT_221, { F_END, NULL, 0 }
	};
	struct fake		*f = fake_start(script);
	struct smtp_session	*s;
	enum smtp_status	 ost, sst;
	char			*a, *b, *msg;

	(void)state;
	/* Two lines of 48 bytes, the second one starting with a dot that
	 * SIZE does not count: 48 + 2 + 48 + 2 = 100 */
	a = g_strnfill(48, 'a');
	b = g_strnfill(47, 'b');
	msg = g_strdup_printf("%s\n.%s", a, b);
	g_free(a);
	g_free(b);
	s = run(f, &env_root, msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(sst, SMTP_OK);
	assert_string_equal(g_ptr_array_index(f->got, 1),
	    "MAIL FROM:<darth@starwars.univ> SIZE=100");
	smtp_session_free(s);
	fake_free(f);
	g_free(msg);
}


/* Play a greeting; unless hangup, answer EHLO and QUIT after it. */
static struct smtp_session *
greet_run(const char *greeting, gsize len, gboolean hangup,
    enum smtp_status *ost)
{
	struct fake_step	 script[] = {
		{ F_SEND, greeting, len },
		{ F_RECV, NULL, 0 }, { F_SEND, "250 fake\r\n", 0 },
		QUIT_221, { F_END, NULL, 0 }
	};
	struct fake		*f;
	struct smtp_session	*s;
	enum smtp_status	 sst;

	if (hangup)
		script[1].op = F_END;
	f = fake_start(script);
	s = run(f, &env_root, lab_msg, PATIENT_MS, ost, &sst);
	fake_free(f);
	return s;
}

struct greet_case {
	const char		*greeting;
	gsize			 len;
	gboolean		 hangup;
	enum smtp_status	 want;
	const char		*note;
};

static const struct greet_case greet_cases[] = {
	{ "hello there\r\n", 0, FALSE, SMTP_PROTOCOL, "malformed reply line" },
	{ "220-a\r\n221 b\r\n", 0, FALSE, SMTP_PROTOCOL,
	    "reply lines carry different codes (220, 221)" },
	{ "220-a\r\n220b\r\n", 0, FALSE, SMTP_PROTOCOL,
	    "malformed reply line" },
	{ "220 a\0b\r\n", 9, FALSE, SMTP_PROTOCOL, "malformed reply line" },
	{ "250 hello\r\n", 0, FALSE, SMTP_PROTOCOL,
	    "unexpected reply 250 to the greeting" },
	{ "554 5.7.1 go away\r\n", 0, FALSE, SMTP_REFUSED, NULL },
	{ "220-a\r\n220-b\r\n22", 0, TRUE, SMTP_CONN_FAILED,
	    "connection closed by the server" },
	{ "", 0, TRUE, SMTP_CONN_FAILED, "connection closed by the server" },
	/* Early talker: the server answers EHLO before it is asked. */
	{ "220 hi\r\n250 early\r\n", 0, FALSE, SMTP_PROTOCOL,
	    "the server sent data out of turn" },
	{ "220 fine\r\n", 0, FALSE, SMTP_OK, NULL },
};

/* Greetings that are fine, refused or break the protocol. */
static void
test_session_greetings(void **state)
{
	const struct greet_case	*c;
	struct smtp_session	*s;
	enum smtp_status	 ost;
	gsize			 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(greet_cases); i++) {
		c = &greet_cases[i];
		s = greet_run(c->greeting, c->len, c->hangup, &ost);
		if (ost != c->want)
			fail_msg("greeting %zu: status %s", i,
			    smtp_status_str(ost));
		if (c->note != NULL && !has_line(s, SMTP_LINE_NOTE, c->note))
			fail_msg("greeting %zu: no note \"%s\"", i, c->note);
		smtp_session_free(s);
	}
}

/* A reply kept in the outcome is cut after SMTP_REPLY_TEXT_MAX octets,
 * never inside a character, wherever the characters fall. */
static void
test_session_reply_cut(void **state)
{
	const struct smtp_outcome	*o;
	struct smtp_session		*s;
	enum smtp_status		 ost;
	GString				*g;
	gsize				 lead, len;

	(void)state;
	for (lead = 0; lead < 3; lead++) {
		g = g_string_new("554 ");
		while (g->len < SMTP_REPLY_TEXT_MAX - 1 + lead)
			g_string_append_c(g, 'a');
		while (g->len < SMTP_LINE_MAX - 4)
			g_string_append(g, "\xe2\x82\xac");	/* 3 octets */
		g_string_append(g, "\r\n");
		s = greet_run(g->str, 0, FALSE, &ost);
		assert_int_equal(ost, SMTP_REFUSED);
		o = smtp_session_outcome(s);
		assert_true(g_utf8_validate(o->reply, -1, NULL));
		assert_true(g_str_has_suffix(o->reply, " [...]"));
		len = strlen(o->reply) - strlen(" [...]");
		assert_true(len <= SMTP_REPLY_TEXT_MAX);
		assert_true(len > SMTP_REPLY_TEXT_MAX - 3);
		smtp_session_free(s);
		g_string_free(g, TRUE);
	}
}

/* A greeting whose one line is n bytes long, CRLF excluded. */
static char *
long_greeting(gsize n)
{
	GString	*g = g_string_new("220 ");

	while (g->len < n)
		g_string_append_c(g, 'x');
	g_string_append(g, "\r\n");
	return g_string_free(g, FALSE);
}

/* Lines up to SMTP_LINE_MAX pass, one byte more is an error. */
static void
test_session_long_line(void **state)
{
	const struct smtp_line	*l;
	struct smtp_session	*s;
	enum smtp_status	 ost;
	char			*g;

	(void)state;
	g = long_greeting(SMTP_LINE_MAX);
	s = greet_run(g, 0, FALSE, &ost);
	assert_int_equal(ost, SMTP_OK);
	l = g_ptr_array_index(smtp_session_outcome(s)->transcript, 2);
	assert_int_equal(l->kind, SMTP_LINE_SERVER);
	assert_int_equal(strlen(l->text), SMTP_LINE_MAX);
	smtp_session_free(s);
	g_free(g);

	g = long_greeting(SMTP_LINE_MAX + 1);
	s = greet_run(g, 0, FALSE, &ost);
	assert_int_equal(ost, SMTP_PROTOCOL);
	assert_true(has_line(s, SMTP_LINE_NOTE,
	    "reply line longer than 4096 bytes"));
	smtp_session_free(s);
	g_free(g);

	/* Far longer, and never ended: still bounded. */
	g = g_strnfill(100000, 'y');
	s = greet_run(g, 0, FALSE, &ost);
	assert_int_equal(ost, SMTP_PROTOCOL);
	smtp_session_free(s);
	g_free(g);
}

/* A greeting of n lines. */
static char *
many_lines(guint n)
{
	GString	*g = g_string_new(NULL);
	guint	 i;

	for (i = 1; i < n; i++)
		g_string_append_printf(g, "220-line %u\r\n", i);
	g_string_append(g, "220 last\r\n");
	return g_string_free(g, FALSE);
}

/* Replies up to SMTP_REPLY_LINES_MAX lines pass, one more is an error. */
static void
test_session_many_lines(void **state)
{
	struct smtp_session	*s;
	enum smtp_status	 ost;
	char			*g;

	(void)state;
	g = many_lines(SMTP_REPLY_LINES_MAX);
	s = greet_run(g, 0, FALSE, &ost);
	assert_int_equal(ost, SMTP_OK);
	smtp_session_free(s);
	g_free(g);

	g = many_lines(SMTP_REPLY_LINES_MAX + 1);
	s = greet_run(g, 0, FALSE, &ost);
	assert_int_equal(ost, SMTP_PROTOCOL);
	assert_true(has_line(s, SMTP_LINE_NOTE, "reply longer than 64 lines"));
	smtp_session_free(s);
	g_free(g);
}

/* Server bytes that are not printable become '?' in the transcript. */
static void
test_session_printable(void **state)
{
	static const char greeting[] =
	    "220-esc \033[31mred\001 tab\there\r\n"
	    "220-caf\xc3\xa9 \xe2\x98\x95 ok\r\n"
	    "220-bad \xff\xc3( \xe2\x80\xae rlo\r\n"
	    "220 cr\rin\r\n";
	struct smtp_session	*s;
	enum smtp_status	 ost;

	(void)state;
	s = greet_run(greeting, 0, FALSE, &ost);
	assert_int_equal(ost, SMTP_OK);
	assert_true(has_line(s, SMTP_LINE_SERVER,
	    "220-esc ?[31mred? tab\there"));
	assert_true(has_line(s, SMTP_LINE_SERVER,
	    "220-caf\xc3\xa9 \xe2\x98\x95 ok"));
	assert_true(has_line(s, SMTP_LINE_SERVER, "220-bad ?" "?( ?" "?? rlo"));
	assert_true(has_line(s, SMTP_LINE_SERVER, "220 cr?in"));
	smtp_session_free(s);
}

/* A loopback port that was free a moment ago: bound, never listened
 * on, closed. */
static void
free_port(char *buf, gsize size)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd != -1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	g_snprintf(buf, size, "%d", ntohs(sin.sin_port));
	close(fd);
}

/* Nobody listening: refused, and the transcript says where. */
static void
test_session_connect_refused(void **state)
{
	struct smtp_params	 p;
	struct smtp_session	*s;
	char			*note, port[8];

	(void)state;
	free_port(port, sizeof(port));
	memset(&p, 0, sizeof(p));
	p.host = "127.0.0.1";
	p.port = port;
	s = smtp_session_new(&p);
	assert_int_equal(smtp_session_open(s), SMTP_CONN_FAILED);
	note = g_strdup_printf("connect to 127.0.0.1 port %s: "
	    "Connection refused", port);
	assert_true(has_line(s, SMTP_LINE_NOTE, note));
	assert_kinds(s, "NN");
	assert_int_equal(smtp_session_outcome(s)->status, SMTP_CONN_FAILED);
	smtp_session_quit(s);
	smtp_session_free(s);
	g_free(note);
}

/* SMTPUTF8 addresses and a server without SMTPUTF8: not sent. */
static void
test_session_utf8_unsupported(void **state)
{
	static const struct fake_step script[] = {
		GREET, { F_RECV, NULL, 0 },
		{ F_SEND, "250-fake\r\n250 8BITMIME\r\n", 0 },
		QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const rcpt[] = { "j\xc3\xb6rg@mail181.com" };
	static const struct smtp_envelope env = {
		"darth@starwars.univ", rcpt, 1, TRUE, TRUE
	};
	static const char *const want[] = { "EHLO [127.0.0.1]", "QUIT", NULL };
	struct fake		*f = fake_start(script);
	struct smtp_session	*s;
	enum smtp_status	 ost, sst;

	(void)state;
	s = run(f, &env, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(sst, SMTP_UNSUPPORTED);
	assert_got(f, want);
	smtp_session_free(s);
	fake_free(f);
}

/* BODY=8BITMIME and SMTPUTF8 when needed and offered. */
static void
test_session_mail_params(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_POSTFIX,
		MAIL_ACCEPTED,
		QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const rcpt[] = { "j\xc3\xb6rg@mail181.com" };
	static const struct smtp_envelope env = {
		"", rcpt, 1, TRUE, TRUE
	};
	static const char *const want[] = {
		"EHLO [127.0.0.1]",
		"MAIL FROM:<> SIZE=8 BODY=8BITMIME SMTPUTF8",
		"RCPT TO:<j\xc3\xb6rg@mail181.com>", "DATA", "QUIT", NULL
	};
	struct fake		*f = fake_start(script);
	struct smtp_session	*s;
	enum smtp_status	 ost, sst;

	(void)state;
	s = run(f, &env, "h\xc3\xa9h\xc3\xa9\n", PATIENT_MS, &ost, &sst);
	assert_int_equal(sst, SMTP_OK);
	assert_got(f, want);
	assert_string_equal(f->data->str, "h\xc3\xa9h\xc3\xa9\r\n.\r\n");
	assert_true(has_line(s, SMTP_LINE_DATA, "h\xc3\xa9h\xc3\xa9"));
	smtp_session_free(s);
	fake_free(f);
}

/* A CR or LF in an address is refused before anything is sent
 * (command injection), and the connection stays usable. */
static void
test_session_injection(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_POSTFIX, QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const rcpt[] = {
		"root@mail181.com", "x@y>\r\nRCPT TO:<evil@example.org"
	};
	static const struct smtp_envelope env = {
		"darth@starwars.univ", rcpt, 2, FALSE, FALSE
	};
	static const char *const want[] = { "EHLO [127.0.0.1]", "QUIT", NULL };
	struct fake		*f = fake_start(script);
	struct smtp_session	*s;
	enum smtp_status	 ost, sst;

	(void)state;
	s = run(f, &env, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(sst, SMTP_PROTOCOL);
	assert_got(f, want);
	assert_true(has_line(s, SMTP_LINE_NOTE,
	    "refusing a recipient holding CR or LF"));
	smtp_session_free(s);
	fake_free(f);
}

/* Only the first lines of a long message go into the transcript. */
static void
test_session_long_message(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_POSTFIX,
		MAIL_ACCEPTED,
		QUIT_221, { F_END, NULL, 0 }
	};
	const struct smtp_outcome	*o;
	const struct smtp_line		*l;
	struct fake			*f = fake_start(script);
	struct smtp_session		*s;
	enum smtp_status		 ost, sst;
	GString				*msg = g_string_new(NULL);
	guint				 i, ndata = 0, at = 0;

	(void)state;
	for (i = 1; i <= SMTP_TRANSCRIPT_DATA_LINES + 50; i++)
		g_string_append_printf(msg, "line %u\n", i);
	s = run(f, &env_root, msg->str, PATIENT_MS, &ost, &sst);
	assert_int_equal(sst, SMTP_OK);
	/* The server got every line. */
	assert_true(g_str_has_suffix(f->data->str, "line 250\r\n.\r\n"));
	o = smtp_session_outcome(s);
	for (i = 0; i < o->transcript->len; i++) {
		l = g_ptr_array_index(o->transcript, i);
		if (l->kind == SMTP_LINE_DATA)
			ndata++;
		if (l->kind == SMTP_LINE_NOTE &&
		    strcmp(l->text, "(50 more lines of the message)") == 0)
			at = i;
	}
	assert_int_equal(ndata, SMTP_TRANSCRIPT_DATA_LINES);
	assert_true(has_line(s, SMTP_LINE_DATA, "line 200"));
	assert_false(has_line(s, SMTP_LINE_DATA, "line 201"));
	assert_true(at > 0);
	l = g_ptr_array_index(o->transcript, at + 1);
	assert_int_equal(l->kind, SMTP_LINE_CLIENT);
	assert_string_equal(l->text, ".");
	smtp_session_free(s);
	fake_free(f);
	g_string_free(msg, TRUE);
}

/*
 * Send a message larger than the socket buffers of both ends take to a
 * server that answers DATA, reads a little of the message, sends last
 * (unless NULL) and hangs up: the write of the message fails.
 */
static struct smtp_session *
run_cut_midway(const char *last, guint timeout_ms, enum smtp_status *sst)
{
	const struct fake_step	 script[] = {
		GREET, { F_RECV, NULL, 0 }, { F_SEND, "250 fake\r\n", 0 },
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, "354 go\r\n", 0 },
		{ F_READ_SOME, NULL, 0 },
		{ last != NULL ? F_SEND : F_END, last, 0 },
		{ F_END, NULL, 0 }
	};
	struct fake		*f = fake_start(script);
	struct smtp_session	*s;
	enum smtp_status	 ost;
	GString			*msg = g_string_new(NULL);

	while (msg->len < 64 << 20)
		g_string_append(msg, "a line of the message, again and "
		    "again and again\n");
	s = run(f, &env_root, msg->str, timeout_ms, &ost, sst);
	assert_int_equal(ost, SMTP_OK);
	assert_true(has_line(s, SMTP_LINE_CLIENT, "DATA"));
	/* The message was not written whole: no "." claims it was. */
	assert_false(has_line(s, SMTP_LINE_CLIENT, "."));
	fake_free(f);
	g_string_free(msg, TRUE);
	return s;
}

/* A server that stops reading: lost or timed out, without a ".". */
static void
test_session_data_cut_has_no_dot(void **state)
{
	struct smtp_session	*s;
	enum smtp_status	 sst;

	(void)state;
	s = run_cut_midway(NULL, QUICK_MS, &sst);
	assert_true(sst == SMTP_CONN_FAILED || sst == SMTP_TIMEOUT);
	smtp_session_free(s);
}

/* A server that refuses midway and hangs up: its reply, read from the
 * socket after the write failed, is the outcome; no QUIT follows. */
static void
test_session_refused_midway(void **state)
{
	const struct smtp_outcome *o;
	struct smtp_session	*s;
	enum smtp_status	 sst;

	(void)state;
	s = run_cut_midway("554 5.3.4 refused midway\r\n", PATIENT_MS, &sst);
	o = smtp_session_outcome(s);
	assert_int_equal(sst, SMTP_REFUSED);
	assert_int_equal(o->code, 554);
	assert_string_equal(o->reply, "554 5.3.4 refused midway");
	assert_true(has_line(s, SMTP_LINE_SERVER, "554 5.3.4 refused midway"));
	assert_false(has_line(s, SMTP_LINE_CLIENT, "QUIT"));
	smtp_session_free(s);
}

/* ... but a "250" there is not taken, not even as the last reply. */
static void
test_session_accepted_midway_is_no_reply(void **state)
{
	const struct smtp_outcome *o;
	struct smtp_session	*s;
	enum smtp_status	 sst;

	(void)state;
	s = run_cut_midway("250 2.0.0 Ok: queued as EARLY\r\n", PATIENT_MS,
	    &sst);
	o = smtp_session_outcome(s);
	assert_int_equal(sst, SMTP_CONN_FAILED);
	assert_int_equal(o->code, 0);
	assert_null(o->reply);
	assert_null(o->queue_id);
	smtp_session_free(s);
}

/* A second send after every recipient was refused starts with RSET. */
static void
test_session_rset(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_POSTFIX,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, "550 no\r\n", 0 },
		{ F_RECV, NULL, 0 }, { F_SEND, "250 2.0.0 Ok\r\n", 0 },
		UP_TO_DATA,
		{ F_SEND, "250 queued as SECOND\r\n", 0 },
		QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const want[] = {
		"EHLO [127.0.0.1]", "MAIL FROM:<darth@starwars.univ> SIZE=4",
		"RCPT TO:<root@mail181.com>", "RSET",
		"MAIL FROM:<darth@starwars.univ> SIZE=4",
		"RCPT TO:<root@mail181.com>", "DATA", "QUIT", NULL
	};
	static const struct smtp_envelope no_rcpt = {
		"darth@starwars.univ", NULL, 0, FALSE, FALSE
	};
	struct fake			*f = fake_start(script);
	struct smtp_params		 p;
	struct smtp_session		*s;
	const struct smtp_outcome	*o;
	GBytes				*b = g_bytes_new_static("hi\n", 3);

	(void)state;
	memset(&p, 0, sizeof(p));
	p.host = "127.0.0.1";
	p.port = f->port;
	p.command_timeout_ms = PATIENT_MS;
	s = smtp_session_new(&p);
	o = smtp_session_outcome(s);
	assert_int_equal(smtp_session_open(s), SMTP_OK);
	assert_int_equal(smtp_session_send(s, &env_root, b), SMTP_REFUSED);
	assert_int_equal(o->refused->len, 1);
	/* No recipients at all: the caller's mistake, nothing sent. */
	assert_int_equal(smtp_session_send(s, &no_rcpt, b), SMTP_PROTOCOL);
	assert_int_equal(smtp_session_send(s, &env_root, b), SMTP_OK);
	assert_int_equal(o->refused->len, 0);
	assert_int_equal(o->n_accepted, 1);
	assert_string_equal(o->queue_id, "SECOND");
	smtp_session_quit(s);
	smtp_session_quit(s);	/* harmless twice */
	fake_join(f);
	assert_got(f, want);
	smtp_session_free(s);
	fake_free(f);
	g_bytes_unref(b);
}

/* Over IPv6 loopback, the EHLO literal is "[IPv6:::1]"; an explicit
 * helo_name wins over it. */
static void
test_session_ipv6(void **state)
{
	static const struct fake_step script[] = {
		GREET, { F_RECV, NULL, 0 }, { F_SEND, "250 fake\r\n", 0 },
		QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const want[] = { "EHLO [IPv6:::1]", "QUIT", NULL };
	static const char *const want_named[] = {
		"EHLO client.mail181.com", "QUIT", NULL
	};
	struct smtp_params	 p;
	struct smtp_session	*s;
	struct fake		*f;
	int			 round;

	(void)state;
	for (round = 0; round < 2; round++) {
		if ((f = fake_start_on(AF_INET6, script)) == NULL)
			skip();
		memset(&p, 0, sizeof(p));
		p.host = "::1";
		p.port = f->port;
		p.helo_name = round == 0 ? NULL : "client.mail181.com";
		p.command_timeout_ms = PATIENT_MS;
		s = smtp_session_new(&p);
		assert_int_equal(smtp_session_open(s), SMTP_OK);
		smtp_session_quit(s);
		fake_join(f);
		assert_got(f, round == 0 ? want : want_named);
		smtp_session_free(s);
		fake_free(f);
	}
}

/* ---- STARTTLS ---- */

/* The throwaway PKI: a CA, a server certificate it signed for
 * 127.0.0.1, one for 127.0.0.2 (the wrong name), and another CA that
 * signed nothing of the server's. */
struct pki {
	char				*dir;
	struct smtp_trust		*ca;		/* the CA */
	struct smtp_trust		*other_ca;
	gnutls_certificate_credentials_t good;		/* for 127.0.0.1 */
	gnutls_certificate_credentials_t wrong_name;	/* for 127.0.0.2 */
};

static struct pki pki;

/* A new ECDSA P-256 key. */
static gnutls_x509_privkey_t
pki_key(void)
{
	gnutls_x509_privkey_t	key;

	assert_int_equal(gnutls_x509_privkey_init(&key), 0);
	assert_int_equal(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0), 0);
	return key;
}

/* A certificate for key, valid for a day: a CA's when ip is NULL, else
 * a server's for that address; self-signed when issuer is NULL. */
static gnutls_x509_crt_t
pki_crt(gnutls_x509_privkey_t key, const char *cn, const char *ip,
    gnutls_x509_crt_t issuer, gnutls_x509_privkey_t issuer_key)
{
	gnutls_x509_crt_t	crt;
	struct in_addr		addr;
	unsigned char		serial[8];
	time_t			now = time(NULL);

	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
	assert_int_equal(gnutls_rnd(GNUTLS_RND_NONCE, serial,
	    sizeof(serial)), 0);
	serial[0] &= 0x7f;	/* a positive serial number */
	assert_int_equal(gnutls_x509_crt_set_serial(crt, serial,
	    sizeof(serial)), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(crt,
	    now - 3600), 0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(crt,
	    now + 86400), 0);
	assert_int_equal(gnutls_x509_crt_set_dn_by_oid(crt,
	    GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)), 0);
	assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
	if (ip == NULL) {
		assert_int_equal(gnutls_x509_crt_set_basic_constraints(crt,
		    1, -1), 0);
		assert_int_equal(gnutls_x509_crt_set_key_usage(crt,
		    GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN), 0);
	} else {
		assert_int_equal(gnutls_x509_crt_set_basic_constraints(crt,
		    0, -1), 0);
		assert_int_equal(gnutls_x509_crt_set_key_usage(crt,
		    GNUTLS_KEY_DIGITAL_SIGNATURE), 0);
		assert_int_equal(gnutls_x509_crt_set_key_purpose_oid(crt,
		    GNUTLS_KP_TLS_WWW_SERVER, 0), 0);
		assert_int_equal(inet_pton(AF_INET, ip, &addr), 1);
		assert_int_equal(gnutls_x509_crt_set_subject_alt_name(crt,
		    GNUTLS_SAN_IPADDRESS, &addr, sizeof(addr),
		    GNUTLS_FSAN_SET), 0);
	}
	assert_int_equal(gnutls_x509_crt_sign2(crt,
	    issuer != NULL ? issuer : crt,
	    issuer_key != NULL ? issuer_key : key, GNUTLS_DIG_SHA256, 0), 0);
	return crt;
}

/*
 * A trust made from a CA file holding crt, written into the PKI's folder
 * and removed again at once: every TLS test then also shows that the
 * file is read when the trust is made, never at STARTTLS (labmail makes
 * it before dropping its privileges).
 */
static struct smtp_trust *
pki_trust(gnutls_x509_crt_t crt, const char *name)
{
	gnutls_datum_t		 pem;
	char			*path = g_build_filename(pki.dir, name, NULL);
	struct smtp_trust	*t;
	GError			*err = NULL;

	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM,
	    &pem), 0);
	assert_true(g_file_set_contents(path, (const char *)pem.data,
	    pem.size, NULL));
	gnutls_free(pem.data);
	t = smtp_trust_new(path, &err);
	assert_null(err);
	assert_non_null(t);
	assert_int_equal(g_unlink(path), 0);
	g_free(path);
	return t;
}

/* Server credentials: a server certificate for ip, signed by the CA. */
static gnutls_certificate_credentials_t
pki_server(gnutls_x509_crt_t ca, gnutls_x509_privkey_t ca_key,
    const char *ip)
{
	gnutls_certificate_credentials_t cred;
	gnutls_x509_privkey_t	key = pki_key();
	gnutls_x509_crt_t	crt = pki_crt(key, "fake", ip, ca, ca_key);

	assert_int_equal(gnutls_certificate_allocate_credentials(&cred), 0);
	assert_int_equal(gnutls_certificate_set_x509_key(cred, &crt, 1, key),
	    0);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return cred;
}

/* Make the PKI, once for all the tests. */
static int
pki_setup(void **state)
{
	gnutls_x509_privkey_t	ca_key, other_key;
	gnutls_x509_crt_t	ca, other;

	(void)state;
	pki.dir = g_dir_make_tmp("test_smtp-XXXXXX", NULL);
	assert_non_null(pki.dir);
	ca_key = pki_key();
	ca = pki_crt(ca_key, "labmail test CA", NULL, NULL, NULL);
	other_key = pki_key();
	other = pki_crt(other_key, "some other CA", NULL, NULL, NULL);
	pki.ca = pki_trust(ca, "ca.pem");
	pki.other_ca = pki_trust(other, "other-ca.pem");
	pki.good = pki_server(ca, ca_key, "127.0.0.1");
	pki.wrong_name = pki_server(ca, ca_key, "127.0.0.2");
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_crt_deinit(other);
	gnutls_x509_privkey_deinit(ca_key);
	gnutls_x509_privkey_deinit(other_key);
	return 0;
}

/* Remove the PKI's files and free it. */
static int
pki_teardown(void **state)
{
	(void)state;
	g_rmdir(pki.dir);
	g_free(pki.dir);
	smtp_trust_free(pki.ca);
	smtp_trust_free(pki.other_ca);
	gnutls_certificate_free_credentials(pki.good);
	gnutls_certificate_free_credentials(pki.wrong_name);
	return 0;
}

/* The dialogue ended with QUIT's reply, read inside TLS. */
static void
assert_bye_in_tls(const struct smtp_outcome *o)
{
	const struct smtp_line	*l;

	l = g_ptr_array_index(o->transcript, o->transcript->len - 1);
	assert_string_equal(l->text, "221 2.0.0 Bye");
	assert_true(l->tls);
}

#define EHLO_TLS	{ F_RECV, NULL, 0 }, { F_SEND, "250-fake\r\n" \
    "250-SIZE 1000\r\n250 STARTTLS\r\n", 0 }
#define STARTTLS_220	{ F_RECV, NULL, 0 }, \
    { F_SEND, "220 2.0.0 Ready to start TLS\r\n", 0 }

/* The whole dialogue through STARTTLS, the certificate checked against
 * the CA file: EHLO again inside TLS, its caps replacing the first. */
static void
test_tls_ok(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_TLS, STARTTLS_220, { F_TLS, NULL, 0 },
		{ F_RECV, NULL, 0 },
		{ F_SEND, "250-fake\r\n250-SIZE 2000\r\n250 8BITMIME\r\n", 0 },
		UP_TO_DATA,
		{ F_SEND, "250 2.0.0 Ok: queued as TLS1\r\n", 0 },
		QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const want[] = {
		"EHLO [127.0.0.1]", "STARTTLS", "EHLO [127.0.0.1]",
		"MAIL FROM:<darth@starwars.univ> SIZE=57",
		"RCPT TO:<root@mail181.com>", "DATA", "QUIT", NULL
	};
	struct smtp_params		 p = { .tls = SMTP_TLS_REQUIRED };
	struct fake			*f;
	struct smtp_session		*s;
	const struct smtp_outcome	*o;
	const struct smtp_caps		*caps;
	const struct smtp_line		*l;
	enum smtp_status		 ost, sst;
	gboolean			 inside = FALSE;
	guint				 i;

	(void)state;
	p.trust = pki.ca;
	f = fake_start_cred(AF_INET, script, pki.good);
	s = run_tls(f, &p, &env_root, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(f->tls_rc, 0);
	assert_int_equal(ost, SMTP_OK);
	assert_int_equal(sst, SMTP_OK);
	assert_got(f, want);
	assert_string_equal(f->data->str, lab_wire);
	o = smtp_session_outcome(s);
	assert_true(o->tls);
	assert_true(o->tls_verified);
	assert_non_null(o->tls_desc);
	assert_true(g_str_has_prefix(o->tls_desc, "(TLS1."));
	assert_null(o->tls_error);
	assert_string_equal(o->queue_id, "TLS1");
	/* The second EHLO's caps, and nothing of the first's. */
	caps = smtp_session_caps(s);
	assert_true(caps->esmtp);
	assert_false(caps->starttls);
	assert_true(caps->eightbitmime);
	assert_true(caps->has_size && caps->size_max == 2000);
	/* Every line after the note, and only those, inside TLS. */
	for (i = 0; i < o->transcript->len; i++) {
		l = g_ptr_array_index(o->transcript, i);
		assert_int_equal(l->tls, inside);
		if (l->kind == SMTP_LINE_NOTE &&
		    g_str_has_prefix(l->text, "TLS started: (TLS1.")) {
			assert_true(g_str_has_suffix(l->text, " \xe2\x80\x94 "
			    "certificate verified for 127.0.0.1"));
			inside = TRUE;
		}
	}
	assert_true(inside);
	assert_bye_in_tls(o);
	smtp_session_free(s);
	fake_free(f);
}

/* TLS required, STARTTLS not offered: nothing sent but EHLO and QUIT. */
static void
test_tls_required_not_offered(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_POSTFIX, QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const want[] = { "EHLO [127.0.0.1]", "QUIT", NULL };
	static const struct smtp_params p = { .tls = SMTP_TLS_REQUIRED };
	struct fake			*f = fake_start(script);
	struct smtp_session		*s;
	const struct smtp_outcome	*o;
	enum smtp_status		 ost, sst;

	(void)state;
	s = run_tls(f, &p, &env_root, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_TLS_FAILED);
	assert_got(f, want);
	assert_int_equal(f->data->len, 0);
	o = smtp_session_outcome(s);
	assert_int_equal(o->status, SMTP_TLS_FAILED);
	assert_false(o->tls);
	assert_string_equal(o->tls_error, "the server does not offer "
	    "STARTTLS, and TLS is required");
	assert_true(has_line(s, SMTP_LINE_NOTE, "no TLS: the server does not "
	    "offer STARTTLS, and TLS is required; no mail is sent"));
	/* The EHLO reply is not the answer to show. */
	assert_int_equal(o->code, 0);
	assert_null(o->reply);
	smtp_session_free(s);
	fake_free(f);
}

/* STARTTLS refused: required stops before MAIL, auto goes on in clear. */
static void
test_tls_refused(void **state)
{
	static const struct fake_step required_script[] = {
		GREET, EHLO_TLS,
		{ F_RECV, NULL, 0 },
		{ F_SEND, "454 4.7.0 TLS not available due to local problem\r\n",
		    0 },
		QUIT_221, { F_END, NULL, 0 }
	};
	static const struct fake_step auto_script[] = {
		GREET, EHLO_TLS,
		{ F_RECV, NULL, 0 },
		{ F_SEND, "454 4.7.0 TLS not available due to local problem\r\n",
		    0 },
		MAIL_ACCEPTED,
		QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const want_required[] = {
		"EHLO [127.0.0.1]", "STARTTLS", "QUIT", NULL
	};
	static const char *const want_auto[] = {
		"EHLO [127.0.0.1]", "STARTTLS",
		"MAIL FROM:<darth@starwars.univ> SIZE=57",
		"RCPT TO:<root@mail181.com>", "DATA", "QUIT", NULL
	};
	struct smtp_params		 p = { .tls = SMTP_TLS_REQUIRED };
	struct fake			*f;
	struct smtp_session		*s;
	const struct smtp_outcome	*o;
	enum smtp_status		 ost, sst;

	(void)state;
	p.trust = pki.ca;
	f = fake_start(required_script);
	s = run_tls(f, &p, &env_root, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_TLS_FAILED);
	assert_got(f, want_required);
	assert_int_equal(f->data->len, 0);
	o = smtp_session_outcome(s);
	assert_int_equal(o->code, 454);
	assert_string_equal(o->reply,
	    "454 4.7.0 TLS not available due to local problem");
	assert_string_equal(o->tls_error, "the server refused STARTTLS, and "
	    "TLS is required");
	smtp_session_free(s);
	fake_free(f);

	p.tls = SMTP_TLS_AUTO;
	f = fake_start(auto_script);
	s = run_tls(f, &p, &env_root, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_OK);
	assert_int_equal(sst, SMTP_OK);
	assert_got(f, want_auto);
	assert_string_equal(f->data->str, lab_wire);
	assert_true(has_line(s, SMTP_LINE_NOTE,
	    "the server refused STARTTLS: going on without TLS"));
	assert_false(smtp_session_outcome(s)->tls);
	smtp_session_free(s);
	fake_free(f);
}

struct cert_case {
	const char	*name;
	gboolean	 wrong_name;	/* the certificate is for 127.0.0.2 */
	gboolean	 other_ca;	/* the CA file of another CA */
	gboolean	 system_ca;	/* no CA file: the system's store */
	const char	*error;		/* start of the outcome's tls_error */
	const char	*detail;	/* in tls_error */
};

static const struct cert_case cert_cases[] = {
	{ "unknown issuer", FALSE, TRUE, FALSE,
	    "the server's certificate was not accepted for 127.0.0.1: ",
	    "issuer is unknown" },
	{ "system store", FALSE, FALSE, TRUE,
	    "the server's certificate was not accepted for 127.0.0.1: ",
	    "issuer is unknown" },
	{ "wrong address", TRUE, FALSE, FALSE,
	    "the server's certificate was not accepted for 127.0.0.1: ",
	    "does not match" },
};

/* Whether the system's trust store holds any certificate. */
static gboolean
have_system_trust(void)
{
	gnutls_certificate_credentials_t cred;
	int				 n;

	assert_int_equal(gnutls_certificate_allocate_credentials(&cred), 0);
	n = gnutls_certificate_set_x509_system_trust(cred);
	gnutls_certificate_free_credentials(cred);
	return n > 0;
}

/* A session of cert case c in the given TLS mode, through the whole
 * script; NULL (nothing run) if the case cannot run on this machine. */
static struct smtp_session *
run_cert_case(const struct cert_case *c, enum smtp_tls_mode mode,
    const struct fake_step *script, struct fake **f, enum smtp_status *ost,
    enum smtp_status *sst)
{
	struct smtp_params	 p;

	/* A machine without ca-certificates has no store to try. */
	if (c->system_ca && !have_system_trust())
		return NULL;
	memset(&p, 0, sizeof(p));
	p.tls = mode;
	p.trust = c->system_ca ? NULL : c->other_ca ? pki.other_ca : pki.ca;
	*f = fake_start_cred(AF_INET, script,
	    c->wrong_name ? pki.wrong_name : pki.good);
	return run_tls(*f, &p, &env_root, lab_msg, PATIENT_MS, ost, sst);
}

/* TLS required: a certificate that does not check out ends the session
 * right after the handshake, with QUIT inside TLS (RFC 3207 4.1). */
static void
test_tls_bad_certificate_required(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_TLS, STARTTLS_220, { F_TLS, NULL, 0 },
		QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const want[] = {
		"EHLO [127.0.0.1]", "STARTTLS", "QUIT", NULL
	};
	const struct cert_case		*c;
	const struct smtp_outcome	*o;
	struct smtp_session		*s;
	struct fake			*f;
	enum smtp_status		 ost, sst;
	gsize				 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cert_cases); i++) {
		c = &cert_cases[i];
		s = run_cert_case(c, SMTP_TLS_REQUIRED, script, &f, &ost,
		    &sst);
		if (s == NULL)
			continue;
		if (ost != SMTP_TLS_FAILED)
			fail_msg("%s: status %s", c->name,
			    smtp_status_str(ost));
		assert_got(f, want);
		o = smtp_session_outcome(s);
		assert_false(o->tls);
		assert_null(o->tls_desc);
		assert_non_null(o->tls_error);
		if (!g_str_has_prefix(o->tls_error, c->error) ||
		    strstr(o->tls_error, c->detail) == NULL ||
		    g_str_has_suffix(o->tls_error, "."))
			fail_msg("%s: tls_error \"%s\"", c->name,
			    o->tls_error);
		/* No reply to show: the 220 to STARTTLS is no error. */
		assert_null(o->reply);
		assert_bye_in_tls(o);
		smtp_session_free(s);
		fake_free(f);
	}
}

/* TLS auto (the default): a certificate that does not check out (a lab
 * server's self-signed one) still carries the mail, encrypted, and the
 * outcome and the transcript say why it was not trusted. */
static void
test_tls_bad_certificate_auto(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_TLS, STARTTLS_220, { F_TLS, NULL, 0 },
		{ F_RECV, NULL, 0 }, { F_SEND, "250 fake\r\n", 0 },
		MAIL_ACCEPTED, QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const want[] = {
		"EHLO [127.0.0.1]", "STARTTLS", "EHLO [127.0.0.1]",
		"MAIL FROM:<darth@starwars.univ>", "RCPT TO:<root@mail181.com>",
		"DATA", "QUIT", NULL
	};
	const struct cert_case		*c;
	const struct smtp_outcome	*o;
	const struct smtp_line		*l;
	struct smtp_session		*s;
	struct fake			*f;
	enum smtp_status		 ost, sst;
	gsize				 i, j;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cert_cases); i++) {
		c = &cert_cases[i];
		s = run_cert_case(c, SMTP_TLS_AUTO, script, &f, &ost, &sst);
		if (s == NULL)
			continue;
		if (ost != SMTP_OK || sst != SMTP_OK)
			fail_msg("%s: status %s, %s", c->name,
			    smtp_status_str(ost), smtp_status_str(sst));
		assert_got(f, want);
		assert_string_equal(f->data->str, lab_wire);
		o = smtp_session_outcome(s);
		assert_true(o->tls);
		assert_false(o->tls_verified);
		assert_null(o->tls_error);
		assert_non_null(o->tls_untrusted);
		if (strstr(o->tls_untrusted, c->detail) == NULL ||
		    g_str_has_suffix(o->tls_untrusted, "."))
			fail_msg("%s: tls_untrusted \"%s\"", c->name,
			    o->tls_untrusted);
		for (j = 0, l = NULL; j < o->transcript->len; j++) {
			l = g_ptr_array_index(o->transcript, j);
			if (l->kind == SMTP_LINE_NOTE &&
			    g_str_has_prefix(l->text, "TLS started: "))
				break;
		}
		assert_true(j < o->transcript->len);
		if (strstr(l->text, " \xe2\x80\x94 certificate NOT trusted "
		    "for 127.0.0.1: ") == NULL ||
		    !g_str_has_suffix(l->text, "; going on encrypted"))
			fail_msg("%s: note \"%s\"", c->name, l->text);
		smtp_session_free(s);
		fake_free(f);
	}
}

/* --smtp-insecure: TLS without any check, and the transcript says so. */
static void
test_tls_insecure(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_TLS, STARTTLS_220, { F_TLS, NULL, 0 },
		{ F_RECV, NULL, 0 }, { F_SEND, "250 fake\r\n", 0 },
		QUIT_221, { F_END, NULL, 0 }
	};
	static const char *const want[] = {
		"EHLO [127.0.0.1]", "STARTTLS", "EHLO [127.0.0.1]", "QUIT", NULL
	};
	struct smtp_params		 p;
	const struct smtp_outcome	*o;
	const struct smtp_line		*l;
	struct smtp_session		*s;
	struct fake			*f;
	guint				 i;

	(void)state;
	/* Neither the CA nor the name would pass a check. */
	f = fake_start_cred(AF_INET, script, pki.wrong_name);
	memset(&p, 0, sizeof(p));
	p.tls = SMTP_TLS_REQUIRED;
	p.insecure = TRUE;
	p.trust = pki.other_ca;
	p.host = "127.0.0.1";
	p.port = f->port;
	p.command_timeout_ms = PATIENT_MS;
	s = smtp_session_new(&p);
	assert_int_equal(smtp_session_open(s), SMTP_OK);
	smtp_session_quit(s);
	fake_join(f);
	assert_got(f, want);
	o = smtp_session_outcome(s);
	assert_true(o->tls);
	assert_false(o->tls_verified);
	for (i = 0, l = NULL; i < o->transcript->len; i++) {
		l = g_ptr_array_index(o->transcript, i);
		if (l->kind == SMTP_LINE_NOTE &&
		    g_str_has_prefix(l->text, "TLS started: "))
			break;
	}
	assert_true(i < o->transcript->len);
	assert_non_null(l);
	assert_true(g_str_has_suffix(l->text, " \xe2\x80\x94 certificate NOT "
	    "verified (--smtp-insecure)"));
	smtp_session_free(s);
	fake_free(f);
}

/* A CA file that cannot be used is refused when the trust is made
 * (labmail then does not start), saying what is wrong with it. */
static void
test_trust_bad_ca_file(void **state)
{
	static const struct {
		const char	*name;
		const char	*text;		/* NULL: no such file */
		const char	*says;
	} cases[] = {
		{ "missing.pem", NULL, "missing.pem" },
		{ "empty.pem", "", "no certificate in the CA file " },
		{ "words.pem", "not a certificate\n",
		    "no certificate in the CA file " },
	};
	struct smtp_trust	*t;
	GError			*err = NULL;
	char			*path;
	gsize			 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		path = g_build_filename(pki.dir, cases[i].name, NULL);
		if (cases[i].text != NULL)
			assert_true(g_file_set_contents(path, cases[i].text, -1,
			    NULL));
		t = smtp_trust_new(path, &err);
		assert_null(t);
		assert_non_null(err);
		if (strstr(err->message, cases[i].says) == NULL)
			fail_msg("%s: \"%s\"", cases[i].name, err->message);
		g_clear_error(&err);
		g_unlink(path);
		g_free(path);
	}
	/* No file: the system's store, read at the first STARTTLS. */
	t = smtp_trust_new(NULL, &err);
	assert_non_null(t);
	assert_null(err);
	smtp_trust_free(t);
}

/* Bytes after the 220 to STARTTLS came in clear: refused, as they would
 * pass for the server's first words inside TLS (response injection). */
static void
test_tls_injection(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_TLS,
		{ F_RECV, NULL, 0 },
		{ F_SEND, "220 go ahead\r\n250-evil\r\n250 AUTH PLAIN\r\n", 0 },
		{ F_DRAIN, NULL, 0 }, { F_END, NULL, 0 }
	};
	struct smtp_params		 p = { .tls = SMTP_TLS_AUTO };
	struct smtp_session		*s;
	struct fake			*f;
	enum smtp_status		 ost, sst;

	(void)state;
	p.trust = pki.ca;
	f = fake_start(script);
	s = run_tls(f, &p, &env_root, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_PROTOCOL);
	assert_true(has_line(s, SMTP_LINE_NOTE,
	    "the server sent data after its 220 to STARTTLS"));
	assert_false(smtp_session_outcome(s)->tls);
	smtp_session_free(s);
	fake_free(f);
}

/*
 * Inside TLS, bytes out of turn may wait in GnuTLS rather than in our
 * buffer: here the EHLO reply fills the buffer exactly (two lines of
 * SMTP_LINE_MAX octets, CRLF included) and "250 early" comes in the
 * same record.  MAIL must not go out, as its reply would be out of step.
 */
static void
test_tls_out_of_turn_in_gnutls(void **state)
{
	struct fake_step		 script[] = {
		GREET, EHLO_TLS, STARTTLS_220, { F_TLS, NULL, 0 },
		{ F_RECV, NULL, 0 }, { F_SEND, NULL, 0 },
		{ F_DRAIN, NULL, 0 }, { F_END, NULL, 0 }
	};
	struct smtp_params		 p = { .tls = SMTP_TLS_REQUIRED };
	GString				*reply = g_string_new("250-");
	struct smtp_session		*s;
	struct fake			*f;
	enum smtp_status		 ost, sst;

	(void)state;
	/* smtp.c reads into a buffer of 2 * SMTP_LINE_MAX octets. */
	while (reply->len < SMTP_LINE_MAX - 2)
		g_string_append_c(reply, 'x');
	g_string_append(reply, "\r\n250 ");
	while (reply->len < 2 * SMTP_LINE_MAX - 2)
		g_string_append_c(reply, 'y');
	g_string_append(reply, "\r\n");
	assert_int_equal(reply->len, 2 * SMTP_LINE_MAX);
	g_string_append(reply, "250 early\r\n");
	script[7].arg = reply->str;
	assert_int_equal(script[7].op, F_SEND);
	p.trust = pki.ca;
	f = fake_start_cred(AF_INET, script, pki.good);
	s = run_tls(f, &p, &env_root, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_OK);
	assert_int_equal(sst, SMTP_PROTOCOL);
	assert_true(has_line(s, SMTP_LINE_NOTE,
	    "the server sent data out of turn"));
	assert_false(has_line(s, SMTP_LINE_CLIENT,
	    "MAIL FROM:<darth@starwars.univ> SIZE=57"));
	smtp_session_free(s);
	fake_free(f);
	g_string_free(reply, TRUE);
}

/* After the 220: garbage instead of TLS, or silence. */
static void
test_tls_handshake_fails(void **state)
{
	static const struct fake_step garbage[] = {
		GREET, EHLO_TLS, STARTTLS_220, { F_READ_SOME, NULL, 0 },
		{ F_SEND, "421 4.4.2 this is not TLS\r\n", 0 },
		{ F_DRAIN, NULL, 0 }, { F_END, NULL, 0 }
	};
	static const struct fake_step silent[] = {
		GREET, EHLO_TLS, STARTTLS_220, { F_DRAIN, NULL, 0 },
		{ F_END, NULL, 0 }
	};
	struct smtp_params		 p = { .tls = SMTP_TLS_AUTO };
	const struct smtp_outcome	*o;
	struct smtp_session		*s;
	struct fake			*f;
	enum smtp_status		 ost, sst;

	(void)state;
	p.trust = pki.ca;
	f = fake_start(garbage);
	s = run_tls(f, &p, &env_root, lab_msg, PATIENT_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_TLS_FAILED);
	o = smtp_session_outcome(s);
	assert_true(g_str_has_prefix(o->tls_error,
	    "the TLS handshake failed: "));
	/* Closed at once, no QUIT in clear into a TLS stream. */
	assert_true(f->eof);
	assert_int_equal(f->got->len, 2);
	smtp_session_free(s);
	fake_free(f);

	f = fake_start(silent);
	s = run_tls(f, &p, &env_root, lab_msg, QUICK_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_TIMEOUT);
	assert_true(has_line(s, SMTP_LINE_NOTE,
	    "the TLS handshake did not end within 0.3 s"));
	assert_true(f->eof);
	smtp_session_free(s);
	fake_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_parse_line),
		cmocka_unit_test(test_dot_stuff),
		cmocka_unit_test(test_caps_parse_line),
		cmocka_unit_test(test_queue_id),
		cmocka_unit_test(test_status_str),
		cmocka_unit_test(test_session_ok),
		cmocka_unit_test(test_session_multiline),
		cmocka_unit_test(test_session_helo),
		cmocka_unit_test(test_session_greet421),
		cmocka_unit_test(test_session_rcpt421),
		cmocka_unit_test(test_session_reply_before_message),
		cmocka_unit_test(test_session_out_of_turn_bounded),
		cmocka_unit_test(test_session_rcpt_one_refused),
		cmocka_unit_test(test_session_rcpt_all_refused),
		cmocka_unit_test(test_session_data552),
		cmocka_unit_test(test_session_closed),
		cmocka_unit_test(test_session_silent),
		cmocka_unit_test(test_session_silent_after_data),
		cmocka_unit_test(test_session_too_big),
		cmocka_unit_test(test_session_size_exact),
		cmocka_unit_test(test_session_greetings),
		cmocka_unit_test(test_session_long_line),
		cmocka_unit_test(test_session_many_lines),
		cmocka_unit_test(test_session_printable),
		cmocka_unit_test(test_session_connect_refused),
		cmocka_unit_test(test_session_utf8_unsupported),
		cmocka_unit_test(test_session_mail_params),
		cmocka_unit_test(test_session_injection),
		cmocka_unit_test(test_session_long_message),
		cmocka_unit_test(test_session_data_cut_has_no_dot),
		cmocka_unit_test(test_session_refused_midway),
		cmocka_unit_test(test_session_accepted_midway_is_no_reply),
		cmocka_unit_test(test_session_rset),
		cmocka_unit_test(test_session_ipv6),
		cmocka_unit_test(test_tls_ok),
		cmocka_unit_test(test_tls_required_not_offered),
		cmocka_unit_test(test_tls_refused),
		cmocka_unit_test(test_tls_bad_certificate_required),
		cmocka_unit_test(test_tls_bad_certificate_auto),
		cmocka_unit_test(test_tls_insecure),
		cmocka_unit_test(test_trust_bad_ca_file),
		cmocka_unit_test(test_tls_injection),
		cmocka_unit_test(test_session_reply_cut),
		cmocka_unit_test(test_tls_out_of_turn_in_gnutls),
		cmocka_unit_test(test_tls_handshake_fails),
	};

	return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
