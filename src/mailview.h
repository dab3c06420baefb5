/*
 * mailview - one message of a spool, parsed with GMime into what a page
 * may show: decoded headers, text, and a list of the other parts.
 *
 * Mail is attacker-controlled.  Nothing here produces HTML: every string
 * is plain UTF-8 text that the page escapes.  Text parts are decoded
 * (quoted-printable, base64, any charset GMime knows) into UTF-8, with
 * invalid sequences replaced; an HTML part is never turned into page
 * markup: it is listed, and served on its own (see mailview_part()) for
 * a sandboxed frame.  The MDA's ">From " quoting is undone in text.
 *
 * The message is read from an open spool file between two offsets
 * through a bounded GMime stream, so a message of tens of MB is not
 * loaded whole; text shown is capped at MAILVIEW_TEXT_MAX per part.
 *
 * Ownership: the struct mailview and all its strings belong to the
 * caller (mailview_free()).  The fd is borrowed, never closed here; its
 * file offset is moved.
 *
 * Every string is valid UTF-8 in which control characters (but '\n' and
 * '\t' in text, '\t' in headers) and the bidi embedding, override and
 * isolate characters (U+202A-U+202E, U+2066-U+2069) are replaced by
 * U+FFFD; a file name has them removed.  GMime must be initialised
 * (g_mime_init(), done once at start-up by compose_init()).
 */
#ifndef LABMAIL_MAILVIEW_H
#define LABMAIL_MAILVIEW_H

#include <glib.h>

#define MAILVIEW_TEXT_MAX	(1024 * 1024)	/* UTF-8 bytes per text part */
#define MAILVIEW_PARTS_MAX	256		/* parts listed */

#define MAILVIEW_ERROR		mailview_error_quark()
enum mailview_error_code {
	MAILVIEW_ERROR_RANGE,	/* start after end, or past 2^63 */
	MAILVIEW_ERROR_PARSE,	/* GMime found no message there */
	MAILVIEW_ERROR_NO_PART,	/* mailview_part(): no such number */
	MAILVIEW_ERROR_IO,	/* reading or decoding the part failed */
};
GQuark	mailview_error_quark(void);

enum mailview_kind {
	MAILVIEW_TEXT,		/* text/plain (or any text/ but html):
				 * shown inline */
	MAILVIEW_HTML,		/* text/html: listed, shown sandboxed */
	MAILVIEW_ATTACHMENT,	/* anything else, or a disposition of
				 * attachment: listed, downloaded */
};

struct mailview_part {
	enum mailview_kind kind;
	guint		 number;	/* 1-based, depth-first over the
					 * leaf parts; stable for URLs */
	char		*content_type;	/* "image/png", lower case */
	char		*filename;	/* decoded, path parts removed;
					 * NULL if none */
	gsize		 size;		/* decoded size in bytes */
	char		*text;		/* MAILVIEW_TEXT: the decoded text,
					 * else NULL */
	gboolean	 truncated;	/* text cut at MAILVIEW_TEXT_MAX */
};

struct mailview {
	char		*from;		/* decoded, as "Name <addr>";
					 * "" if absent */
	char		*to;		/* "" if absent */
	char		*cc;		/* NULL if absent */
	char		*subject;	/* decoded, "" if absent */
	char		*date;		/* the Date header as written
					 * (unfolded); "" if absent */
	gint64		 date_unix;	/* parsed, 0 if unparsable */
	char		*message_id;	/* without <>; NULL if absent */
	char		*return_path;	/* the first Return-Path header as
					 * written (not decoded), the
					 * envelope sender (MAIL FROM) that
					 * the delivery recorded; NULL if
					 * absent or empty */
	GPtrArray	*received;	/* char *, each Received header
					 * unfolded, top (newest) first */
	GPtrArray	*parts;		/* struct mailview_part *, leaves */
};

/*
 * Parse the message stored in fd from offset start to end (end excluded;
 * the From_ line already skipped by the caller).  NULL with *err set if
 * GMime cannot parse anything at all.
 */
struct mailview	*mailview_parse(int fd, guint64 start, guint64 end,
		    GError **err);
void		 mailview_free(struct mailview *);

/*
 * Write the decoded content of leaf part number (as in struct
 * mailview_part) to file out, as it is decoded; *content_type and
 * *filename (may be NULL) are set for the download.  FALSE if there is
 * no such part (*err MAILVIEW_ERROR_NO_PART: a 404), or on failure
 * (out may then hold part of it).  Text parts keep their charset:
 * *content_type is then the part's text/ type with "; charset=x" after
 * it, x the declared name in lower case when iconv knows it, or GMime's
 * canonical name when the declared one is no token ("ISO_8859-1:1987"
 * goes as "iso-8859-1"), else no charset.  *content_type holds token
 * characters only and may go into a header as is; *filename has no
 * control characters but may hold '"' or ';': encode it (RFC 6266
 * filename*).
 */
gboolean	 mailview_part(int fd, guint64 start, guint64 end,
		    guint number, int out, char **content_type,
		    char **filename, GError **err);

#endif
