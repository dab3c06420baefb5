/*
 * csrf - double-submit tokens: 128 random bits, base64url.
 */
#include <string.h>

#include "csrf.h"
#include "session.h"

#define CSRF_CHARS	SESSION_ID_CHARS	/* 128 random bits */

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

char *
csrf_token(const struct http_request *req, struct http_response *resp)
{
	const char	*have = http_cookie(req, CSRF_COOKIE);
	char		*token;

	if (well_formed(have))
		return g_strdup(have);
	token = g_malloc(SESSION_ID_CHARS + 1);
	session_random_id(token);
	http_response_set_cookie(resp, req, CSRF_COOKIE, token, -1);
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
