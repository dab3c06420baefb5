/*
 * route_send - the send form, and the SMTP dialogue that a POST starts.
 *
 * POST /send runs on a worker thread (see app_wait()): it checks
 * the form, opens an SMTP session to the configured server, builds the
 * message for what the server offers, sends it, and shows the whole
 * dialogue.  Whatever happens, the form comes back with what was typed.
 */
#include <string.h>
#include <time.h>

#include "compose.h"
#include "csrf.h"
#include "routes.h"
#include "log.h"
#include "smtp.h"

/* The form's field names, in enum compose_field order. */
static const char *const field_names[COMPOSE_N_FIELDS] = {
	"from", "to", "cc", "subject", "body"
};

/* How an error next to each field names it: "To is not a list...". */
static const char *const field_subjects[COMPOSE_N_FIELDS] = {
	"From", "To", "Cc", "The subject", "The message"
};

/* What the user sees for each way a dialogue can end. */
struct verdict {
	int		 status;	/* HTTP status of the page */
	const char	*css;		/* "ok" or "fail" */
	const char	*title;
};

/* Plain words for the reply codes a student meets in the lab. */
static const struct {
	int		 code;
	const char	*meaning;
} reply_meanings[] = {
	{ 421, "The server is not available now and closed the "
	    "connection; try again later." },
	{ 450, "The mailbox is busy or unavailable for now; try again later." },
	{ 451, "The server had a local error; try again later." },
	{ 452, "The server is short of storage; try again later." },
	{ 501, "The server found a syntax error in an address or argument." },
	{ 503, "The server expected the commands in another order." },
	{ 550, "Mailbox unavailable: for RCPT TO, the recipient does not "
	    "exist on the server (check the user name and the domain)." },
	{ 551, "The recipient is not local to the server." },
	{ 552, "The message is larger than the server accepts." },
	{ 553, "The server does not accept this address." },
	{ 554, "The server refused the transaction." },
};

/* A sentence for a refusal with this code. */
static const char *
reply_meaning(int code)
{
	gsize	i;

	for (i = 0; i < G_N_ELEMENTS(reply_meanings); i++)
		if (reply_meanings[i].code == code)
			return reply_meanings[i].meaning;
	return code >= 500 ? "The server refused, for good: sending the same "
	    "again will fail the same way." :
	    "The server refused for now: the same mail may pass later.";
}

/* The form as typed, NULL fields as "". */
static void
read_form(const struct http_request *req, struct compose_form *f)
{
	const char	*v[COMPOSE_N_FIELDS];
	int		 i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < COMPOSE_N_FIELDS; i++) {
		v[i] = http_form(req, field_names[i]);
		if (v[i] == NULL)
			v[i] = "";
	}
	f->from = v[COMPOSE_FROM];
	f->to = v[COMPOSE_TO];
	f->cc = v[COMPOSE_CC];
	f->subject = v[COMPOSE_SUBJECT];
	f->body = v[COMPOSE_BODY];
}

/* ': "bob"', naming the item of a field that an error is about, or "".
 * Only checked fields have items: their text is valid UTF-8. */
static char *
error_item(const char *value, const struct compose_span *item)
{
	if (item->len == 0)
		return g_strdup("");
	return g_strdup_printf(": \"%.*s\"", (int)item->len,
	    value + item->off);
}

/* Put the typed values and their errors into vars. */
static void
set_form_vars(struct tmpl_vars *vars, const struct compose_form *f,
    const struct compose_errors *errors, gsize body_max)
{
	const char	*values[COMPOSE_N_FIELDS] = { f->from, f->to, f->cc,
			    f->subject, f->body };
	char		*limit = g_strdup_printf(" (at most %" G_GSIZE_FORMAT
			    " bytes)", body_max);
	int		 i;

	for (i = 0; i < COMPOSE_N_FIELDS; i++) {
		/* Shown again as typed; invalid UTF-8 made displayable. */
		char	*shown = g_utf8_make_valid(values[i], -1);
		char	*err_name = g_strconcat("err_", field_names[i], NULL);
		char	*item;

		tmpl_set(vars, field_names[i], shown);
		if (errors != NULL && errors->field[i] != NULL) {
			item = error_item(values[i], &errors->item[i]);
			tmpl_setf(vars, err_name, "%s %s%s%s.",
			    field_subjects[i], errors->field[i],
			    i == COMPOSE_BODY && errors->too_large ? limit :
			    "", item);
			g_free(item);
		}
		g_free(shown);
		g_free(err_name);
	}
	g_free(limit);
}

/* Render the send page: the form, with an optional notice and result. */
static void
send_page(const struct app *app, const struct http_request *req,
    struct http_response *resp, int status, const struct compose_form *f,
    const struct compose_errors *errors, struct tmpl_vars *vars)
{
	const struct config	*c = app->cfg;
	char			*token = csrf_token(req, resp);

	set_form_vars(vars, f, errors, c->max_body);
	tmpl_set(vars, "csrf_token", token);
	tmpl_setf(vars, "to_hint", "root@%s", c->domain);
	tmpl_setf(vars, "smtp_server", "%s:%s", c->smtp_host, c->smtp_port);
	app_page(app, req, resp, status, "Send a mail", "send", vars);
	http_response_add_header(resp, "Cache-Control", "no-store");
	g_free(token);
}

/* TRUE if sending needs a login (--send-requires-login) and req has
 * none; *user gets the logged-in user, if any (the caller frees it). */
static gboolean
login_missing(const struct app *app, const struct http_request *req,
    struct http_response *resp, char **user)
{
	*user = app_user(app, req, resp);
	return *user == NULL && app->cfg->send_requires_login;
}

void
route_send_form(const struct app *app, const struct http_request *req,
    struct http_response *resp)
{
	struct compose_form	 f = { .from = "", .to = "", .cc = "",
	    .subject = "", .body = "" };
	struct tmpl_vars	*vars;
	char			*user, *from = NULL;

	if (login_missing(app, req, resp, &user)) {
		route_login_page(app, req, resp, 401,
		    "Log in to send mail from here.");
		return;
	}
	/* Logged in: propose the user's own address, still editable. */
	if (user != NULL)
		f.from = from = g_strdup_printf("%s@%s", user,
		    app->cfg->domain);
	vars = tmpl_vars_new();
	send_page(app, req, resp, 200, &f, NULL, vars);
	tmpl_vars_free(vars);
	g_free(from);
	g_free(user);
}

/* The line as HTML, with the queue id marked in the server's reply. */
static void
set_line_html(struct tmpl_vars *vars, const struct smtp_line *line,
    const char *queue_id)
{
	const char	*at = NULL;
	GString		*html = g_string_new(NULL);
	gsize		 len;

	/* Only where the server gives it, after "queued as": an id such
	 * as "2" is in many a line. */
	if (line->kind == SMTP_LINE_SERVER && queue_id != NULL &&
	    (at = smtp_queue_id_find(line->text, &len)) != NULL &&
	    (len != strlen(queue_id) || memcmp(at, queue_id, len) != 0))
		at = NULL;
	if (at == NULL)
		tmpl_escape(html, line->text);
	else {
		char	*before = g_strndup(line->text, at - line->text);

		tmpl_escape(html, before);
		g_string_append(html, "<mark>");
		tmpl_escape(html, queue_id);
		g_string_append(html, "</mark>");
		tmpl_escape(html, at + strlen(queue_id));
		g_free(before);
	}
	/* SAFE: every piece of text went through tmpl_escape(). */
	tmpl_set_html(vars, "line", html->str);
	g_string_free(html, TRUE);
}

/* The transcript as table rows, client and server told apart; lock is
 * the HTML that marks a line inside TLS. */
static char *
render_transcript(const struct app *app, const struct smtp_outcome *o,
    const char *lock)
{
	static const char *const kinds[] = {
		[SMTP_LINE_CLIENT] = "client", [SMTP_LINE_DATA] = "data",
		[SMTP_LINE_SERVER] = "server", [SMTP_LINE_NOTE] = "note",
	};
	static const char *const arrows[] = {
		[SMTP_LINE_CLIENT] = "C:", [SMTP_LINE_DATA] = "C:",
		[SMTP_LINE_SERVER] = "S:", [SMTP_LINE_NOTE] = "--",
	};
	const struct tmpl	*row = app_template(app, "transcript-line");
	GString			*out = g_string_new(NULL);
	struct tmpl_vars	*vars = tmpl_vars_new();
	time_t			 last = -1;
	struct tm		 tm = { 0 };
	gint64			 tenths;
	guint			 i;

	for (i = 0; i < o->transcript->len; i++) {
		const struct smtp_line	*line = o->transcript->pdata[i];
		time_t			 sec = line->time_us / G_USEC_PER_SEC;

		/* localtime_r (GDateTime would re-read the zone per line),
		 * once per second of the dialogue: it takes a global lock. */
		if (sec != last)
			localtime_r(&sec, &tm);
		last = sec;
		tmpl_set(vars, "kind", kinds[line->kind]);
		tmpl_set(vars, "dir", arrows[line->kind]);
		/* Lines inside TLS: a class for the style, a lock for the
		 * eye (its alt text for a page read without images). */
		tmpl_set(vars, "tls", line->tls ? " tls" : "");
		/* SAFE: rendered from a template. */
		tmpl_set_html(vars, "lock", line->tls ? lock : "");
		tmpl_setf(vars, "time", "%02d:%02d:%02d.%03d", tm.tm_hour,
		    tm.tm_min, tm.tm_sec,
		    (int)(line->time_us % G_USEC_PER_SEC / 1000));
		tenths = (line->elapsed_us + 50) / 100;
		tmpl_setf(vars, "elapsed", "+%" G_GINT64_FORMAT ".%d ms",
		    tenths / 10, (int)(tenths % 10));
		set_line_html(vars, line, o->queue_id);
		tmpl_render(row, vars, out);
	}
	tmpl_vars_free(vars);
	return g_string_free(out, FALSE);
}

/* The refused recipients as list items. */
static char *
render_refused(const struct smtp_outcome *o)
{
	GString	*out = g_string_new(NULL);
	guint	 i;

	for (i = 0; i < o->refused->len; i++) {
		const struct smtp_refusal *r = o->refused->pdata[i];

		g_string_append(out, "<li><code>");
		tmpl_escape(out, r->rcpt);
		g_string_append(out, "</code> refused: <code>");
		tmpl_escape(out, r->reply);
		g_string_append(out, "</code><br><span class=\"why\">");
		tmpl_escape(out, reply_meaning(r->code));
		g_string_append(out, "</span></li>\n");
	}
	return g_string_free(out, FALSE);
}

/* TRUE if the transcript has a line of kind (with text, unless NULL). */
static gboolean
transcript_has(const struct smtp_outcome *o, enum smtp_line_kind kind,
    const char *text)
{
	const struct smtp_line	*l;
	guint			 i;

	for (i = 0; i < o->transcript->len; i++) {
		l = g_ptr_array_index(o->transcript, i);
		if (l->kind == kind && (text == NULL ||
		    strcmp(l->text, text) == 0))
			return TRUE;
	}
	return FALSE;
}

/* TRUE if the server said anything: a connection that failed then was
 * cut during the dialogue, not refused or unreachable. */
static gboolean
dialogue_began(const struct smtp_outcome *o)
{
	return transcript_has(o, SMTP_LINE_SERVER, NULL);
}

/* TRUE if the whole message, its final "." included, was written: a
 * session lost after that may have delivered the mail all the same
 * (RFC 5321 6.1 names the duplicate this makes). */
static gboolean
message_written(const struct smtp_outcome *o)
{
	return transcript_has(o, SMTP_LINE_CLIENT, ".");
}

/* Status, style and headline for the way the session ended. */
static struct verdict
judge(const struct smtp_outcome *o)
{
	switch (o->status) {
	case SMTP_OK:
		return (struct verdict){ 200, "ok", o->refused->len > 0 ?
		    "Mail queued, not for every recipient" : "Mail queued" };
	case SMTP_TIMEOUT:
		return (struct verdict){ 504, "fail",
		    "The SMTP server did not answer in time" };
	case SMTP_TOO_BIG:
		return (struct verdict){ 413, "fail",
		    "The message is larger than the server accepts" };
	case SMTP_CONN_FAILED:
		return (struct verdict){ 502, "fail", dialogue_began(o) ?
		    "The connection was cut during the dialogue" :
		    "No dialogue with the SMTP server" };
	case SMTP_PROTOCOL:
		return (struct verdict){ 502, "fail",
		    "The server's reply was not valid SMTP" };
	case SMTP_UNSUPPORTED:
		return (struct verdict){ 502, "fail",
		    "The addresses need SMTPUTF8, which the server lacks" };
	case SMTP_TLS_FAILED:
		return (struct verdict){ 502, "fail",
		    "No TLS with the SMTP server" };
	case SMTP_REFUSED:
	default:
		return (struct verdict){ 502, "fail",
		    "The SMTP server refused the mail" };
	}
}

/* What the page says about TLS: a summary, and a warning when the
 * server's certificate was not checked or did not check out. */
static void
set_tls_vars(struct tmpl_vars *vars, const struct smtp_outcome *o)
{
	/* The legend explains the lock only where the dialogue has one. */
	tmpl_set(vars, "tls_key_hidden", o->tls ? "" : " hidden");
	if (o->tls && o->tls_verified)
		tmpl_setf(vars, "tls_summary", "After STARTTLS the dialogue "
		    "was encrypted: %s. The server's certificate was "
		    "verified.", o->tls_desc);
	else if (o->tls) {
		tmpl_setf(vars, "tls_summary", "After STARTTLS the dialogue "
		    "was encrypted: %s.", o->tls_desc);
		/* Encrypted to whoever answered: say so where it shows. */
		if (o->tls_untrusted != NULL)
			tmpl_setf(vars, "tls_warning", "Warning: the server's "
			    "certificate did not check out, so a man in the "
			    "middle could have read and changed this mail, "
			    "which went encrypted all the same "
			    "(--smtp-tls=auto). Why: \"%s\". To trust a lab "
			    "server's self-signed certificate, whoever runs "
			    "labmail gives it with --smtp-ca, and --smtp names "
			    "the server as the certificate does.",
			    o->tls_untrusted);
		else
			tmpl_set(vars, "tls_warning", "Warning: the server's "
			    "certificate was not checked (--smtp-insecure), "
			    "so a man in the middle could have read and "
			    "changed this mail.");
	} else if (o->status == SMTP_OK)
		tmpl_set(vars, "tls_summary", "The dialogue was not "
		    "encrypted: no STARTTLS.");
}

/* TRUE if the session ended on the refusal of its last recipient,
 * every one refused: the list of refusals then says it all. */
static gboolean
refused_all(const struct smtp_outcome *o)
{
	const struct smtp_refusal	*last;

	if (o->status != SMTP_REFUSED || o->n_accepted > 0 ||
	    o->refused->len == 0)
		return FALSE;
	last = g_ptr_array_index(o->refused, o->refused->len - 1);
	return o->code == last->code && g_strcmp0(o->reply, last->reply) == 0;
}

#define MAY_HAVE_GONE	"The server had the whole message: it may have " \
			    "been delivered all the same, so look in the " \
			    "recipient's mailbox before sending it again."

/* What became of the mail when the dialogue stopped short. */
static const char *
after_cut(const struct smtp_outcome *o)
{
	return message_written(o) ? MAY_HAVE_GONE : "The server never had "
	    "the whole message, so it delivers nothing: send it again.";
}

/* " " MAY_HAVE_GONE when the whole message was written, else "": for
 * endings where a message not written goes without saying. */
static const char *
if_written(const struct smtp_outcome *o)
{
	return message_written(o) ? " " MAY_HAVE_GONE : "";
}

/* What the outcome means, in plain words, with what to check in the lab
 * when the server could not be reached. */
static void
set_explain(struct tmpl_vars *vars, const struct smtp_outcome *o,
    const struct config *c)
{
	switch (o->status) {
	case SMTP_OK:
		tmpl_setf(vars, "explain", "Accepted for %u recipient%s%s%s.%s",
		    o->n_accepted, o->n_accepted == 1 ? "" : "s",
		    o->queue_id ? " and queued as " : "; the server's reply "
		    "gives no queue id", o->queue_id ? o->queue_id : "",
		    o->refused->len > 0 ? " The server refused the "
		    "recipients below: the mail does not go to them." : "");
		break;
	case SMTP_REFUSED:
		if (refused_all(o))
			tmpl_set(vars, "explain", "The server refused every "
			    "recipient, as listed below, so the message was not "
			    "sent.");
		else if (o->code != 0)
			tmpl_set(vars, "explain", reply_meaning(o->code));
		break;
	case SMTP_TLS_FAILED:
		tmpl_setf(vars, "explain", "Nothing was sent: %s. TLS to the "
		    "server is set with --smtp-tls, the certificates it must "
		    "chain to with --smtp-ca.", o->tls_error != NULL ?
		    o->tls_error : "TLS could not be set up");
		break;
	case SMTP_CONN_FAILED:
		if (dialogue_began(o))
			tmpl_setf(vars, "explain", "The connection to %s port "
			    "%s was cut before the server confirmed the mail "
			    "(the dialogue's last lines say where). %s",
			    c->smtp_host, c->smtp_port, after_cut(o));
		else
			tmpl_setf(vars, "explain", "The connection to %s port "
			    "%s failed (the dialogue's notes say why), so the "
			    "mail was not sent. On the SMTP machine, is Postfix "
			    "running (systemctl status postfix) and listening "
			    "on that address (ss -tln; inet_interfaces in "
			    "main.cf)? Is the address right (--smtp)?",
			    c->smtp_host, c->smtp_port);
		break;
	case SMTP_TIMEOUT:
		tmpl_setf(vars, "explain", "%s port %s did not answer within "
		    "the time allowed (--smtp-connect-timeout, --smtp-timeout"
		    ", --smtp-data-timeout), so the mail was not confirmed. "
		    "The machine may be down or busy, or a firewall may drop "
		    "the packets on the way.%s", c->smtp_host, c->smtp_port,
		    if_written(o));
		break;
	case SMTP_TOO_BIG:
		tmpl_set(vars, "explain", "The server's reply to EHLO gives "
		    "a size limit (SIZE) smaller than this message, so labmail "
		    "did not offer it. Shorten the message.");
		break;
	case SMTP_UNSUPPORTED:
		tmpl_set(vars, "explain", "An address has letters beyond "
		    "ASCII before its @, which needs the SMTPUTF8 extension "
		    "(RFC 6531), and the server does not offer it. Nothing was "
		    "sent.");
		break;
	case SMTP_PROTOCOL:
		tmpl_setf(vars, "explain", "The server answered with something "
		    "that is not an SMTP reply, or out of turn (the dialogue's "
		    "last notes say what), so labmail stopped. Is %s port %s "
		    "an SMTP server?%s", c->smtp_host, c->smtp_port,
		    if_written(o));
		break;
	default:
		break;
	}
}

/* The time zone of the transcript's times, "UTC" or "CET": the page's
 * reader may be in another one.  Static storage (glibc's tm_zone). */
static const char *
transcript_zone(const struct smtp_outcome *o)
{
	const struct smtp_line	*first;
	struct tm		 tm;
	time_t			 sec;

	if (o->transcript->len == 0)
		return "";
	first = o->transcript->pdata[0];
	sec = first->time_us / G_USEC_PER_SEC;
	if (localtime_r(&sec, &tm) == NULL || tm.tm_zone == NULL)
		return "";
	return tm.tm_zone;
}

/* Put the outcome of the session into vars, for the page that answers
 * req; returns the HTTP status. */
static int
set_result_vars(const struct app *app, const struct http_request *req,
    struct tmpl_vars *vars, const struct smtp_outcome *o)
{
	struct verdict	 v = judge(o);
	GString		*result = g_string_new(NULL);
	char		*lock = app_icon(app, req, "lock", "(TLS)");
	char		*rows = render_transcript(app, o, lock);
	char		*refused = render_refused(o);

	tmpl_set(vars, "zone", transcript_zone(o));
	tmpl_set(vars, "verdict_class", v.css);
	tmpl_set(vars, "verdict", v.title);
	set_explain(vars, o, app->cfg);
	set_tls_vars(vars, o);
	/* The list of refusals has the reply already when it is all. */
	tmpl_set(vars, "reply", o->status == SMTP_OK || refused_all(o) ? "" :
	    o->reply);
	tmpl_set(vars, "queue_id", o->queue_id);
	/* Not a CSS :has() rule: Firefox ESR 115, in Debian 12, lacks it. */
	tmpl_set(vars, "queue_hidden", o->queue_id != NULL ? "" : " hidden");
	/* SAFE: built from templates and tmpl_escape(). */
	tmpl_set_html(vars, "transcript", rows);
	tmpl_set_html(vars, "refused", refused);
	/* SAFE: rendered from a template. */
	tmpl_set_html(vars, "lock", lock);
	tmpl_render(app_template(app, "send-result"), vars, result);
	/* SAFE: rendered from a template. */
	tmpl_set_html(vars, "result", result->str);
	g_string_free(result, TRUE);
	g_free(lock);
	g_free(rows);
	g_free(refused);
	return v.status;
}

/* Build the message for what the server offers, then send it. */
static void
compose_and_send(const struct app *app, struct smtp_session *s,
    const struct compose_draft *draft)
{
	const struct smtp_caps	*caps = smtp_session_caps(s);
	struct compose_options	 opts = {
		.eightbit = caps->eightbitmime,
		.id_domain = app->cfg->domain,
		.date = g_get_real_time() / G_USEC_PER_SEC,
	};
	struct compose_mail	*mail = compose_build(draft, &opts);
	struct smtp_envelope	 env;

	env.mail_from = mail->mail_from;
	env.rcpt = (const char *const *)mail->rcpt->pdata;
	env.n_rcpt = mail->rcpt->len;
	env.eightbit = mail->eightbit;
	env.smtputf8 = mail->smtputf8;
	smtp_session_send(s, &env, mail->message);
	compose_mail_free(mail);
}

/* The SMTP client's STARTTLS mode for --smtp-tls. */
static enum smtp_tls_mode
smtp_tls_mode(enum config_smtp_tls t)
{
	switch (t) {
	case CONFIG_SMTP_TLS_REQUIRED:
		return SMTP_TLS_REQUIRED;
	case CONFIG_SMTP_TLS_OFF:
		return SMTP_TLS_OFF;
	case CONFIG_SMTP_TLS_AUTO:
	default:
		return SMTP_TLS_AUTO;
	}
}

/*
 * One line for whoever runs labmail: how a send ended, with the last
 * reply code and the queue id, which the access log's "502" does not
 * tell.  Not the reply's text: it may quote what the user typed (an
 * address), and nothing of the form goes into the log.
 */
static void
log_outcome(const struct config *c, const struct http_request *req,
    const struct smtp_outcome *o)
{
	char	code[32] = "";

	if (o->code != 0)
		g_snprintf(code, sizeof(code), ", last reply %d", o->code);
	log_info("send from %s to %s port %s: %s%s%s%s%s", req->peer,
	    c->smtp_host, c->smtp_port, smtp_status_str(o->status), code,
	    o->queue_id != NULL ? ", queued as " : "",
	    o->queue_id != NULL ? o->queue_id : "",
	    o->refused->len == 0 ? "" : o->n_accepted > 0 ?
	    ", some recipients refused" : ", every recipient refused");
}

/* Run the whole dialogue; the page shows it, whatever the outcome, with
 * the form f that draft was checked from. */
static void
deliver(const struct app *app, const struct http_request *req,
    struct http_response *resp, const struct compose_form *f,
    const struct compose_draft *draft)
{
	const struct config	*c = app->cfg;
	struct smtp_params	 params = {
		.host = c->smtp_host,
		.port = c->smtp_port,
		.helo_name = c->helo,
		.connect_timeout_ms = c->smtp_connect_timeout * 1000,
		.command_timeout_ms = c->smtp_timeout * 1000,
		.data_timeout_ms = c->smtp_data_timeout * 1000,
		.tls = smtp_tls_mode(c->smtp_tls),
		.trust = app->smtp_trust,
		.insecure = c->smtp_insecure,
	};
	struct smtp_session	*s = smtp_session_new(&params);
	struct tmpl_vars	*vars = tmpl_vars_new();
	int			 status;

	if (smtp_session_open(s) == SMTP_OK)
		compose_and_send(app, s, draft);
	smtp_session_quit(s);
	log_outcome(c, req, smtp_session_outcome(s));
	status = set_result_vars(app, req, vars, smtp_session_outcome(s));
	send_page(app, req, resp, status, f, NULL, vars);
	tmpl_vars_free(vars);
	smtp_session_free(s);
}

/* What http.c refuses to read a field for (see req->bad_field). */
#define UNREADABLE	"holds a NUL byte or a broken %-escape"

/*
 * Mark the field that the front end could not read, if the form has
 * one, among the user's fields.  FALSE when it is some other field: a
 * client of our own making, as a browser sends no such thing.
 */
static gboolean
mark_unreadable(const struct http_request *req, struct compose_errors *e)
{
	int	i;

	if (req->bad_field == NULL)
		return TRUE;
	for (i = 0; i < COMPOSE_N_FIELDS; i++)
		if (strcmp(req->bad_field, field_names[i]) == 0) {
			e->field[i] = UNREADABLE;
			e->item[i].len = 0;
			return TRUE;
		}
	return FALSE;
}

void
route_send_post(const struct app *app, const struct http_request *req,
    struct http_response *resp)
{
	struct compose_form	 f;
	struct compose_errors	 errors;
	struct compose_draft	*draft = NULL;
	struct tmpl_vars	*vars;
	char			*user;

	vars = tmpl_vars_new();
	read_form(req, &f);
	if (login_missing(app, req, resp, &user)) {
		/* A session that ended while the user typed: keep the text
		 * for a send once logged in (in another tab, say). */
		tmpl_set(vars, "notice", "Sending needs a login, and you are "
		    "not logged in (or your session has ended), so nothing was "
		    "sent. Log in from the Login page, in another tab to keep "
		    "this text, then send again.");
		send_page(app, req, resp, 401, &f, NULL, vars);
	} else if (!csrf_check(req)) {
		tmpl_set(vars, "notice", "This form had expired or did not "
		    "come from this page, so nothing was sent. Check it and "
		    "send it again.");
		send_page(app, req, resp, 403, &f, NULL, vars);
	} else if ((draft = compose_check(&f, app->cfg->max_body,
	    &errors)) == NULL || req->bad_field != NULL) {
		if (!mark_unreadable(req, &errors))
			tmpl_setf(vars, "notice", "Nothing was sent: the form's "
			    "field \"%s\" %s.", req->bad_field, UNREADABLE);
		else
			tmpl_set(vars, "notice", "Nothing was sent: please "
			    "correct the fields marked below.");
		send_page(app, req, resp, errors.too_large ? 413 : 400, &f,
		    &errors, vars);
	} else
		deliver(app, req, resp, &f, draft);
	compose_draft_free(draft);
	tmpl_vars_free(vars);
	g_free(user);
}
