/*
 * priv - privileged helper: PAM, session keys, spools opened as their
 * owner.  The first half of this file runs in the helper, the second is
 * the web side's client.
 */
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <crypt.h>
#include <security/pam_appl.h>

#include "log.h"
#include "priv.h"
#include "session.h"

/* Request types. */
#define MSG_LOGIN	'L'	/* user, password, peer */
#define MSG_CHECK	'C'	/* token */
#define MSG_LOGOUT	'O'	/* token */
#define MSG_SPOOL	'S'	/* token */

#define KEY_FILE	"session.key"
#define REVOKED_FILE	"revoked"
#define REVOKED_COMPACT	(64 * 1024)	/* bytes before expired lines go */
#define THROTTLE_FILE	"throttle"
#define THROTTLE_MAX	10000	/* entries at most (see strikes_of()) */

struct priv {
	int		 sock;
	pid_t		 pid;
	GMutex		 lock;
};

/* The helper's state. */
struct helper {
	const struct priv_config *cfg;
	guchar		 key[SESSION_KEY_BYTES];
	char		*revoked_path;
	char		*throttle_path;
	GHashTable	*revoked;	/* session id -> expiry (gint64 *) */
	struct revoked_file {
		ino_t	 ino;
		off_t	 size;
		gint64	 mtime_ns;
	}		 revoked_seen;	/* the file as last read */
	GHashTable	*throttle;	/* "u:name" / "a:addr" -> struct strikes */
	uid_t		 self_uid;	/* not root: the only user served */
	char		*dummy_setting;	/* crypt(3) setting of the system's
					 * default hash, for names that are
					 * no account; NULL if none */
	gboolean	 size_limited;	/* under a file size limit: writes
					 * of the counts may be cut short */
};

struct strikes {
	guint		 failures;
	gint64		 window_start;
	gint64		 blocked_until;
};

/* --- messages, both sides --- */

/* Whether these fields, with a type byte, fit in one message. */
static gboolean
msg_fits(const char *const *fields, int n)
{
	gsize	len = 1;
	int	i;

	for (i = 0; i < n; i++)
		len += strlen(fields[i]) + 1;
	return len <= PRIV_MSG_MAX;
}

/* Send one message: type byte, NUL-terminated fields, maybe an fd. */
static gboolean
msg_send(int sock, char type, const char *const *fields, int n, int fd)
{
	GString		*buf;
	struct msghdr	 mh;
	struct iovec	 iov;
	union {
		char		buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	align;
	} ctl;
	ssize_t		 sent;
	int		 i;

	if (!msg_fits(fields, n)) {
		errno = EMSGSIZE;
		return FALSE;
	}
	buf = g_string_new(NULL);
	g_string_append_c(buf, type);
	for (i = 0; i < n; i++)
		g_string_append_len(buf, fields[i], strlen(fields[i]) + 1);
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf->str;
	iov.iov_len = buf->len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr	*cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	do
		sent = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (sent == -1 && errno == EINTR);
	g_string_free(buf, TRUE);
	return sent == (ssize_t)iov.iov_len;
}

/*
 * Receive one message into buf (PRIV_MSG_MAX bytes).  Returns its
 * length, 0 at end of file, -1 if it failed or was cut.  An fd that
 * came with it goes to *fd (else -1).
 */
static ssize_t
msg_recv(int sock, char *buf, int *fd)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	union {
		char		buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	align;
	} ctl;
	ssize_t		 got;

	*fd = -1;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = PRIV_MSG_MAX;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	do
		got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (got == -1 && errno == EINTR);
	for (cm = got > 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm != NULL;
	    cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	if (got > 0 && (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0)
		got = -1;
	return got;
}

/*
 * Split a message (type byte, then fields) into exactly n NUL-terminated
 * fields pointing into buf.  FALSE if there are more, fewer, or an
 * unterminated one.
 */
static gboolean
msg_fields(const char *buf, ssize_t len, const char **f, int n)
{
	const char	*p = buf + 1, *end = buf + len, *nul;
	int		 i;

	for (i = 0; i < n; i++) {
		if (p >= end || (nul = memchr(p, '\0', end - p)) == NULL)
			return FALSE;
		f[i] = p;
		p = nul + 1;
	}
	return p == end;
}

/* --- the helper --- */

/* Answer without an fd: the status and its fields. */
static void
reply(int sock, enum priv_status st, const char *const *fields, int n,
    int fd)
{
	if (!msg_send(sock, (char)('0' + st), fields, n, fd))
		log_fatal("priv: cannot answer the web process: %s",
		    g_strerror(errno));
}

/* PAM conversation: the password for hidden prompts, else nothing. */
static int
pam_conv_fn(int n, const struct pam_message **msg,
    struct pam_response **resp, void *appdata)
{
	struct pam_response	*r = calloc(n, sizeof(*r));
	int			 i;

	if (r == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF &&
		    (r[i].resp = strdup(appdata)) == NULL) {
			for (; i >= 0; i--)
				free(r[i].resp);
			free(r);
			return PAM_BUF_ERR;
		}
	*resp = r;
	return PAM_SUCCESS;
}

/* PAM may sleep after a failure; we throttle ourselves, without
 * stalling every other request to the helper. */
static void
pam_no_delay(int retval, unsigned usec, void *appdata)
{
	(void)retval; (void)usec; (void)appdata;
}

/* Check the password and the account with PAM. */
static enum priv_status
pam_check(const char *user, const char *password, const char *peer)
{
	struct pam_conv	 conv = { pam_conv_fn, (void *)password };
	pam_handle_t	*h = NULL;
	int		 rc;

	if (pam_start(PRIV_PAM_SERVICE, user, &conv, &h) != PAM_SUCCESS)
		return PRIV_DENIED;
	pam_set_item(h, PAM_RHOST, peer);
	pam_set_item(h, PAM_FAIL_DELAY, (const void *)pam_no_delay);
	rc = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (rc == PAM_SUCCESS) {
		rc = pam_acct_mgmt(h, PAM_SILENT);
		if (rc != PAM_SUCCESS) {
			pam_end(h, rc);
			return PRIV_ACCOUNT;
		}
	}
	pam_end(h, rc);
	return rc == PAM_SUCCESS ? PRIV_OK : PRIV_DENIED;
}

/* TRUE if a count no longer matters: its window is over, no block. */
static gboolean
strikes_stale(const struct strikes *s, gint64 now)
{
	return now - s->window_start > PRIV_FAILURE_WINDOW &&
	    s->blocked_until <= now;
}

/* GHRFunc: remove the stale counts; data is the time now. */
static gboolean
strikes_remove_stale(gpointer key, gpointer value, gpointer data)
{
	(void)key;
	return strikes_stale(value, *(const gint64 *)data);
}

/* GHRFunc: remove the counts that block nothing now. */
static gboolean
strikes_remove_unblocked(gpointer key, gpointer value, gpointer data)
{
	(void)key;
	return ((const struct strikes *)value)->blocked_until <=
	    *(const gint64 *)data;
}

/*
 * The strikes for key, made if missing.  The table is bounded: when it
 * is full, the counts that no longer matter go first, then those below
 * their limit; a block never goes (a flood of names or addresses must
 * not lift the block on a user).  NULL if every count in the full table
 * blocks: the caller then refuses, as if key were blocked.
 */
static struct strikes *
strikes_of(struct helper *hp, const char *key, gint64 now)
{
	struct strikes	*s = g_hash_table_lookup(hp->throttle, key);

	if (s == NULL) {
		if (g_hash_table_size(hp->throttle) >= THROTTLE_MAX)
			g_hash_table_foreach_remove(hp->throttle,
			    strikes_remove_stale, &now);
		if (g_hash_table_size(hp->throttle) >= THROTTLE_MAX)
			g_hash_table_foreach_remove(hp->throttle,
			    strikes_remove_unblocked, &now);
		if (g_hash_table_size(hp->throttle) >= THROTTLE_MAX)
			return NULL;
		s = g_new0(struct strikes, 1);
		g_hash_table_insert(hp->throttle, g_strdup(key), s);
	}
	if (strikes_stale(s, now)) {
		s->failures = 0;
		s->window_start = now;
	}
	return s;
}

/* Count a failure; past the free ones, block for a doubling time. */
static void
strike(struct strikes *s, guint free_failures, gint64 now)
{
	guint	over;

	if (s == NULL || ++s->failures < free_failures)
		return;
	over = MIN(s->failures - free_failures, 4);
	s->blocked_until = now + MIN(PRIV_BLOCK_FIRST << over,
	    PRIV_BLOCK_MAX);
}

/* The time key is blocked until; with no room to count it, a while. */
static gint64
blocked_until(struct helper *hp, const char *key, gint64 now)
{
	struct strikes	*s;

	if (key == NULL)
		return 0;
	s = strikes_of(hp, key, now);
	return s != NULL ? s->blocked_until : now + PRIV_BLOCK_FIRST;
}

/* Seconds to wait before this user (ukey, NULL for no account) or
 * address may try again, or 0. */
static guint
throttled(struct helper *hp, const char *ukey, const char *akey, gint64 now)
{
	gint64	until = MAX(blocked_until(hp, ukey, now),
		    blocked_until(hp, akey, now));

	return until > now ? (guint)(until - now) : 0;
}

/* TRUE if a throttle key can go in the file as one word. */
static gboolean
key_storable(const char *key)
{
	for (; *key != '\0'; key++)
		if (!g_ascii_isgraph(*key))
			return FALSE;
	return TRUE;
}

/* The whole of a (locked) state file, read from its start; NULL,
 * errno set, if it cannot be read. */
static char *
read_from_start(int fd)
{
	GString	*buf = g_string_new(NULL);
	char	 chunk[4096];
	ssize_t	 n;
	int	 saved;

	for (;;) {
		n = pread(fd, chunk, sizeof(chunk), (off_t)buf->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		g_string_append_len(buf, chunk, (gsize)n);
	}
	if (n == -1) {
		saved = errno;
		g_string_free(buf, TRUE);
		errno = saved;
		return NULL;
	}
	return g_string_free(buf, FALSE);
}

/* Write all of data at off; FALSE, errno set, if it failed. */
static gboolean
write_at(int fd, const char *data, gsize len, off_t off)
{
	ssize_t	n;

	while (len > 0) {
		n = pwrite(fd, data, len, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return FALSE;
		}
		data += n;
		len -= (gsize)n;
		off += n;
	}
	return TRUE;
}

/*
 * Make a (locked) state file hold text alone: written from its start,
 * then cut to its length.  In that order, a write that fails leaves
 * what the file held, not an empty file.  FALSE, errno set, if not.
 */
static gboolean
rewrite_from_start(int fd, const GString *text)
{
	return write_at(fd, text->str, text->len, 0) &&
	    ftruncate(fd, (off_t)text->len) == 0;
}

/*
 * Take the failure counts from the state directory, locked until
 * throttle_save().  Under CGI a helper lives for one request: counts
 * kept only in memory would never add up, and a set-uid labmail would
 * be a password oracle for every local user.  -1 if the file cannot be
 * used: do_login() then refuses every login (PRIV_UNAVAILABLE).
 */
static int
throttle_load(struct helper *hp)
{
	char	*text = NULL, **lines;
	int	 fd, i;

	if (hp->size_limited) {
		log_warn("priv: a file size limit could cut the failure "
		    "counts short: no logins");
		return -1;
	}
	fd = open(hp->throttle_path, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1 || flock(fd, LOCK_EX) == -1) {
		log_warn("priv: %s: %s", hp->throttle_path, g_strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if ((text = read_from_start(fd)) == NULL) {
		log_warn("priv: %s: %s", hp->throttle_path, g_strerror(errno));
		close(fd);
		return -1;
	}
	g_hash_table_remove_all(hp->throttle);
	lines = g_strsplit(text, "\n", -1);
	for (i = 0; lines[i] != NULL && i < THROTTLE_MAX; i++) {
		char		**f = g_strsplit(lines[i], " ", 5);
		struct strikes	 st;
		gint64		 failures;

		if (g_strv_length(f) == 4 &&
		    g_ascii_string_to_signed(f[1], 10, 0, G_MAXINT, &failures,
		    NULL) &&
		    g_ascii_string_to_signed(f[2], 10, 0, G_MAXINT64,
		    &st.window_start, NULL) &&
		    g_ascii_string_to_signed(f[3], 10, 0, G_MAXINT64,
		    &st.blocked_until, NULL)) {
			st.failures = (guint)failures;
			g_hash_table_replace(hp->throttle, g_strdup(f[0]),
			    g_memdup2(&st, sizeof(st)));
		}
		g_strfreev(f);
	}
	g_strfreev(lines);
	g_free(text);
	return fd;
}

/* Write the counts still of use to the (locked) file; FALSE, logged,
 * if that failed. */
static gboolean
throttle_write(struct helper *hp, int fd, gint64 now)
{
	GString		*out = g_string_new(NULL);
	GHashTableIter	 it;
	gpointer	 k, v;
	gboolean	 ok;

	g_hash_table_iter_init(&it, hp->throttle);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		const struct strikes *st = v;

		if (st->failures == 0 || !key_storable(k) ||
		    strikes_stale(st, now))
			continue;
		g_string_append_printf(out, "%s %u %" G_GINT64_FORMAT " %"
		    G_GINT64_FORMAT "\n", (const char *)k, st->failures,
		    st->window_start, st->blocked_until);
	}
	if (!(ok = rewrite_from_start(fd, out)))
		log_warn("priv: %s: %s", hp->throttle_path, g_strerror(errno));
	g_string_free(out, TRUE);
	return ok;
}

/* Write the counts back, and unlock. */
static void
throttle_save(struct helper *hp, int fd, gint64 now)
{
	(void)throttle_write(hp, fd, now);
	close(fd);
}

/* GHRFunc: TRUE for a revocation whose session has expired anyway. */
static gboolean
revoked_expired(gpointer key, gpointer value, gpointer data)
{
	(void)key;
	return *(const gint64 *)value <= *(const gint64 *)data;
}

/* One line of the revoked file, "ID UNTIL": TRUE if it is well formed
 * and the session has not expired yet; *id (if id is not NULL) gets a
 * copy to free. */
static gboolean
revoked_line(const char *line, gint64 now, char **id, gint64 *until)
{
	char		**f = g_strsplit(line, " ", 2);
	gboolean	  live;

	live = g_strv_length(f) == 2 && strlen(f[0]) == SESSION_ID_CHARS &&
	    g_ascii_string_to_signed(f[1], 10, 0, G_MAXINT64, until, NULL) &&
	    *until > now;
	if (id != NULL)
		*id = live ? g_strdup(f[0]) : NULL;
	g_strfreev(f);
	return live;
}

/* What tells one state of the revoked file from another. */
static struct revoked_file
revoked_file_of(const struct stat *st)
{
	struct revoked_file	f = { st->st_ino, st->st_size,
				    st->st_mtime * G_GINT64_CONSTANT(1000000000) +
				    st->st_mtim.tv_nsec };

	return f;
}

/* TRUE if the file at path is still as last read (a stat(2), on every
 * session check: no open or lock unless it changed). */
static gboolean
revoked_unchanged(struct helper *hp)
{
	struct stat		st;
	struct revoked_file	now;

	if (stat(hp->revoked_path, &st) == -1)
		return errno == ENOENT;	/* nobody has logged out yet */
	now = revoked_file_of(&st);
	return now.ino == hp->revoked_seen.ino &&
	    now.size == hp->revoked_seen.size &&
	    now.mtime_ns == hp->revoked_seen.mtime_ns;
}

/*
 * Reload the logged-out sessions if the file changed, and forget those
 * that have expired anyway, so that the table does not grow for ever.
 * Between reads the file only grows or is compacted in place, so its
 * size tells a change that happened within the clock tick of the last
 * read.  Read under a shared lock: never half a compaction.  FALSE if
 * the file is there but cannot be read: then no session is valid.
 */
static gboolean
revoked_load(struct helper *hp)
{
	struct stat	 st;
	char		*text, **lines, *id;
	gint64		 now = g_get_real_time() / G_USEC_PER_SEC, until;
	int		 fd, i;

	g_hash_table_foreach_remove(hp->revoked, revoked_expired, &now);
	if (revoked_unchanged(hp))
		return TRUE;
	fd = open(hp->revoked_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || flock(fd, LOCK_SH) == -1 || fstat(fd, &st) == -1) {
		log_warn("priv: %s: %s", hp->revoked_path, g_strerror(errno));
		if (fd != -1)
			close(fd);
		return FALSE;
	}
	if ((text = read_from_start(fd)) == NULL) {
		log_warn("priv: %s: %s", hp->revoked_path, g_strerror(errno));
		close(fd);
		return FALSE;
	}
	/* As read, under the lock: a change since is seen next time. */
	hp->revoked_seen = revoked_file_of(&st);
	close(fd);
	lines = g_strsplit(text, "\n", -1);
	for (i = 0; lines[i] != NULL; i++)
		if (revoked_line(lines[i], now, &id, &until))
			g_hash_table_replace(hp->revoked, id,
			    g_memdup2(&until, sizeof(until)));
	g_strfreev(lines);
	g_free(text);
	return TRUE;
}

/* TRUE if a file of size bytes ends inside a line: a write cut short
 * (a full disk), whose end the next line must not be glued to. */
static gboolean
ends_mid_line(int fd, off_t size)
{
	char	last;

	return size > 0 && pread(fd, &last, 1, size - 1) == 1 && last != '\n';
}

/* The live lines of a revoked file's text, for its compaction. */
static GString *
revoked_live_lines(const char *text, gint64 now)
{
	GString	*out = g_string_new(NULL);
	char	**lines = g_strsplit(text, "\n", -1);
	gint64	 until;
	int	 i;

	for (i = 0; lines[i] != NULL; i++)
		if (revoked_line(lines[i], now, NULL, &until))
			g_string_append_printf(out, "%s\n", lines[i]);
	g_strfreev(lines);
	return out;
}

/*
 * Remember a logged-out session until it would have expired anyway, in
 * the table and at the end of the file, under an exclusive lock.  A
 * file past REVOKED_COMPACT bytes, half of it or more expired, is first
 * rewritten in place with the live lines (rewrite_from_start()): a
 * rename would lose what another process appends meanwhile to the old
 * file.
 */
static gboolean
revoke_session(struct helper *hp, const struct session *s)
{
	gint64		 now = g_get_real_time() / G_USEC_PER_SEC;
	gint64		 until = s->issued + SESSION_MAX_SECONDS;
	GString		*live = NULL;
	struct stat	 st;
	char		*line, *text;
	gboolean	 ok;
	int		 fd;

	g_hash_table_replace(hp->revoked, g_strdup(s->id),
	    g_memdup2(&until, sizeof(until)));
	/* On disk too: other processes (CGI) and restarts must agree. */
	fd = open(hp->revoked_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1 || flock(fd, LOCK_EX) == -1 || fstat(fd, &st) == -1) {
		log_warn("priv: %s: %s", hp->revoked_path, g_strerror(errno));
		if (fd != -1)
			close(fd);
		return FALSE;
	}
	line = g_strdup_printf("%s%s %" G_GINT64_FORMAT "\n",
	    ends_mid_line(fd, st.st_size) ? "\n" : "", s->id, until);
	if (st.st_size >= REVOKED_COMPACT &&
	    (text = read_from_start(fd)) != NULL) {
		live = revoked_live_lines(text, now);
		g_free(text);
	}
	if (live != NULL && live->len * 2 <= (gsize)st.st_size) {
		g_string_append(live, line);
		ok = rewrite_from_start(fd, live);
	} else
		ok = write_at(fd, line, strlen(line), st.st_size);
	if (!ok)
		log_warn("priv: %s: %s", hp->revoked_path, g_strerror(errno));
	if (live != NULL)
		g_string_free(live, TRUE);
	g_free(line);
	close(fd);
	return ok;
}

/* Decode a token and check it was not logged out. */
static gboolean
valid_session(struct helper *hp, const char *token, struct session *s)
{
	gint64	now = g_get_real_time() / G_USEC_PER_SEC;

	if (!session_decode(hp->key, token, now, s) || !revoked_load(hp))
		return FALSE;
	return !g_hash_table_contains(hp->revoked, s->id);
}

/* Who may log in: an existing user; root only if allowed; not root
 * ourselves, only our own user. */
static enum priv_status
login_allowed(struct helper *hp, struct passwd *pw)
{
	if (pw == NULL)
		return PRIV_DENIED;
	if (pw->pw_uid == 0 && !hp->cfg->allow_root)
		return PRIV_ROOT_REFUSED;
	if (hp->self_uid != 0 && pw->pw_uid != hp->self_uid)
		return PRIV_OTHER_USER;
	return PRIV_OK;
}

/*
 * pam_unix answers at once for a name that is no account, but hashes a
 * wrong password twice for an account (Linux-PAM 1.5 on Debian 12:
 * two 16 MB yescrypt areas per attempt, seen with strace).
 */
#define DUMMY_HASHES	2

/*
 * Take as long over a name that is no account as pam_unix takes over a
 * wrong password, by hashing it as often with the system's default
 * method: the time of an answer must not tell which names are accounts.
 */
static void
dummy_check(const struct helper *hp, const char *password)
{
	struct crypt_data	*cd;
	int			 i;

	if (hp->dummy_setting == NULL)
		return;
	cd = g_new0(struct crypt_data, 1);	/* 32 KB: not on the stack */
	for (i = 0; i < DUMMY_HASHES; i++)
		crypt_r(password, hp->dummy_setting, cd);
	explicit_bzero(cd, sizeof(*cd));
	g_free(cd);
}

/* Whether password opens the account pw of user (NULL: no account). */
static enum priv_status
password_check(struct helper *hp, struct passwd *pw, const char *user,
    const char *password, const char *peer)
{
	enum priv_status st = login_allowed(hp, pw);

	if (pw == NULL) {
		dummy_check(hp, password);
		return PRIV_DENIED;
	}
	return st == PRIV_OK ? pam_check(user, password, peer) : st;
}

/*
 * Count a login attempt as failed for its user (ukey, NULL for no
 * account) and its address before the password is checked, and write
 * the counts down: a helper that dies or stops during the check (the
 * caller of a set-uid labmail sets its limits) then leaves no guess
 * uncounted.  *addr_before gets the address's count as it was, for
 * strike_undo().  FALSE if the counts could not be written.
 */
static gboolean
strike_ahead(struct helper *hp, int tfd, const char *ukey, const char *akey,
    gint64 now, struct strikes *addr_before)
{
	struct strikes	*as;

	if (ukey != NULL)
		strike(strikes_of(hp, ukey, now), PRIV_FAILURES_USER, now);
	/* Last, as strikes_of() may drop other counts to make room. */
	as = strikes_of(hp, akey, now);
	*addr_before = as != NULL ? *as : (struct strikes){ 0 };
	strike(as, PRIV_FAILURES_ADDR, now);
	return throttle_write(hp, tfd, now);
}

/* Take back what strike_ahead() counted, for a login that succeeded:
 * the user's failures go, the address's are as they were. */
static void
strike_undo(struct helper *hp, const char *ukey, const char *akey,
    const struct strikes *addr_before)
{
	struct strikes	*as = g_hash_table_lookup(hp->throttle, akey);

	if (ukey != NULL)
		g_hash_table_remove(hp->throttle, ukey);
	if (as != NULL)
		*as = *addr_before;
}

/* MSG_LOGIN: user, password, peer. */
static void
do_login(struct helper *hp, int sock, const char **f)
{
	const char	*user = f[0], *peer = f[2];
	gint64		 now = g_get_real_time() / G_USEC_PER_SEC;
	gboolean	 valid = session_valid_user(user);
	struct passwd	*pw = valid ? getpwnam(user) : NULL;
	/* Every name that could be an account gets a count, so that the
	 * counts do not tell which ones are. */
	char		*ukey = valid ? g_strconcat("u:", user, NULL) : NULL;
	char		*akey = g_strconcat("a:", peer, NULL);
	char		 wait[16] = "0";
	char		*token = NULL;
	struct session	 s;
	struct strikes	 addr_before;
	enum priv_status st;
	guint		 retry;
	int		 tfd = throttle_load(hp);

	if (tfd != -1 && (retry = throttled(hp, ukey, akey, now)) > 0) {
		st = PRIV_THROTTLED;
		g_snprintf(wait, sizeof(wait), "%u", retry);
	} else if (tfd == -1 || !strike_ahead(hp, tfd, ukey, akey, now,
	    &addr_before)) {	/* no counts, so no password checks */
		st = PRIV_UNAVAILABLE;
		g_snprintf(wait, sizeof(wait), "%u", PRIV_BLOCK_FIRST);
	} else if ((st = password_check(hp, pw, user, f[1], peer)) ==
	    PRIV_OK) {
		strike_undo(hp, ukey, akey, &addr_before);
		session_start(&s, user, now);
		token = session_encode(hp->key, &s);
	}
	if (tfd != -1)
		throttle_save(hp, tfd, now);
	reply(sock, st, (const char *const[]){ token ? token : "", wait }, 2,
	    -1);
	g_free(token);
	g_free(ukey);
	g_free(akey);
}

/* Whether PAM's account checks (expiry, as at login) still pass for
 * user; nothing is asked of the user. */
static gboolean
pam_account_ok(const char *user)
{
	struct pam_conv	 conv = { pam_conv_fn, (void *)"" };
	pam_handle_t	*h = NULL;
	int		 rc;

	if (pam_start(PRIV_PAM_SERVICE, user, &conv, &h) != PAM_SUCCESS)
		return FALSE;
	rc = pam_acct_mgmt(h, PAM_SILENT);
	pam_end(h, rc);
	return rc == PAM_SUCCESS;
}

/*
 * The account of token's session if the session is valid and its user
 * may still log in: a session outlives neither its account nor a rule
 * that now refuses it (root without --allow-root), nor, past the next
 * renewal (a minute at most), an account that PAM now refuses (expired).
 * Else NULL.
 */
static struct passwd *
session_account(struct helper *hp, const char *token, struct session *s)
{
	gint64		 now = g_get_real_time() / G_USEC_PER_SEC;
	struct passwd	*pw;

	if (!valid_session(hp, token, s) || (pw = getpwnam(s->user)) == NULL ||
	    login_allowed(hp, pw) != PRIV_OK)
		return NULL;
	/* PAM costs a millisecond: asked when the session is renewed. */
	if (now - s->seen >= SESSION_RENEW_SECONDS &&
	    !pam_account_ok(s->user))
		return NULL;
	return pw;
}

/* MSG_CHECK: token -> user and maybe a renewed token. */
static void
do_check(struct helper *hp, int sock, const char **f)
{
	struct session	 s;
	gint64		 now = g_get_real_time() / G_USEC_PER_SEC;
	char		*renewed = NULL;

	if (session_account(hp, f[0], &s) == NULL) {
		reply(sock, PRIV_DENIED, (const char *const[]){ "", "" }, 2,
		    -1);
		return;
	}
	if (now - s.seen >= SESSION_RENEW_SECONDS) {
		s.seen = now;
		renewed = session_encode(hp->key, &s);
	}
	reply(sock, PRIV_OK, (const char *const[]){ s.user,
	    renewed ? renewed : "" }, 2, -1);
	g_free(renewed);
}

/* MSG_LOGOUT: token. */
static void
do_logout(struct helper *hp, int sock, const char **f)
{
	struct session	s;
	gint64		now = g_get_real_time() / G_USEC_PER_SEC;
	enum priv_status st = PRIV_OK;

	/* Any genuine session is revoked, even when the revoked file
	 * cannot be read now; not written down, the logout would not hold
	 * for other processes (CGI) or after a restart: say so. */
	if (session_decode(hp->key, f[0], now, &s) && !revoke_session(hp, &s))
		st = PRIV_UNAVAILABLE;
	reply(sock, st, NULL, 0, -1);
}

/*
 * Open the user's spool as the user.  Opening with the user's own
 * rights (not root's) and O_NOFOLLOW, then checking the open file,
 * defeats a user who replaces the spool by a link to someone else's
 * file (symlink or hard link) to read it through us.
 */
static enum priv_status
open_spool_as(struct helper *hp, const struct passwd *pw, int *fd)
{
	char		*path = g_build_filename(hp->cfg->spool_dir,
			    pw->pw_name, NULL);
	struct stat	 st;
	int		 err;

	if (hp->self_uid == 0 && (setegid(pw->pw_gid) == -1 ||
	    seteuid(pw->pw_uid) == -1))
		log_fatal("priv: cannot become %s: %s", pw->pw_name,
		    g_strerror(errno));
	*fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY);
	err = errno;
	if (hp->self_uid == 0 && (seteuid(0) == -1 || setegid(0) == -1))
		log_fatal("priv: cannot become root again: %s",
		    g_strerror(errno));
	g_free(path);
	if (*fd == -1)
		return err == ENOENT ? PRIV_NO_SPOOL : PRIV_BAD_SPOOL;
	if (fstat(*fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != pw->pw_uid || st.st_nlink != 1) {
		close(*fd);
		*fd = -1;
		return PRIV_BAD_SPOOL;
	}
	/* Reads may wait on the disk; they must not fail with EAGAIN. */
	fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) & ~O_NONBLOCK);
	return PRIV_OK;
}

/* MSG_SPOOL: token -> the spool's fd. */
static void
do_spool(struct helper *hp, int sock, const char **f)
{
	struct session	 s;
	struct passwd	*pw;
	enum priv_status st = PRIV_DENIED;
	int		 fd = -1;

	if ((pw = session_account(hp, f[0], &s)) != NULL)
		st = open_spool_as(hp, pw, &fd);
	reply(sock, st, NULL, 0, fd);
	if (fd != -1)
		close(fd);
}

/* Read the key from path into key: 0, or an errno value (EINVAL: the
 * file holds something else than one key). */
static int
key_read(const char *path, guchar *key)
{
	guchar	buf[SESSION_KEY_BYTES + 1];
	ssize_t	n;
	int	fd, err = 0;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return errno;
	do
		n = read(fd, buf, sizeof(buf));
	while (n == -1 && errno == EINTR);
	if (n == -1)
		err = errno;
	else if (n != SESSION_KEY_BYTES)
		err = EINVAL;
	else
		memcpy(key, buf, SESSION_KEY_BYTES);
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return err;
}

/*
 * Make a new key at path: written whole under a temporary name, then
 * linked into place, so that no process reads half a key (CGI requests
 * start side by side) and a write that fails (a full disk, a caller's
 * file size limit) leaves no empty key behind.  Another process that
 * made one first wins: its key is read.  0, or an errno value.
 */
static int
key_create(const char *path, guchar *key)
{
	char	*tmp = g_strconcat(path, ".XXXXXX", NULL);
	int	 fd, err = 0;

	if ((fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600)) == -1) {
		err = errno;
		g_free(tmp);
		return err;
	}
	session_random(key, SESSION_KEY_BYTES);
	if (!write_at(fd, (const char *)key, SESSION_KEY_BYTES, 0) ||
	    fsync(fd) == -1 || link(tmp, path) == -1)
		err = errno;
	close(fd);
	unlink(tmp);
	g_free(tmp);
	return err == EEXIST ? key_read(path, key) : err;
}

/* Read the signing key, or make one (0600) at first start. */
static gboolean
load_key(struct helper *hp, GError **err)
{
	char	*path = g_build_filename(hp->cfg->state_dir, KEY_FILE, NULL);
	int	 e = 0;

	if (g_mkdir_with_parents(hp->cfg->state_dir, 0700) == -1)
		e = errno;
	else if ((e = key_read(path, hp->key)) == ENOENT)
		e = key_create(path, hp->key);
	if (e == EINVAL)
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "session key %s: not a key of %d bytes (remove it to make "
		    "a new one)", path, SESSION_KEY_BYTES);
	else if (e != 0)
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "session key %s: %s", path, g_strerror(e));
	g_free(path);
	return e == 0;
}

/* The helper's loop: one request, one reply, until the web side ends. */
static G_NORETURN void
helper_main(struct helper *hp, int sock)
{
	char		 buf[PRIV_MSG_MAX];
	const char	*f[3];
	ssize_t		 len;
	int		 fd;

	for (;;) {
		len = msg_recv(sock, buf, &fd);
		if (len == 0)
			_exit(0);
		if (len < 0 || fd != -1)
			log_fatal("priv: bad message from the web process");
		switch (buf[0]) {
		case MSG_LOGIN:
			if (!msg_fields(buf, len, f, 3))
				log_fatal("priv: bad login message");
			do_login(hp, sock, f);
			break;
		case MSG_CHECK:
		case MSG_LOGOUT:
		case MSG_SPOOL:
			if (!msg_fields(buf, len, f, 1))
				log_fatal("priv: bad message");
			if (buf[0] == MSG_CHECK)
				do_check(hp, sock, f);
			else if (buf[0] == MSG_LOGOUT)
				do_logout(hp, sock, f);
			else
				do_spool(hp, sock, f);
			break;
		default:
			log_fatal("priv: unknown message %d", buf[0]);
		}
		/* The password must not linger in memory. */
		explicit_bzero(buf, sizeof(buf));
	}
}

/*
 * Lift the soft file size limit to the hard one; TRUE if that leaves
 * none.  A set-uid caller sets our limits, and without CAP_SYS_RESOURCE
 * even root cannot lift a hard one: under it a write of the failure
 * counts may be cut short, and the guesses they held lost.
 */
static gboolean
file_size_unlimited(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_FSIZE, &rl) == -1)
		return FALSE;
	rl.rlim_cur = rl.rlim_max;
	return setrlimit(RLIMIT_FSIZE, &rl) == 0 &&
	    rl.rlim_max == RLIM_INFINITY;
}

/* The helper process: state, signals, then the loop. */
static G_NORETURN void
helper_start(const struct priv_config *cfg, int sock, GError *key_err)
{
	struct helper	hp;

	if (key_err != NULL)
		log_fatal("priv: %s", key_err->message);
	memset(&hp, 0, sizeof(hp));
	hp.cfg = cfg;
	/*
	 * Out of the caller's session and terminal: no Ctrl-C or Ctrl-Z
	 * from there (a set-uid caller could stop us holding the lock on
	 * the failure counts).  Nor SIGTERM, which systemd sends to every
	 * process of the unit: we end when the web side closes.
	 */
	if (setsid() == -1)
		log_fatal("priv: setsid: %s", g_strerror(errno));
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	/* A write over a file size limit fails with EFBIG, handled as any
	 * failed write, rather than kill us halfway through a state file;
	 * under one, no login is checked (throttle_load()). */
	signal(SIGXFSZ, SIG_IGN);
	hp.size_limited = !file_size_unlimited();
	hp.self_uid = getuid();
	/* NULL (no dummy check) only if libcrypt knows no method at all. */
	hp.dummy_setting = crypt_gensalt_ra(NULL, 0, NULL, 0);
	if (!load_key(&hp, &key_err))
		log_fatal("priv: %s", key_err->message);
	hp.revoked_path = g_build_filename(cfg->state_dir, REVOKED_FILE, NULL);
	hp.throttle_path = g_build_filename(cfg->state_dir, THROTTLE_FILE,
	    NULL);
	hp.revoked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    g_free);
	hp.throttle = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    g_free);
	helper_main(&hp, sock);
}

/* --- the web side --- */

struct priv *
priv_start(const struct priv_config *cfg, GError **err)
{
	struct priv	*p;
	int		 sv[2];
	pid_t		 pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "socketpair: %s", g_strerror(errno));
		return NULL;
	}
	if ((pid = fork()) == -1) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "fork: %s", g_strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	if (pid == 0) {
		close(sv[0]);
		/* Keep only the socket and stderr: nothing else leaks in. */
		if (dup2(sv[1], 3) == -1)
			_exit(1);
		closefrom(4);
		helper_start(cfg, 3, NULL);
	}
	close(sv[1]);
	p = g_new0(struct priv, 1);
	p->sock = sv[0];
	p->pid = pid;
	g_mutex_init(&p->lock);
	return p;
}

void
priv_stop(struct priv *p)
{
	if (p == NULL)
		return;
	close(p->sock);
	while (waitpid(p->pid, NULL, 0) == -1 && errno == EINTR)
		;
	g_mutex_clear(&p->lock);
	g_free(p);
}

gboolean
priv_drop(const char *user, GError **err)
{
	struct passwd	*pw;

	if (geteuid() != 0)
		return TRUE;
	if ((pw = getpwnam(user)) == NULL || pw->pw_uid == 0) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "user %s: no such unprivileged user", user);
		return FALSE;
	}
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "cannot drop privileges to %s: %s", user,
		    g_strerror(errno));
		return FALSE;
	}
	/* Paranoia, as OpenSMTPD: root must be out of reach for good. */
	if (setuid(0) != -1 || seteuid(0) != -1)
		log_fatal("privileges could be regained after the drop");
	return TRUE;
}

/*
 * One round trip: send the request, read the reply and split it into nf
 * fields.  A helper that is gone or answers nonsense is fatal: without
 * it no login or spool is safe.  A request too long to send (a 5 KB
 * cookie, a 1 MB password: neither can name a session or a user) is
 * denied here, its fields "", and never reaches the helper.
 */
static enum priv_status
call(struct priv *p, char type, const char *const *args, int nargs,
    char *buf, const char **f, int nf, int *fd)
{
	ssize_t	len;
	int	got_fd, i;

	if (!msg_fits(args, nargs)) {
		for (i = 0; i < nf; i++)
			f[i] = "";
		if (fd != NULL)
			*fd = -1;
		return PRIV_DENIED;
	}
	g_mutex_lock(&p->lock);
	if (!msg_send(p->sock, type, args, nargs, -1))
		log_fatal("priv: helper gone: %s", g_strerror(errno));
	len = msg_recv(p->sock, buf, &got_fd);
	g_mutex_unlock(&p->lock);
	if (len <= 0 || !msg_fields(buf, len, f, nf) || buf[0] < '0' ||
	    buf[0] > '0' + PRIV_UNAVAILABLE)
		log_fatal("priv: bad answer from the helper");
	if (fd != NULL)
		*fd = got_fd;
	else if (got_fd != -1)
		close(got_fd);
	return buf[0] - '0';
}

enum priv_status
priv_login(struct priv *p, const char *user, const char *password,
    const char *peer, char **token, guint *retry_after)
{
	char		 buf[PRIV_MSG_MAX];
	const char	*f[2];
	enum priv_status st;
	guint64		 wait = 0;

	st = call(p, MSG_LOGIN, (const char *const[]){ user, password, peer },
	    3, buf, f, 2, NULL);
	*token = st == PRIV_OK ? g_strdup(f[0]) : NULL;
	g_ascii_string_to_unsigned(f[1], 10, 0, 86400, &wait, NULL);
	*retry_after = (guint)wait;
	return st;
}

enum priv_status
priv_check(struct priv *p, const char *token, char **user, char **renewed)
{
	char		 buf[PRIV_MSG_MAX];
	const char	*f[2];
	enum priv_status st;

	st = call(p, MSG_CHECK, &token, 1, buf, f, 2, NULL);
	*user = st == PRIV_OK ? g_strdup(f[0]) : NULL;
	*renewed = st == PRIV_OK && *f[1] != '\0' ? g_strdup(f[1]) : NULL;
	return st;
}

enum priv_status
priv_logout(struct priv *p, const char *token)
{
	char	buf[PRIV_MSG_MAX];

	return call(p, MSG_LOGOUT, &token, 1, buf, NULL, 0, NULL);
}

enum priv_status
priv_open_spool(struct priv *p, const char *token, int *fd)
{
	char		 buf[PRIV_MSG_MAX];
	enum priv_status st;

	st = call(p, MSG_SPOOL, &token, 1, buf, NULL, 0, fd);
	if (st != PRIV_OK && *fd != -1) {
		close(*fd);
		*fd = -1;
	}
	return st;
}

const char *
priv_status_str(enum priv_status st)
{
	static const char *const names[] = {
		[PRIV_OK] = "ok",
		[PRIV_DENIED] = "denied",
		[PRIV_ROOT_REFUSED] = "root may not log in",
		[PRIV_OTHER_USER] = "only the user running labmail",
		[PRIV_ACCOUNT] = "account expired",
		[PRIV_THROTTLED] = "too many failures",
		[PRIV_NO_SPOOL] = "no spool",
		[PRIV_BAD_SPOOL] = "bad spool",
		[PRIV_UNAVAILABLE] = "logins unavailable",
	};

	return (guint)st < G_N_ELEMENTS(names) ? names[st] : "?";
}
