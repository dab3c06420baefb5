/*
 * session - login sessions as HMAC-signed tokens.
 *
 * A token says who is logged in and since when, signed with a key that
 * only the privileged helper holds (priv.c), so it survives restarts
 * and works across CGI processes without any server-side table:
 *
 *	v1.<base64url(user "\n" issued "\n" seen "\n" id)>.<base64url(mac)>
 *
 * mac = HMAC-SHA256(key, everything before the last dot).  "issued" is
 * when the user logged in (absolute expiry), "seen" when the token was
 * last renewed (idle expiry), "id" a random name for the session that a
 * logout revokes.  Pure module: no I/O but getrandom(2) for ids.
 */
#ifndef LABMAIL_SESSION_H
#define LABMAIL_SESSION_H

#include <glib.h>

#define SESSION_KEY_BYTES	32
#define SESSION_IDLE_SECONDS	(30 * 60)
#define SESSION_MAX_SECONDS	(12 * 60 * 60)
#define SESSION_RENEW_SECONDS	60	/* renew "seen" at most this often */
#define SESSION_USER_MAX	32
#define SESSION_ID_CHARS	22
#define SESSION_TOKEN_MAX	256

struct session {
	char	user[SESSION_USER_MAX + 1];
	gint64	issued;
	gint64	seen;
	char	id[SESSION_ID_CHARS + 1];
};

/* TRUE if name is a user name we accept: [A-Za-z0-9_][A-Za-z0-9._-]*,
 * at most SESSION_USER_MAX bytes (so it can never become a path). */
gboolean	 session_valid_user(const char *name);

/* A new session for user at time now (a random id). */
void		 session_start(struct session *, const char *user, gint64 now);

/* The signed token; the caller frees it. */
char		*session_encode(const guchar key[SESSION_KEY_BYTES],
		    const struct session *);

/*
 * Check a token's form and signature (in constant time) and its expiry
 * at time now.  TRUE and *out filled if it is good.
 */
gboolean	 session_decode(const guchar key[SESSION_KEY_BYTES],
		    const char *token, gint64 now, struct session *out);

/* Fill buf with len random bytes (getrandom(2); aborts if it fails). */
void		 session_random(guchar *buf, gsize len);

/* A random token of SESSION_ID_CHARS base64url characters. */
void		 session_random_id(char out[SESSION_ID_CHARS + 1]);

#endif
