/*
 * test_smtp - unit tests of the SMTP client (src/smtp.c).
 *
 * The pure helpers are checked against tables.  The session is checked
 * against a fake server: a thread that listens on an ephemeral loopback
 * port and plays a scripted dialogue, recording what the client sent.
 * cmocka's asserts must run on the main thread, so the fake server only
 * records; the test asserts once it has joined the thread.
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
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

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
	for (st = SMTP_OK; st <= SMTP_UNSUPPORTED; st++) {
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
};

/* Read one line, CRLF kept, byte by byte (the fake is not fast, only
 * simple); NULL at end of file or after 5 s of silence. */
static GString *
fake_line(struct fake *f, int fd)
{
	GString	*line = g_string_new(NULL);
	char	 ch;
	ssize_t	 n;

	for (;;) {
		n = recv(fd, &ch, 1, 0);
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
fake_send(int fd, const char *s, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = send(fd, s, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
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
			fake_send(fd, step->arg, step->len != 0 ? step->len :
			    strlen(step->arg));
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
			while (recv(fd, buf, sizeof(buf), 0) > 0)
				;
			f->eof = TRUE;
			break;
		case F_END:
			break;
		}
	}
done:
	close(fd);
	return NULL;
}

/* Start a fake server on an ephemeral port of a loopback address;
 * NULL if the address cannot be bound (no IPv6 here). */
static struct fake *
fake_start_on(int family, const struct fake_step *script)
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
	f->got = g_ptr_array_new_with_free_func(g_free);
	f->data = g_string_new(NULL);
	f->thread = g_thread_new("fake-smtp", fake_run, f);
	return f;
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

/* Open, send (when open succeeded) and quit against a fake server. */
static struct smtp_session *
run(struct fake *f, const struct smtp_envelope *env, const char *msg,
    guint timeout_ms, enum smtp_status *open_st, enum smtp_status *send_st)
{
	struct smtp_params	 p;
	struct smtp_session	*s;
	GBytes			*bytes;

	memset(&p, 0, sizeof(p));
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
	struct fake			*f = fake_start(script);
	struct smtp_session		*s;
	const struct smtp_outcome	*o;
	const struct smtp_caps		*caps;
	enum smtp_status		 ost, sst;

	(void)state;
	s = run(f, &env_root, "hi", PATIENT_MS, &ost, &sst);
	assert_int_equal(ost, SMTP_OK);
	assert_int_equal(sst, SMTP_OK);
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
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, "354 go\r\n", 0 },
		{ F_RECV_DATA, NULL, 0 }, { F_SEND, "250 ok\r\n", 0 },
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

/* A 421 greeting: refused, the reply kept, QUIT still said. */
static void
test_session_greet421(void **state)
{
	static const struct fake_step script[] = {
		{ F_SEND, "421 4.3.2 Service shutting down\r\n", 0 },
		{ F_RECV, NULL, 0 }, { F_END, NULL, 0 }
	};
	static const char *const want[] = { "QUIT", NULL };
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
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, "354 go\r\n", 0 },
		{ F_RECV_DATA, NULL, 0 },
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
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, "354 go\r\n", 0 },
		{ F_RECV_DATA, NULL, 0 }, { F_DRAIN, NULL, 0 },
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
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, "354 go\r\n", 0 },
		{ F_RECV_DATA, NULL, 0 }, { F_SEND, "250 ok\r\n", 0 },
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
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, "354 go\r\n", 0 },
		{ F_RECV_DATA, NULL, 0 }, { F_SEND, "250 ok\r\n", 0 },
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
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, "354 go\r\n", 0 },
		{ F_RECV_DATA, NULL, 0 }, { F_SEND, "250 ok\r\n", 0 },
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

/* A second send after every recipient was refused starts with RSET. */
static void
test_session_rset(void **state)
{
	static const struct fake_step script[] = {
		GREET, EHLO_POSTFIX,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, "550 no\r\n", 0 },
		{ F_RECV, NULL, 0 }, { F_SEND, "250 2.0.0 Ok\r\n", 0 },
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, OK_250,
		{ F_RECV, NULL, 0 }, { F_SEND, "354 go\r\n", 0 },
		{ F_RECV_DATA, NULL, 0 },
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
		cmocka_unit_test(test_session_rset),
		cmocka_unit_test(test_session_ipv6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
