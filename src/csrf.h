/*
 * csrf - tokens that prove a form was posted from one of our pages.
 *
 * Double-submit: a random token lives in an HttpOnly, SameSite=Strict
 * cookie and is copied into every form as the field csrf_token.  A POST
 * is accepted only when both are present and equal.  Another site can
 * neither read the cookie nor make the browser send it (SameSite), so it
 * cannot forge a matching pair.
 */
#ifndef LABMAIL_CSRF_H
#define LABMAIL_CSRF_H

#include "http.h"

#define CSRF_COOKIE	"labmail_csrf"
#define CSRF_FIELD	"csrf_token"

/*
 * The token to put in a form: the request's cookie if it holds a
 * well-formed token, else a new one, which is set as a cookie on resp.
 * The caller frees the result.
 */
char		*csrf_token(const struct http_request *, struct http_response *);

/* TRUE if the form's token matches the cookie's. */
gboolean	 csrf_check(const struct http_request *);

#endif
