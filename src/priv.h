/*
 * priv - the privileged helper, and the web side's handle on it.
 *
 * Started as root, labmail forks this small helper before it serves
 * anything, and the network-facing process then drops to an unprivileged
 * user (priv_drop()).  The helper alone:
 *   - checks passwords with PAM (service "labmail"; without its file PAM
 *     applies "other"), with account checks, and throttles failures;
 *   - holds the key that signs sessions (a file in the state directory,
 *     created 0600 at first start) and the list of logged-out sessions;
 *   - for a valid session, opens USER in the spool folder (spool_dir,
 *     /var/mail by default) *as that user*
 *     (O_NOFOLLOW, then fstat: a regular file owned by the user with one
 *     link) and passes the descriptor back (SCM_RIGHTS).
 * The web side asks for a spool by session token, never by path or user
 * name, so a compromised web process can read no spool without a valid
 * session.  Started as an ordinary user, labmail can log in only that
 * user (PAM checks no one else's password) and read only that spool.
 *
 * Protocol: one SOCK_SEQPACKET message per request and per reply: a
 * type byte, then NUL-terminated strings; anything malformed from the
 * other side is fatal, as it can only mean a bug or a compromise.
 *
 * The web side's calls are thread-safe (one request at a time on the
 * socket).  Strings returned through pointers are the caller's to free.
 */
#ifndef LABMAIL_PRIV_H
#define LABMAIL_PRIV_H

#include <glib.h>

#define PRIV_MSG_MAX		4096
#define PRIV_PAM_SERVICE	"labmail"

/*
 * Login throttling: failures allowed per window, then waits that double.
 * An address gets more than a user name: a whole class may share one
 * address behind the lab's router.
 */
#define PRIV_FAILURES_USER	5
#define PRIV_FAILURES_ADDR	20
#define PRIV_FAILURE_WINDOW	(15 * 60)
#define PRIV_BLOCK_FIRST	30
#define PRIV_BLOCK_MAX		300

enum priv_status {
	PRIV_OK,
	PRIV_DENIED,		/* wrong password or user; bad, expired or
				 * logged-out session */
	PRIV_ROOT_REFUSED,	/* root, without --allow-root */
	PRIV_OTHER_USER,	/* not root: only our own user can log in */
	PRIV_ACCOUNT,		/* account expired or password too old */
	PRIV_THROTTLED,		/* too many failures of this user or
				 * address, or the table of failures is
				 * full of blocks: wait retry_after */
	PRIV_NO_SPOOL,		/* no spool_dir/USER yet */
	PRIV_BAD_SPOOL,		/* not a regular file owned by the user */
	PRIV_UNAVAILABLE,	/* the failures cannot be counted (state
				 * file unusable): no login until they can */
};

struct priv_config {
	const char	*state_dir;	/* holds session.key, revoked (the
					 * logged-out sessions) and throttle
					 * (the failed logins) */
	const char	*spool_dir;	/* "/var/mail" */
	gboolean	 allow_root;
};

struct priv;

/*
 * Fork the helper; call before any thread exists.  In the helper this
 * never returns.  NULL with *err set if the state directory or the key
 * cannot be made.
 */
struct priv	*priv_start(const struct priv_config *, GError **err);
/* Close the socket and wait for the helper to exit. */
void		 priv_stop(struct priv *);

/*
 * Drop to user (its uid, gid and no other groups) for good, if root.
 * FALSE with *err if the user does not exist or the drop fails.
 */
gboolean	 priv_drop(const char *user, GError **err);

enum priv_status priv_login(struct priv *, const char *user,
		    const char *password, const char *peer, char **token,
		    guint *retry_after);
/* *user gets the session's user; *renewed a fresher token, or NULL. */
enum priv_status priv_check(struct priv *, const char *token, char **user,
		    char **renewed);
enum priv_status priv_logout(struct priv *, const char *token);
/* *fd gets the spool, open for reading, on PRIV_OK. */
enum priv_status priv_open_spool(struct priv *, const char *token, int *fd);

const char	*priv_status_str(enum priv_status);

#endif
