/*
 * spool - an index of an mbox spool (spool-dir/USER, /var/mail/USER by
 * default), read, never written.
 *
 * The index holds where each message starts and ends; the summary of a
 * message (sender, subject, date...) is read from its headers only when
 * a page needs it, and then kept.  Building the index reads the file in
 * fixed-size chunks, never the whole spool into memory.  When the spool
 * has only grown since the last look (same file, same bytes where the
 * old end was), spool_index_update() reads the new bytes alone; when it
 * was rewritten or shrunk (another reader deleted mail), it indexes
 * again from the start.
 *
 * Locking: every read of the file happens under an fcntl read lock (an
 * open-file-description lock, F_OFD_SETLK, which conflicts with the
 * fcntl write lock that Postfix's local(8) holds while it appends), so a
 * half-written delivery is never seen.  Taking the lock waits at most
 * SPOOL_LOCK_WAIT_MS, then gives up with SPOOL_ERROR_LOCKED.
 *
 * The mbox as found in the field: a message starts at a "From " line at
 * the start of the file or after a blank line, whose form is that of a
 * From_ line ("From sender Www Mmm dd hh:mm:ss yyyy"); a "From " line in
 * a body that does not look like that is body text.  LF and CRLF line
 * ends, a last message without a final newline, bytes before the first
 * From_ line (ignored), an empty file.  Offsets are 64-bit: a spool of
 * several GB is fine.
 *
 * Threads: a struct spool_index is not locked; the caller serialises use
 * of one index (one per user).  Ownership: the index owns its messages
 * and summaries; pointers returned live until the next update or free.
 * The fd is borrowed and never closed here.
 */
#ifndef LABMAIL_SPOOL_H
#define LABMAIL_SPOOL_H

#include <glib.h>
#include <gmime/gmime.h>

#define SPOOL_CHUNK		(1024 * 1024)	/* bytes read at a time */
#define SPOOL_HEADER_FIRST	(4 * 1024)	/* read first for a summary */
#define SPOOL_HEADER_MAX	(64 * 1024)	/* header bytes read for a summary */
#define SPOOL_LOCK_WAIT_MS	10000
#define SPOOL_FINGERPRINT	64		/* bytes kept from before the
						 * indexed end, to see a rewrite */
/*
 * A longer "From " line is body text.  Postfix takes a MAIL FROM of up to
 * 2048 bytes (line_length_limit) and writes its sender into the From_
 * line, quoted, so perhaps twice as long.
 */
#define SPOOL_FROM_LINE_MAX	8192

#define SPOOL_ERROR		spool_error_quark()
enum spool_error_code {
	SPOOL_ERROR_IO,		/* read or fstat failed */
	SPOOL_ERROR_LOCKED,	/* the lock was not had in time */
	SPOOL_ERROR_CHANGED,	/* the file no longer matches the index
				 * (shorter, or no "From " where a message
				 * starts): update the index, try again */
	SPOOL_ERROR_NO_MESSAGE,	/* no message has that number */
};
GQuark	spool_error_quark(void);

/*
 * Strings are valid UTF-8, at most SPOOL_SUMMARY_CHARS characters, with
 * control characters (a decoded word may hold CR LF or ESC) made spaces
 * and bidi controls (see textsafe.h) made U+FFFD.
 */
#define SPOOL_SUMMARY_CHARS	256

struct spool_summary {
	char		*from_name;	/* decoded display name, may be "" */
	char		*from_addr;	/* addr-spec; the From_ line's sender
					 * if there is no From:; may be "" */
	char		*subject;	/* RFC 2047 decoded, UTF-8, may be "" */
	gint64		 date;		/* Unix time from Date:, or the From_
					 * line's date, or 0 */
	gboolean	 has_attachment;	/* multipart/mixed, or a
						 * Content-Disposition:
						 * attachment at the top */
};

struct spool_message {
	guint64		 offset;	/* of its From_ line */
	guint64		 length;	/* up to the next From_ line */
	guint64		 body_offset;	/* first byte after the From_ line */
	struct spool_summary *summary;	/* NULL until spool_summary() */
	gboolean	 summary_complete;	/* its header block was read
						 * to the blank line */
};

struct spool_index;

struct spool_index *spool_index_new(void);
void		 spool_index_free(struct spool_index *);

/* How long taking the lock may wait (SPOOL_LOCK_WAIT_MS by default). */
void		 spool_index_set_lock_wait(struct spool_index *, guint ms);

/*
 * Bring the index up to date with the file open on fd: read only the
 * new bytes if the file has only grown, else everything.  *bytes_read,
 * if not NULL, gets how many bytes were read (for tests and benchmarks):
 *  - same file, same size, same mtime: the fingerprint only, the
 *    SPOOL_FINGERPRINT bytes before the end (fewer in a smaller file);
 *  - same file, grown, fingerprint unchanged: the new bytes, plus the
 *    fingerprint, or, if the old end was inside a line, back to that
 *    line's start when it may yet become a From_ line (shorter than
 *    SPOOL_FROM_LINE_MAX);
 *  - anything else (another inode, shrunk, fingerprint or, at the same
 *    size, mtime changed, or a From_ line cut by the old end): the
 *    whole file, plus the bytes before the old end read to see that.
 * On SPOOL_ERROR_LOCKED the index is as it was (nothing was read); on
 * any other failure it is left empty (spool_count() is 0) and the next
 * update reads the whole file.
 */
gboolean	 spool_index_update(struct spool_index *, int fd,
		    guint64 *bytes_read, GError **err);

/* Messages, oldest first (number 1 is the oldest). */
guint		 spool_count(const struct spool_index *);
const struct spool_message *spool_message(const struct spool_index *,
		    guint number);

/* The summary of message number (read from fd and kept), or NULL. */
const struct spool_summary *spool_summary(struct spool_index *, int fd,
		    guint number, GError **err);

/*
 * Copy message number's bytes (From_ line excluded), read under the
 * lock, to the end of file out, a chunk at a time: a message of tens of
 * MB never sits in memory.  FALSE with *err set on failure (out may
 * then hold part of it).
 */
gboolean	 spool_copy_message(const struct spool_index *, int fd,
		    guint number, int out, GError **err);

/*
 * Take the read lock on fd (waiting up to SPOOL_LOCK_WAIT_MS), for a
 * reader that reads the file itself (the message view); release it
 * with spool_unlock().  Not around the calls above on the same fd: they
 * lock and unlock themselves, and unlocking drops the lock of the whole
 * open file description.
 */
gboolean	 spool_lock(int fd, GError **err);
void		 spool_unlock(int fd);

/*
 * The text of the header name of a GMime message or part, unfolded, its
 * RFC 2047 words decoded one at a time (the white space between two of
 * them dropped, RFC 2047 6.2); NULL when there is no such header.  Not
 * yet cleaned for a page.  The caller frees it.
 */
char		*spool_header_text(GMimeObject *, const char *name);

/* Pure helpers, for the unit tests. */

/*
 * TRUE if line (len bytes, no line end) has the form of a From_ line;
 * sets *when (if not NULL) to its date if it does.  The date has no zone
 * in Postfix's form (asctime(3) of the server's local time): it is then
 * taken in our local time zone (TZ); a numeric zone (+0100) or an
 * RFC 822 one (EST...) is applied.
 */
gboolean	 spool_is_from_line(const char *line, gsize len, gint64 *when);

/* Undo the quoting of Postfix's local(8) in place on one line: ">From "
 * -> "From ".  Only that: it quotes no other line (mboxo, not mboxrd),
 * so ">>From " came as it is.  Returns the new length. */
gsize		 spool_unquote_from(char *line, gsize len);

#endif
