/*
 * csrf - double-submit tokens: 128 random bits, base64url.
 */
#include <sys/random.h>

#include <errno.h>
#include <string.h>

#include "csrf.h"
#include "log.h"

#define CSRF_BYTES	16
#define CSRF_CHARS	22	/* base64url of 16 bytes, no padding */

/* TRUE if s looks like a token we made (length and alphabet). */
static gboolean
well_formed(const char *s)
{
	gsize	i;

	if (s == NULL || strlen(s) != CSRF_CHARS)
		return FALSE;
	for (i = 0; i < CSRF_CHARS; i++)
		if (!g_ascii_isalnum(s[i]) && s[i] != '-' && s[i] != '_')
			return FALSE;
	return TRUE;
}

/* A new random token. */
static char *
new_token(void)
{
	guchar	 raw[CSRF_BYTES];
	char	*b64, *p;

	if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
		log_fatal("getrandom: %s", g_strerror(errno));
	b64 = g_base64_encode(raw, sizeof(raw));
	/* base64url (RFC 4648, section 5): safe in a cookie, no padding. */
	for (p = b64; *p != '\0'; p++)
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	b64[CSRF_CHARS] = '\0';
	return b64;
}

char *
csrf_token(const struct http_request *req, struct http_response *resp)
{
	const char	*have = http_cookie(req, CSRF_COOKIE);
	char		*token, *cookie;

	if (well_formed(have))
		return g_strdup(have);
	token = new_token();
	cookie = g_strdup_printf("%s=%s; Path=%s/; HttpOnly; "
	    "SameSite=Strict%s", CSRF_COOKIE, token, req->prefix,
	    req->https ? "; Secure" : "");
	http_response_add_header(resp, "Set-Cookie", cookie);
	g_free(cookie);
	return token;
}

gboolean
csrf_check(const struct http_request *req)
{
	const char	*cookie = http_cookie(req, CSRF_COOKIE);
	const char	*field = http_form(req, CSRF_FIELD);
	guchar		 diff = 0;
	gsize		 i;

	if (!well_formed(cookie) || !well_formed(field))
		return FALSE;
	/* Compare in constant time: no timing hint about the token. */
	for (i = 0; i < CSRF_CHARS; i++)
		diff |= (guchar)cookie[i] ^ (guchar)field[i];
	return diff == 0;
}
