/*
 * session - signed session tokens with GLib's HMAC and base64.
 */
#include <sys/random.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "session.h"

#define SESSION_VERSION	"v1"

gboolean
session_valid_user(const char *name)
{
	gsize	i, len = name != NULL ? strlen(name) : 0;

	if (len == 0 || len > SESSION_USER_MAX || name[0] == '.' ||
	    name[0] == '-')
		return FALSE;
	for (i = 0; i < len; i++)
		if (!g_ascii_isalnum(name[i]) && strchr("._-", name[i]) == NULL)
			return FALSE;
	return TRUE;
}

void
session_random(guchar *buf, gsize len)
{
	if (getrandom(buf, len, 0) != (ssize_t)len)
		log_fatal("getrandom: %s", g_strerror(errno));
}

/* Turn standard base64 into base64url without padding, in place. */
static void
to_base64url(char *s)
{
	char	*p;

	for (p = s; *p != '\0'; p++)
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=') {
			*p = '\0';
			break;
		}
}

/* base64url text of len bytes. */
static char *
encode_b64url(const guchar *data, gsize len)
{
	char	*s = g_base64_encode(data, len);

	to_base64url(s);
	return s;
}

/* Decode base64url (no padding); NULL if it is not base64url. */
static guchar *
decode_b64url(const char *s, gsize *len)
{
	GString	*std = g_string_new(NULL);
	guchar	*out;

	for (; *s != '\0'; s++) {
		if (g_ascii_isalnum(*s))
			g_string_append_c(std, *s);
		else if (*s == '-')
			g_string_append_c(std, '+');
		else if (*s == '_')
			g_string_append_c(std, '/');
		else {
			g_string_free(std, TRUE);
			return NULL;
		}
	}
	while (std->len % 4 != 0)
		g_string_append_c(std, '=');
	out = g_base64_decode(std->str, len);
	g_string_free(std, TRUE);
	return out;
}

void
session_random_id(char out[SESSION_ID_CHARS + 1])
{
	guchar	 raw[16];
	char	*s;

	session_random(raw, sizeof(raw));
	s = encode_b64url(raw, sizeof(raw));
	g_strlcpy(out, s, SESSION_ID_CHARS + 1);
	g_free(s);
}

void
session_start(struct session *s, const char *user, gint64 now)
{
	memset(s, 0, sizeof(*s));
	g_strlcpy(s->user, user, sizeof(s->user));
	s->issued = s->seen = now;
	session_random_id(s->id);
}

/* The MAC of text, as base64url. */
static char *
mac_of(const guchar key[SESSION_KEY_BYTES], const char *text)
{
	GHmac	*h = g_hmac_new(G_CHECKSUM_SHA256, key, SESSION_KEY_BYTES);
	guint8	 digest[32];
	gsize	 len = sizeof(digest);

	g_hmac_update(h, (const guchar *)text, strlen(text));
	g_hmac_get_digest(h, digest, &len);
	g_hmac_unref(h);
	return encode_b64url(digest, len);
}

char *
session_encode(const guchar key[SESSION_KEY_BYTES], const struct session *s)
{
	char	*fields, *payload, *signed_part, *mac, *token;

	fields = g_strdup_printf("%s\n%" G_GINT64_FORMAT "\n%" G_GINT64_FORMAT
	    "\n%s", s->user, s->issued, s->seen, s->id);
	payload = encode_b64url((const guchar *)fields, strlen(fields));
	signed_part = g_strconcat(SESSION_VERSION ".", payload, NULL);
	mac = mac_of(key, signed_part);
	token = g_strconcat(signed_part, ".", mac, NULL);
	g_free(fields);
	g_free(payload);
	g_free(signed_part);
	g_free(mac);
	return token;
}

/* TRUE if a and b are equal strings; time depends on length only. */
static gboolean
equal_const_time(const char *a, const char *b)
{
	gsize	len = strlen(a), i;
	guchar	diff = 0;

	if (len != strlen(b))
		return FALSE;
	for (i = 0; i < len; i++)
		diff |= (guchar)a[i] ^ (guchar)b[i];
	return diff == 0;
}

/* Parse the fields of a verified payload into s. */
static gboolean
parse_fields(const guchar *data, gsize len, struct session *s)
{
	char	*text = g_strndup((const char *)data, len);
	char	**f = g_strsplit(text, "\n", 5);
	gboolean ok = FALSE;

	memset(s, 0, sizeof(*s));
	if (g_strv_length(f) == 4 && session_valid_user(f[0]) &&
	    strlen(f[3]) == SESSION_ID_CHARS &&
	    g_ascii_string_to_signed(f[1], 10, 0, G_MAXINT64, &s->issued,
	    NULL) &&
	    g_ascii_string_to_signed(f[2], 10, 0, G_MAXINT64, &s->seen,
	    NULL)) {
		g_strlcpy(s->user, f[0], sizeof(s->user));
		g_strlcpy(s->id, f[3], sizeof(s->id));
		ok = TRUE;
	}
	g_strfreev(f);
	g_free(text);
	return ok;
}

gboolean
session_decode(const guchar key[SESSION_KEY_BYTES], const char *token,
    gint64 now, struct session *out)
{
	const char	*dot;
	char		*signed_part, *mac;
	guchar		*payload = NULL;
	gsize		 len;
	gboolean	 ok = FALSE;

	if (token == NULL || strlen(token) > SESSION_TOKEN_MAX ||
	    !g_str_has_prefix(token, SESSION_VERSION ".") ||
	    (dot = strrchr(token, '.')) == token + strlen(SESSION_VERSION))
		return FALSE;
	signed_part = g_strndup(token, dot - token);
	mac = mac_of(key, signed_part);
	/* Verify before parsing: nothing unsigned is ever looked at. */
	if (equal_const_time(mac, dot + 1) &&
	    (payload = decode_b64url(signed_part + strlen(SESSION_VERSION) + 1,
	    &len)) != NULL && parse_fields(payload, len, out))
		ok = out->issued <= now + 60 && out->seen >= out->issued &&
		    now - out->issued < SESSION_MAX_SECONDS &&
		    now - out->seen < SESSION_IDLE_SECONDS;
	g_free(payload);
	g_free(mac);
	g_free(signed_part);
	return ok;
}
