/*
 * compose - check the send form and turn it into an RFC 5322/MIME message.
 *
 * Pure module (no I/O): the form's fields come in as the user typed them;
 * compose_check() says, field by field, what is wrong, or gives a draft;
 * compose_build() makes the envelope and the message text from a draft,
 * with GMime.
 *
 * Security: From, To, Cc and Subject are single-line fields.  A CR or LF
 * in them is refused, never stripped, so that no SMTP command or header
 * can be smuggled in; NUL bytes and invalid UTF-8 are refused everywhere.
 *
 * Ownership: the form is borrowed; a draft and a struct compose_mail (and
 * everything in it) belong to the caller, freed with compose_draft_free()
 * and compose_mail_free().
 */
#ifndef LABMAIL_COMPOSE_H
#define LABMAIL_COMPOSE_H

#include <glib.h>

#define COMPOSE_LINE_FIELD_MAX	998		/* from, to, cc, subject */
#define COMPOSE_RCPT_MAX	50		/* to + cc addresses */

enum compose_field {
	COMPOSE_FROM,
	COMPOSE_TO,
	COMPOSE_CC,
	COMPOSE_SUBJECT,
	COMPOSE_BODY,
	COMPOSE_N_FIELDS
};

/*
 * What the user typed; NULL is the same as "".  The fields are C strings:
 * a NUL byte cannot reach this module, the HTTP front end refuses it
 * (see http_request_add_field()).
 */
struct compose_form {
	const char	*from;
	const char	*to;		/* addresses separated by commas */
	const char	*cc;
	const char	*subject;
	const char	*body;
};

/* A part of a field's text, in octets. */
struct compose_span {
	gsize		 off;
	gsize		 len;
};

struct compose_errors {
	/* NULL, or a message for the user, in English, static storage:
	 * a predicate that follows the field's name ("is required"). */
	const char	*field[COMPOSE_N_FIELDS];
	/* For an address field refused for one of its items: that item,
	 * blanks around it left out, so that the user is shown which
	 * address of a list is wrong.  len 0: no such item. */
	struct compose_span item[COMPOSE_N_FIELDS];
	gboolean	 too_large;	/* body over the limit: answer 413 */
};

/*
 * A form that compose_check() accepted, its addresses parsed: the only
 * thing compose_build() takes, so no unchecked form can be built, and
 * no address is parsed twice.  It borrows the form, the struct and its
 * strings: free the draft first.
 */
struct compose_draft;

/*
 * Check every field; body_max is labmail's limit on the body in octets.
 * Returns the draft when there is nothing to report, else NULL; errs
 * is filled in either way.
 */
struct compose_draft *compose_check(const struct compose_form *,
		    gsize body_max, struct compose_errors *);
void		 compose_draft_free(struct compose_draft *);

struct compose_options {
	gboolean	 eightbit;	/* server offers 8BITMIME: send UTF-8
					 * body as 8bit, else quoted-printable */
	const char	*id_domain;	/* right side of the Message-ID */
	gint64		 date;		/* Unix time for the Date header */
};

/* Envelope addr-specs carry IDN domains as A-labels (xn--...). */
struct compose_mail {
	char		*mail_from;	/* addr-spec of the first From mailbox */
	GPtrArray	*rcpt;		/* char *, addr-specs of To then Cc,
					 * duplicates left out (a domain in
					 * any case, a local part exactly) */
	gboolean	 eightbit;	/* body went out as 8bit */
	gboolean	 smtputf8;	/* an address is not ASCII */
	GBytes		*message;	/* the message, CRLF line ends */
};

/*
 * Build the message: Date, Message-ID, From, To, Cc (if any), Subject,
 * MIME-Version, a text/plain UTF-8 body; RFC 2047 words for non-ASCII
 * subject and names; no line longer than 998 octets.
 */
struct compose_mail *compose_build(const struct compose_draft *,
		    const struct compose_options *);
void		 compose_mail_free(struct compose_mail *);

/* Initialise GMime once per process, before any other call. */
void		 compose_init(void);

#endif
