/*
 * spool - an index of an mbox spool: where each message starts and ends.
 *
 * The scan looks for "\nFrom " with memmem() over chunks read with
 * pread(), so a spool of a few GB costs about what grep costs; each hit
 * is a candidate only when the line before it is blank (or no message
 * has been seen yet), and a candidate is a message start only when its
 * line has the form of a From_ line.  A buffer keeps, between chunks,
 * the bytes that the next chunk needs: the two bytes before a possible
 * "\nFrom " (to see the blank line) and a From_ line cut by the chunk
 * end.
 *
 * What the index remembers to read only new bytes next time: the file
 * (st_dev, st_ino), the size indexed and the mtime, the last
 * SPOOL_FINGERPRINT bytes (a rewrite almost surely changes them), the
 * offset of the last line end (a line cut by the old end may become a
 * From_ line once the rest arrives), and whether the last From_ line
 * was itself cut by the end.  What it cannot see: a rewrite in place
 * that also grows the file and keeps the bytes before the old end (no
 * mail client does that; deleting mail shrinks the file or makes a new
 * one).
 *
 * Summaries are read with GMime from the header block alone, at most
 * SPOOL_HEADER_MAX bytes, so a message with a 20 MB attachment costs no
 * more than a short one.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "spool.h"
#include "textsafe.h"

#define COPY_CHUNK	(64 * 1024)	/* spool_copy_message() reads so */

/* Bytes before a "\nFrom " that tell a blank line: "\n" or "\n\r". */
#define LOOKBEHIND	2
/* What the scan buffer holds besides a chunk: a cut From_ line, or the
 * bytes re-read before the old end on an incremental update. */
#define CARRY_MAX	(SPOOL_FROM_LINE_MAX + SPOOL_FINGERPRINT + 16)
#define LOCK_RETRY_MS	10

#define SEP		"\nFrom "
#define SEP_LEN		(sizeof(SEP) - 1)

struct spool_index {
	GArray		*messages;	/* struct spool_message */
	gboolean	 known;		/* the fields below describe a file */
	dev_t		 dev;
	ino_t		 ino;
	struct timespec	 mtime;
	guint64		 size;		/* bytes indexed */
	gint64		 last_nl;	/* offset of the last '\n', -1 if none */
	gboolean	 last_open;	/* the last From_ line ends at the end
					 * of the file, with no line end */
	guint8		 tail[SPOOL_FINGERPRINT];
	gsize		 tail_len;
	guint		 lock_wait_ms;
};

/* One pass over part of the file. */
struct scan {
	struct spool_index *idx;
	int		 fd;
	char		*buf;
	gsize		 len;		/* bytes held in buf */
	gsize		 from;		/* index where the search resumes */
	gint64		 base;		/* file offset of buf[0]; -2 when buf
					 * starts with the "\n\n" put before
					 * the file, so offset 0 is a line
					 * start after a blank line */
	guint64		 pos;		/* next offset to read */
	guint64		 end;		/* the file's size under the lock */
	guint64		 nread;
};

/* A cursor over a line, for the From_ line parser. */
struct cursor {
	const char	*p;
	const char	*e;
};

enum candidate {
	CAND_NO,
	CAND_YES,
	CAND_MORE,		/* its line goes past the buffer */
};

G_DEFINE_QUARK(spool-error-quark, spool_error)

/* A new, empty index. */
struct spool_index *
spool_index_new(void)
{
	struct spool_index *idx;

	idx = g_new0(struct spool_index, 1);
	idx->messages = g_array_new(FALSE, FALSE,
	    sizeof(struct spool_message));
	idx->last_nl = -1;
	idx->lock_wait_ms = SPOOL_LOCK_WAIT_MS;
	return idx;
}

/* Free one summary and what it holds. */
static void
summary_free(struct spool_summary *sum)
{
	if (sum == NULL)
		return;
	g_free(sum->from_name);
	g_free(sum->from_addr);
	g_free(sum->subject);
	g_free(sum);
}

/* Forget every message, and the file, so the next update reads it all. */
static void
index_clear(struct spool_index *idx)
{
	guint	 i;

	for (i = 0; i < idx->messages->len; i++)
		summary_free(g_array_index(idx->messages,
		    struct spool_message, i).summary);
	g_array_set_size(idx->messages, 0);
	idx->known = FALSE;
	idx->size = 0;
	idx->last_nl = -1;
	idx->last_open = FALSE;
	idx->tail_len = 0;
}

/* Free the index, its messages and their summaries. */
void
spool_index_free(struct spool_index *idx)
{
	if (idx == NULL)
		return;
	index_clear(idx);
	g_array_free(idx->messages, TRUE);
	g_free(idx);
}

/* Tests shorten the wait; a daemon may too. */
void
spool_index_set_lock_wait(struct spool_index *idx, guint ms)
{
	idx->lock_wait_ms = ms;
}

/* Messages, oldest first. */
guint
spool_count(const struct spool_index *idx)
{
	return idx->messages->len;
}

/* Message number (1 is the oldest), or NULL. */
const struct spool_message *
spool_message(const struct spool_index *idx, guint number)
{
	if (number < 1 || number > idx->messages->len)
		return NULL;
	return &g_array_index(idx->messages, struct spool_message,
	    number - 1);
}

/* Set err from errno for what failed. */
static void
set_errno(GError **err, const char *what)
{
	int	 saved = errno;

	g_set_error(err, SPOOL_ERROR, SPOOL_ERROR_IO, "spool: %s: %s", what,
	    g_strerror(saved));
}

/* The spool is not what the index says: another program rewrote it. */
static void
set_changed(GError **err)
{
	g_set_error(err, SPOOL_ERROR, SPOOL_ERROR_CHANGED,
	    "spool: changed since it was indexed");
}

/*
 * Take an open-file-description read lock on the whole file.  OFD locks
 * conflict with the classic fcntl write lock that Postfix's local(8)
 * holds while it appends, so a delivery in progress is never read; and,
 * unlike classic locks, closing another fd of this file elsewhere in
 * the process does not drop them.  Polling, not F_OFD_SETLKW: a bounded
 * wait without signals, which a threaded daemon cannot spare.
 */
static gboolean
lock_read(int fd, guint wait_ms, GError **err)
{
	struct flock	 fl;
	gint64		 deadline;

	deadline = g_get_monotonic_time() + (gint64)wait_ms * 1000;
	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_RDLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return TRUE;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EACCES) {
			set_errno(err, "lock");
			return FALSE;
		}
		if (g_get_monotonic_time() >= deadline) {
			g_set_error(err, SPOOL_ERROR, SPOOL_ERROR_LOCKED,
			    "spool: still locked after %u ms (a delivery "
			    "in progress?)", wait_ms);
			return FALSE;
		}
		g_usleep(LOCK_RETRY_MS * 1000);
	}
}

/* Drop the lock; failing to is harmless (it goes with the last close). */
static void
unlock(int fd)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	(void)fcntl(fd, F_OFD_SETLK, &fl);
}

/* The read lock for a reader of its own (the message view). */
gboolean
spool_lock(int fd, GError **err)
{
	return lock_read(fd, SPOOL_LOCK_WAIT_MS, err);
}

/*
 * Drop it.  An OFD lock belongs to the open file description: this
 * drops the lock of every fd that shares it, so spool_lock() must not
 * be held around spool_summary() or spool_copy_message() on that fd.
 */
void
spool_unlock(int fd)
{
	unlock(fd);
}

/* Read up to len bytes at off; fewer only at the end of the file. */
static gssize
read_at(int fd, void *buf, gsize len, guint64 off, GError **err)
{
	gsize	 done = 0;
	ssize_t	 n;

	while (done < len) {
		n = pread(fd, (char *)buf + done, len - done,
		    (off_t)(off + done));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			set_errno(err, "read");
			return -1;
		}
		if (n == 0)
			break;
		done += (gsize)n;
	}
	return (gssize)done;
}

/* Start a message at off; the one before it now ends there. */
static void
add_message(struct spool_index *idx, guint64 off, guint64 body_off)
{
	struct spool_message	 m = { 0 };
	struct spool_message	*prev;

	if (idx->messages->len > 0) {
		prev = &g_array_index(idx->messages, struct spool_message,
		    idx->messages->len - 1);
		prev->length = off - prev->offset;
	}
	m.offset = off;
	m.body_offset = body_off;
	g_array_append_val(idx->messages, m);
}

/* Remember the last line end and the last bytes of what was read. */
static void
note_read(struct spool_index *idx, const char *p, gsize n, guint64 off)
{
	const char	*nl;
	gsize		 keep;

	if ((nl = memrchr(p, '\n', n)) != NULL)
		idx->last_nl = (gint64)(off + (guint64)(nl - p));
	if (n >= SPOOL_FINGERPRINT) {
		memcpy(idx->tail, p + n - SPOOL_FINGERPRINT,
		    SPOOL_FINGERPRINT);
		idx->tail_len = SPOOL_FINGERPRINT;
		return;
	}
	keep = MIN(idx->tail_len, SPOOL_FINGERPRINT - n);
	memmove(idx->tail, idx->tail + idx->tail_len - keep, keep);
	memcpy(idx->tail + keep, p, n);
	idx->tail_len = keep + n;
}

/*
 * Decide on the "From " line after the '\n' at buf[i].  Before the
 * first message any line start will do: the bytes there are ignored
 * anyway, and a spool with junk at its head still shows its mail.
 */
static enum candidate
scan_candidate(struct scan *s, gsize i, gboolean eof)
{
	struct spool_index	*idx = s->idx;
	const char		*line = s->buf + i + 1;
	const char		*nl;
	gsize			 avail = s->len - (i + 1);
	gsize			 linelen, textlen;
	guint64			 off = (guint64)(s->base + (gint64)i + 1);
	gboolean		 blank, open = FALSE;

	blank = (i >= 1 && s->buf[i - 1] == '\n') ||
	    (i >= 2 && s->buf[i - 1] == '\r' && s->buf[i - 2] == '\n');
	if (!blank && idx->messages->len > 0)
		return CAND_NO;
	nl = memchr(line, '\n', MIN(avail, SPOOL_FROM_LINE_MAX));
	if (nl != NULL)
		linelen = (gsize)(nl - line);
	else if (avail >= SPOOL_FROM_LINE_MAX)
		return CAND_NO;
	else if (!eof)
		return CAND_MORE;
	else {
		linelen = avail;
		open = TRUE;
	}
	textlen = linelen;
	if (textlen > 0 && line[textlen - 1] == '\r')
		textlen--;
	if (!spool_is_from_line(line, textlen, NULL))
		return CAND_NO;
	add_message(idx, off, off + linelen + (open ? 0 : 1));
	idx->last_open = open;
	return CAND_YES;
}

/*
 * Decide every candidate in the buffer, then keep only what the next
 * chunk needs: from LOOKBEHIND bytes before a cut candidate, or before
 * the last SEP_LEN - 1 bytes, which may begin a separator.
 */
static void
scan_buffer(struct scan *s, gboolean eof)
{
	const char	*p;
	gsize		 i, next, keep;

	for (;;) {
		if (s->len - s->from < SEP_LEN) {
			next = s->from;
			break;
		}
		p = memmem(s->buf + s->from, s->len - s->from, SEP, SEP_LEN);
		if (p == NULL) {
			next = s->len - (SEP_LEN - 1);
			break;
		}
		i = (gsize)(p - s->buf);
		if (scan_candidate(s, i, eof) == CAND_MORE) {
			next = i;
			break;
		}
		s->from = i + 1;
	}
	if (eof)
		return;
	keep = next >= LOOKBEHIND ? next - LOOKBEHIND : 0;
	memmove(s->buf, s->buf + keep, s->len - keep);
	s->len -= keep;
	s->base += (gint64)keep;
	s->from = next - keep;
}

/* Read from s->pos to s->end in chunks, scanning as it goes. */
static gboolean
scan_run(struct scan *s, GError **err)
{
	gssize	 n;
	gsize	 want;
	gboolean eof = FALSE;

	while (!eof && s->pos < s->end) {
		want = (gsize)MIN((guint64)SPOOL_CHUNK, s->end - s->pos);
		n = read_at(s->fd, s->buf + s->len, want, s->pos, err);
		if (n < 0)
			return FALSE;
		note_read(s->idx, s->buf + s->len, (gsize)n, s->pos);
		s->len += (gsize)n;
		s->pos += (guint64)n;
		s->nread += (guint64)n;
		/* Shorter than fstat said: a writer that ignores locks
		 * truncated it; index what is there, the next update
		 * sees the shrink. */
		if ((gsize)n < want)
			s->end = s->pos;
		eof = s->pos == s->end;
		scan_buffer(s, eof);
	}
	if (!eof)
		scan_buffer(s, TRUE);
	return TRUE;
}

/* Record the file the index now describes; close the last message. */
static void
scan_finish(struct scan *s, const struct stat *st)
{
	struct spool_index	*idx = s->idx;
	struct spool_message	*last;

	if (idx->messages->len > 0) {
		last = &g_array_index(idx->messages, struct spool_message,
		    idx->messages->len - 1);
		last->length = s->end - last->offset;
	}
	idx->size = s->end;
	idx->dev = st->st_dev;
	idx->ino = st->st_ino;
	idx->mtime = st->st_mtim;
	idx->known = TRUE;
}

/* A scan buffer big enough for the carry and the bytes still to read. */
static char *
scan_alloc(guint64 to_read)
{
	return g_malloc(CARRY_MAX + (gsize)MIN((guint64)SPOOL_CHUNK,
	    to_read));
}

/* Index the whole file again. */
static gboolean
index_all(struct spool_index *idx, int fd, const struct stat *st,
    guint64 *nread, GError **err)
{
	struct scan	 s = { 0 };
	gboolean	 ok;

	index_clear(idx);
	/* Twice the kernel's read-ahead on a cold cache. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	s.idx = idx;
	s.fd = fd;
	s.buf = scan_alloc((guint64)st->st_size);
	s.buf[0] = s.buf[1] = '\n';
	s.len = 2;
	s.base = -2;
	s.end = (guint64)st->st_size;
	ok = scan_run(&s, err);
	*nread += s.nread;
	if (ok)
		scan_finish(&s, st);
	g_free(s.buf);
	return ok;
}

enum grow {
	GROW_DONE,
	GROW_REINDEX,
	GROW_ERROR,
};

/*
 * The file is the one indexed and no smaller: check the fingerprint
 * and index the new bytes alone.  The scan resumes at the last line end
 * before the old end if the line after it is short enough to become a
 * From_ line with the bytes that followed (a separator straddling the
 * old end), else at the old end; the bytes before, re-read for the
 * fingerprint and to see a blank line, start the buffer.
 */
static enum grow
index_grow(struct spool_index *idx, int fd, const struct stat *st,
    guint64 *nread, GError **err)
{
	struct scan		 s = { 0 };
	struct spool_message	*last;
	guint64			 old = idx->size, size = (guint64)st->st_size;
	gint64			 nl_min, win;
	gssize			 n;

	if (idx->last_open)
		return GROW_REINDEX;
	if (size == old && (st->st_mtim.tv_sec != idx->mtime.tv_sec ||
	    st->st_mtim.tv_nsec != idx->mtime.tv_nsec))
		return GROW_REINDEX;	/* rewritten in place, same size */
	/* No line end yet: the first line, begun at the start of the file,
	 * may yet become a From_ line; it is short, read it all again. */
	if (idx->last_nl < 0 && size > old && old < SPOOL_FROM_LINE_MAX)
		return GROW_REINDEX;
	if (idx->last_nl >= 0 &&
	    old - (guint64)(idx->last_nl + 1) < SPOOL_FROM_LINE_MAX)
		nl_min = idx->last_nl;
	else
		nl_min = (gint64)old;
	if (size == old)
		win = (gint64)(old - idx->tail_len);
	else
		win = MIN(nl_min - LOOKBEHIND, (gint64)(old - idx->tail_len));
	if (win < 0)
		return GROW_REINDEX;	/* a small file: read it all */

	s.idx = idx;
	s.fd = fd;
	s.buf = scan_alloc(size - old);
	s.len = (gsize)(old - (guint64)win);
	n = read_at(fd, s.buf, s.len, (guint64)win, err);
	if (n < 0) {
		g_free(s.buf);
		return GROW_ERROR;
	}
	*nread += (guint64)n;
	if ((gsize)n < s.len || memcmp(s.buf + s.len - idx->tail_len,
	    idx->tail, idx->tail_len) != 0) {
		g_free(s.buf);
		return GROW_REINDEX;
	}
	if (size == old) {
		g_free(s.buf);
		return GROW_DONE;
	}

	/*
	 * The last message grows: its summary stays if its whole header
	 * block was read (appending cannot change headers), else it may be
	 * of a part only.
	 */
	if (idx->messages->len > 0) {
		last = &g_array_index(idx->messages, struct spool_message,
		    idx->messages->len - 1);
		if (!last->summary_complete) {
			summary_free(last->summary);
			last->summary = NULL;
		}
	}
	s.base = win;
	s.from = (gsize)(nl_min - win);
	s.pos = old;
	s.end = size;
	if (!scan_run(&s, err)) {
		*nread += s.nread;
		g_free(s.buf);
		return GROW_ERROR;
	}
	*nread += s.nread;
	scan_finish(&s, st);
	g_free(s.buf);
	return GROW_DONE;
}

/* Bring the index up to date with fd's file; see spool.h. */
gboolean
spool_index_update(struct spool_index *idx, int fd, guint64 *bytes_read,
    GError **err)
{
	struct stat	 st;
	GError		*lerr = NULL;
	guint64		 nread = 0;
	gboolean	 ok = FALSE;

	if (bytes_read != NULL)
		*bytes_read = 0;
	if (!lock_read(fd, idx->lock_wait_ms, &lerr)) {
		/* Busy: nothing was read, the index is as good as it was. */
		if (!g_error_matches(lerr, SPOOL_ERROR, SPOOL_ERROR_LOCKED))
			index_clear(idx);
		g_propagate_error(err, lerr);
		return FALSE;
	}
	if (fstat(fd, &st) == -1) {
		set_errno(err, "fstat");
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		g_set_error(err, SPOOL_ERROR, SPOOL_ERROR_IO,
		    "spool: not a regular file");
		goto done;
	}
	if (idx->known && st.st_dev == idx->dev && st.st_ino == idx->ino &&
	    (guint64)st.st_size >= idx->size) {
		switch (index_grow(idx, fd, &st, &nread, err)) {
		case GROW_DONE:
			ok = TRUE;
			goto done;
		case GROW_ERROR:
			goto done;
		case GROW_REINDEX:
			break;
		}
	}
	ok = index_all(idx, fd, &st, &nread, err);
done:
	unlock(fd);
	if (!ok)
		index_clear(idx);
	if (bytes_read != NULL)
		*bytes_read = nread;
	return ok;
}

/* Message number, or NULL with err set. */
static struct spool_message *
message_at(const struct spool_index *idx, guint number, GError **err)
{
	if (number < 1 || number > idx->messages->len) {
		g_set_error(err, SPOOL_ERROR, SPOOL_ERROR_NO_MESSAGE,
		    "spool: no message %u", number);
		return NULL;
	}
	return &g_array_index(idx->messages, struct spool_message,
	    number - 1);
}

/*
 * Read len bytes of message m from its From_ line on, under the lock,
 * and check that a From_ line is still where the index says: another
 * program may have rewritten the spool since the last update.
 */
static char *
message_bytes(const struct spool_index *idx, int fd,
    const struct spool_message *m, gsize len, GError **err)
{
	char	*buf;
	gssize	 n;

	if ((buf = g_try_malloc(MAX(len, 1))) == NULL) {
		g_set_error(err, SPOOL_ERROR, SPOOL_ERROR_IO,
		    "spool: out of memory for %zu bytes", len);
		return NULL;
	}
	if (!lock_read(fd, idx->lock_wait_ms, err)) {
		g_free(buf);
		return NULL;
	}
	n = read_at(fd, buf, len, m->offset, err);
	unlock(fd);
	if (n < 0) {
		g_free(buf);
		return NULL;
	}
	if ((gsize)n < len || len < 5 || memcmp(buf, "From ", 5) != 0) {
		set_changed(err);
		g_free(buf);
		return NULL;
	}
	return buf;
}

/* Write all len bytes of buf to out. */
static gboolean
write_all(int out, const char *buf, gsize len, GError **err)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(out, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			set_errno(err, "write");
			return FALSE;
		}
		buf += n;
		len -= (gsize)n;
	}
	return TRUE;
}

/* Copy len bytes of fd from off on to out, a chunk at a time. */
static gboolean
copy_range(int fd, guint64 off, guint64 len, int out, GError **err)
{
	char		*buf = g_malloc(COPY_CHUNK);
	gsize		 want;
	gssize		 n;
	gboolean	 ok = TRUE;

	for (; ok && len > 0; off += want, len -= want) {
		want = (gsize)MIN((guint64)COPY_CHUNK, len);
		if ((n = read_at(fd, buf, want, off, err)) < 0)
			ok = FALSE;
		else if ((gsize)n < want) {
			set_changed(err);
			ok = FALSE;
		} else
			ok = write_all(out, buf, want, err);
	}
	g_free(buf);
	return ok;
}

/* Message number's bytes, From_ line excluded, to out; see spool.h. */
gboolean
spool_copy_message(const struct spool_index *idx, int fd, guint number,
    int out, GError **err)
{
	const struct spool_message *m;
	char		 from[5];
	gssize		 n;
	gboolean	 ok;

	if ((m = message_at(idx, number, err)) == NULL ||
	    !lock_read(fd, idx->lock_wait_ms, err))
		return FALSE;
	/* Another program may have rewritten the spool since the index
	 * was updated: a From_ line must still be where it says. */
	if ((n = read_at(fd, from, sizeof(from), m->offset, err)) < 0)
		ok = FALSE;
	else if (n < (gssize)sizeof(from) || memcmp(from, "From ", 5) != 0) {
		set_changed(err);
		ok = FALSE;
	} else
		ok = copy_range(fd, m->body_offset, m->offset + m->length -
		    m->body_offset, out, err);
	unlock(fd);
	return ok;
}

/* A folded header value without its line breaks. */
static char *
unfolded(const char *raw)
{
	GString	*out = g_string_sized_new(strlen(raw));

	for (; *raw != '\0'; raw++)
		if (*raw != '\r' && *raw != '\n')
			g_string_append_c(out, *raw);
	return g_string_free(out, FALSE);
}

/* TRUE if the len bytes of s are all white space. */
static gboolean
all_space(const char *s, gsize len)
{
	gsize	i;

	for (i = 0; i < len; i++)
		if (!g_ascii_isspace(s[i]))
			return FALSE;
	return TRUE;
}

/* Append raw header text, in UTF-8 as GMime reads 8-bit text outside
 * encoded words (UTF-8 if it is, else its fallback charsets: Latin-1). */
static void
append_8bit(GString *out, const char *p, gsize len)
{
	char	*utf8;

	if (len == 0)
		return;
	utf8 = g_mime_utils_decode_8bit(NULL, p, len);
	g_string_append(out, utf8);
	g_free(utf8);
}

/*
 * See spool.h.  Not g_mime_message_get_subject(): GMime 3.2.13 joins
 * adjacent base64 words of one charset before decoding them and stops
 * at the first '=' padding (jstedfast/gmime#133), so a long subject it
 * wrote itself, split in two words, read back cut short.  Each word is
 * decoded by GMime on its own, as RFC 2047 6.3 makes them.
 */
char *
spool_header_text(GMimeObject *obj, const char *name)
{
	static GRegex	*word;
	GMimeHeader	*header;
	GMatchInfo	*match;
	GString		*out;
	const char	*p;
	char		*text, *one, *decoded;
	gboolean	 after_word = FALSE;
	int		 start, end;

	header = g_mime_header_list_get_header(
	    g_mime_object_get_header_list(obj), name);
	if (header == NULL || g_mime_header_get_raw_value(header) == NULL)
		return NULL;
	/* Words as GMime takes them: spaces inside the encoded text too,
	 * which some mailers leave there. */
	if (g_once_init_enter(&word))
		g_once_init_leave(&word, g_regex_new(
		    "=\\?[^?\\s]+\\?[bBqQ]\\?[^?]*\\?=", G_REGEX_RAW, 0,
		    NULL));
	text = unfolded(g_mime_header_get_raw_value(header));
	out = g_string_new(NULL);
	p = text;
	g_regex_match(word, text, 0, &match);
	for (; g_match_info_matches(match); g_match_info_next(match, NULL)) {
		g_match_info_fetch_pos(match, 0, &start, &end);
		if (!after_word || !all_space(p, (gsize)(text + start - p)))
			append_8bit(out, p, (gsize)(text + start - p));
		one = g_strndup(text + start, (gsize)(end - start));
		decoded = g_mime_utils_header_decode_text(NULL, one);
		g_string_append(out, decoded);
		g_free(decoded);
		g_free(one);
		p = text + end;
		after_word = TRUE;
	}
	g_match_info_free(match);
	append_8bit(out, p, strlen(p));
	g_free(text);
	return g_strstrip(g_string_free(out, FALSE));
}

/*
 * Text fit for a summary: valid UTF-8 (invalid bytes replaced), control
 * characters made spaces (a decoded word can carry CR LF, ESC or C1
 * codes meant to break a layout or a terminal), bidi controls U+FFFD
 * (textsafe.h: the inbox list shows these), at most SPOOL_SUMMARY_CHARS
 * characters.
 */
static char *
clean_text(const char *s)
{
	GString		*out;
	char		*valid;
	const char	*p;
	gunichar	 c;
	guint		 n;

	if (s == NULL)
		return g_strdup("");
	valid = g_utf8_make_valid(s, -1);
	out = g_string_sized_new(strlen(valid));
	for (p = valid, n = 0; *p != '\0' && n < SPOOL_SUMMARY_CHARS;
	    p = g_utf8_next_char(p), n++) {
		c = g_utf8_get_char(p);
		if (g_unichar_iscntrl(c))
			g_string_append_c(out, ' ');
		else if (textsafe_is_unsafe(c))
			g_string_append_unichar(out, 0xfffd);
		else
			g_string_append_unichar(out, c);
	}
	g_free(valid);
	return g_string_free(out, FALSE);
}

/*
 * Length of the header block at the start of p: up to its blank line.
 * *complete tells whether the blank line was found within len.
 */
static gsize
header_block_len(const char *p, gsize len, gboolean *complete)
{
	const char	*a, *b, *nl;

	*complete = TRUE;
	if (len > 0 && p[0] == '\n')
		return 0;
	if (len > 1 && p[0] == '\r' && p[1] == '\n')
		return 0;
	a = memmem(p, len, "\n\n", 2);
	b = memmem(p, len, "\n\r\n", 3);
	if (a != NULL && (b == NULL || a < b))
		return (gsize)(a - p) + 1;
	if (b != NULL)
		return (gsize)(b - p) + 1;
	/* No blank line within the cap: whole lines only. */
	*complete = FALSE;
	if ((nl = memrchr(p, '\n', len)) != NULL)
		return (gsize)(nl - p) + 1;
	return len;
}

static gboolean	take_sender(struct cursor *);

/* The sender token of a From_ line (which is known to be one). */
static char *
from_line_sender(const char *line, gsize len)
{
	struct cursor	 c = { line + 5, line + len };

	(void)take_sender(&c);
	return g_strndup(line + 5, (gsize)(c.p - line - 5));
}

/* Fill sum from the first mailbox of list (descending into a group). */
static void
summary_from(struct spool_summary *sum, InternetAddressList *list)
{
	InternetAddress	*a;

	if (list == NULL || internet_address_list_length(list) < 1)
		return;
	a = internet_address_list_get_address(list, 0);
	if (INTERNET_ADDRESS_IS_GROUP(a)) {
		list = internet_address_group_get_members(
		    INTERNET_ADDRESS_GROUP(a));
		if (list == NULL || internet_address_list_length(list) < 1)
			return;
		a = internet_address_list_get_address(list, 0);
	}
	if (!INTERNET_ADDRESS_IS_MAILBOX(a))
		return;
	g_free(sum->from_name);
	g_free(sum->from_addr);
	sum->from_name = clean_text(internet_address_get_name(a));
	sum->from_addr = clean_text(internet_address_mailbox_get_addr(
	    INTERNET_ADDRESS_MAILBOX(a)));
}

/* TRUE if the top-level part is multipart/mixed or an attachment. */
static gboolean
has_attachment(GMimeMessage *msg)
{
	GMimeObject		*part;
	GMimeContentType	*ct;
	GMimeContentDisposition	*disp;

	if ((part = g_mime_message_get_mime_part(msg)) == NULL)
		return FALSE;
	ct = g_mime_object_get_content_type(part);
	if (ct != NULL && g_mime_content_type_is_type(ct, "multipart", "mixed"))
		return TRUE;
	disp = g_mime_object_get_content_disposition(part);
	return disp != NULL && g_mime_content_disposition_is_attachment(disp);
}

/*
 * Parse a header block with GMime.  The parser is given the block and
 * a blank line, so it stops there: the body is never read for a list.
 */
static struct spool_summary *
summary_parse(const char *hdr, gsize len, gint64 from_date,
    const char *sender)
{
	struct spool_summary	*sum;
	GMimeStream		*stream;
	GMimeParser		*parser;
	GMimeMessage		*msg;
	GDateTime		*date;
	char			*subject;

	sum = g_new0(struct spool_summary, 1);
	sum->from_name = g_strdup("");
	sum->from_addr = clean_text(sender);
	sum->date = from_date;

	stream = g_mime_stream_mem_new();
	g_mime_stream_write(stream, hdr, len);
	if (len == 0 || hdr[len - 1] != '\n')
		g_mime_stream_write(stream, "\n", 1);
	g_mime_stream_write(stream, "\n", 1);
	g_mime_stream_reset(stream);
	parser = g_mime_parser_new_with_stream(stream);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	if (msg == NULL) {
		sum->subject = g_strdup("");
		return sum;
	}
	summary_from(sum, g_mime_message_get_from(msg));
	subject = spool_header_text(GMIME_OBJECT(msg), "Subject");
	sum->subject = clean_text(subject);
	g_free(subject);
	if ((date = g_mime_message_get_date(msg)) != NULL)
		sum->date = g_date_time_to_unix(date);
	sum->has_attachment = has_attachment(msg);
	g_object_unref(msg);
	return sum;
}

/* The summary of message number, read once and kept; see spool.h. */
const struct spool_summary *
spool_summary(struct spool_index *idx, int fd, guint number, GError **err)
{
	struct spool_message	*m;
	char			*buf, *sender;
	gsize			 from_len, text_len, len, hlen;
	gint64			 when = 0;
	gboolean		 complete;

	if ((m = message_at(idx, number, err)) == NULL)
		return NULL;
	if (m->summary != NULL)
		return m->summary;
	from_len = (gsize)(m->body_offset - m->offset);
	/* Most header blocks fit in a few KiB: read more only if not. */
	len = (gsize)MIN(m->length, (guint64)from_len + SPOOL_HEADER_FIRST);
	if ((buf = message_bytes(idx, fd, m, len, err)) == NULL)
		return NULL;
	header_block_len(buf + from_len, len - from_len, &complete);
	if (!complete && len < m->length) {
		g_free(buf);
		len = (gsize)MIN(m->length, (guint64)from_len +
		    SPOOL_HEADER_MAX);
		if ((buf = message_bytes(idx, fd, m, len, err)) == NULL)
			return NULL;
	}
	text_len = from_len;
	if (text_len > 0 && buf[text_len - 1] == '\n')
		text_len--;
	if (text_len > 0 && buf[text_len - 1] == '\r')
		text_len--;
	if (!spool_is_from_line(buf, text_len, &when)) {
		set_changed(err);
		g_free(buf);
		return NULL;
	}
	sender = from_line_sender(buf, text_len);
	hlen = header_block_len(buf + from_len, len - from_len, &complete);
	m->summary = summary_parse(buf + from_len, hlen, when, sender);
	m->summary_complete = complete;
	g_free(sender);
	g_free(buf);
	return m->summary;
}

/* Skip spaces; how many. */
static gsize
skip_spaces(struct cursor *c)
{
	gsize	 n = 0;

	while (c->p < c->e && *c->p == ' ') {
		c->p++;
		n++;
	}
	return n;
}

/* Take a three-letter name out of names (case-insensitive); its index. */
static gboolean
take_name(struct cursor *c, const char *const *names, int n, int *which)
{
	int	 i;

	if (c->e - c->p < 3)
		return FALSE;
	for (i = 0; i < n; i++)
		if (g_ascii_strncasecmp(c->p, names[i], 3) == 0) {
			c->p += 3;
			*which = i;
			return TRUE;
		}
	return FALSE;
}

/* Take min to max ASCII digits as a number (the caller checks what
 * follows). */
static gboolean
take_digits(struct cursor *c, int min, int max, int *val)
{
	int	 n = 0;

	*val = 0;
	while (c->p < c->e && n < max && g_ascii_isdigit(*c->p)) {
		*val = *val * 10 + (*c->p - '0');
		c->p++;
		n++;
	}
	return n >= min;
}

/*
 * Take a time zone: numeric (+0100) or a word.  RFC 822's names get
 * their offset; other words (CET, and the ambiguous ones like IST) are
 * taken as UTC rather than guessed.
 */
static gboolean
take_zone(struct cursor *c, int *offset_s)
{
	static const struct {
		const char	*name;
		int		 hours;
	} zones[] = {
		{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
		{ "EST", -5 }, { "EDT", -4 }, { "CST", -6 }, { "CDT", -5 },
		{ "MST", -7 }, { "MDT", -6 }, { "PST", -8 }, { "PDT", -7 },
	};
	const char	*start = c->p;
	gsize		 i, n;
	int		 sign, hhmm;

	*offset_s = 0;
	if (c->p < c->e && (*c->p == '+' || *c->p == '-')) {
		sign = *c->p == '-' ? -1 : 1;
		c->p++;
		if (c->e - c->p < 4 || !take_digits(c, 4, 4, &hhmm) ||
		    hhmm / 100 > 23 || hhmm % 100 > 59) {
			c->p = start;
			return FALSE;
		}
		*offset_s = sign * ((hhmm / 100) * 3600 + (hhmm % 100) * 60);
		return TRUE;
	}
	while (c->p < c->e && g_ascii_isalpha(*c->p) && c->p - start < 6)
		c->p++;
	n = (gsize)(c->p - start);
	if (n == 0 || n > 5 || (c->p < c->e && *c->p != ' ')) {
		c->p = start;
		return FALSE;
	}
	for (i = 0; i < G_N_ELEMENTS(zones); i++)
		if (strlen(zones[i].name) == n &&
		    g_ascii_strncasecmp(start, zones[i].name, n) == 0)
			*offset_s = zones[i].hours * 3600;
	return TRUE;
}

/*
 * Take the sender token: non-empty, no space outside quotes.  Any other
 * byte may be in it: Postfix writes the envelope sender as the client
 * gave it, control characters included, and a From_ line refused here
 * would hide its message in the one before.
 */
static gboolean
take_sender(struct cursor *c)
{
	const char	*start = c->p;
	gboolean	 quoted = FALSE;
	guchar		 ch;

	while (c->p < c->e) {
		ch = (guchar)*c->p;
		if (ch == ' ' && !quoted)
			break;
		/* A quoted local part may hold spaces: "a b"@x. */
		if (ch == '"')
			quoted = !quoted;
		else if (ch == '\\' && quoted && c->p + 1 < c->e)
			c->p++;
		c->p++;
	}
	return !quoted && c->p > start;
}

/* Whether line has the form of a From_ line; see spool.h. */
gboolean
spool_is_from_line(const char *line, gsize len, gint64 *when)
{
	static const char *const wdays[] = {
		"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	struct cursor	 c;
	GDateTime	*dt;
	int		 wday, mon, day, hh, mm, ss = 0, year, zone = 0;
	gboolean	 have_zone = FALSE;

	if (len < 5 || memcmp(line, "From ", 5) != 0)
		return FALSE;
	c.p = line + 5;
	c.e = line + len;
	if (!take_sender(&c) || skip_spaces(&c) == 0)
		return FALSE;
	/* asctime: "Www Mmm dd hh:mm:ss yyyy", the day space-padded. */
	if (!take_name(&c, wdays, 7, &wday) || skip_spaces(&c) == 0 ||
	    !take_name(&c, months, 12, &mon) || skip_spaces(&c) == 0 ||
	    !take_digits(&c, 1, 2, &day) || skip_spaces(&c) == 0 ||
	    !take_digits(&c, 1, 2, &hh) || c.p >= c.e || *c.p++ != ':' ||
	    !take_digits(&c, 2, 2, &mm))
		return FALSE;
	/* Seconds are missing in some old MTAs' lines. */
	if (c.p < c.e && *c.p == ':') {
		c.p++;
		if (!take_digits(&c, 2, 2, &ss))
			return FALSE;
	}
	if (skip_spaces(&c) == 0)
		return FALSE;
	if (c.p < c.e && !g_ascii_isdigit(*c.p)) {
		if (!take_zone(&c, &zone) || skip_spaces(&c) == 0)
			return FALSE;
		have_zone = TRUE;
	}
	if (!take_digits(&c, 4, 4, &year) || year < 1900)
		return FALSE;
	if (skip_spaces(&c) > 0 && c.p < c.e && !have_zone) {
		if (!take_zone(&c, &zone))
			return FALSE;
		have_zone = TRUE;
		skip_spaces(&c);
	}
	if (c.p != c.e || hh > 23 || mm > 59 || ss > 60)
		return FALSE;
	(void)wday;
	/* GDateTime refuses Feb 30 and the like; a leap second is :59.
	 * Without a zone, as Postfix writes it, the date is the server's
	 * local time, which is ours. */
	ss = MIN(ss, 59);
	dt = have_zone ? g_date_time_new_utc(year, mon + 1, day, hh, mm, ss) :
	    g_date_time_new_local(year, mon + 1, day, hh, mm, ss);
	if (dt == NULL)
		return FALSE;
	if (when != NULL)
		*when = g_date_time_to_unix(dt) - zone;
	g_date_time_unref(dt);
	return TRUE;
}

/* Undo ">From " quoting on one line; see spool.h. */
gsize
spool_unquote_from(char *line, gsize len)
{
	if (len < 6 || memcmp(line, ">From ", 6) != 0)
		return len;
	memmove(line, line + 1, len - 1);
	return len - 1;
}
