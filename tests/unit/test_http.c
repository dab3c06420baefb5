/*
 * test_http - unit tests of the http and csrf modules.
 *
 * http: cookie parsing and form fields are table-driven; a
 * multipart/form-data body as browsers send it is parsed field by
 * field, and bodies that are not one give no fields; dates are
 * compared with fixed strings; error pages are checked to hold nothing
 * but the status, whatever the request held.  csrf: the cookie a new
 * token is set with, reuse of a good cookie, and csrf_check() on
 * every way a pair can be wrong.
 */

#include <sys/stat.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <gmime/gmime.h>

#include "csrf.h"
#include "http.h"

/* A string literal and its length, NUL bytes included. */
#define WITH_LEN(s)	s, sizeof(s) - 1

#define U_FFFD		"\xef\xbf\xbd"

/* One Cookie header and the table it gives ("name=value;..." sorted). */
static const struct {
	const char	*header;
	const char	*want;
} cookie_cases[] = {
	{ "", "" },
	{ "a=1", "a=1;" },
	{ "a=1; b=2", "a=1;b=2;" },
	{ "a=1;b=2", "a=1;b=2;" },
	{ "  a=1 ;   b=2  ", "a=1;b=2;" },
	{ "a=1;\tb=2", "a=1;b=2;" },
	/* First value of a name wins. */
	{ "a=1; a=2", "a=1;" },
	{ "a=; a=2", "a=;" },
	/* No '=' or no name: skipped, the rest kept. */
	{ "junk; b=2", "b=2;" },
	{ "=x; b=2", "b=2;" },
	{ "b=2; junk", "b=2;" },
	{ ";;; ; b=2;;", "b=2;" },
	/* The value runs to the ';', '=' and quotes included. */
	{ "a=b=c", "a=b=c;" },
	{ "a=\"q\"", "a=\"q\";" },
	{ "a=", "a=;" },
	{ "labmail_csrf=AAAAAAAAAAAAAAAAAAAAAA; theme=dark",
	    "labmail_csrf=AAAAAAAAAAAAAAAAAAAAAA;theme=dark;" },
};

/* A request table as "name=value;" pairs, in name order ("" if there
 * is no table). */
static char *
table_string(GHashTable *table)
{
	GList	*names = table == NULL ? NULL : g_list_sort(
		    g_hash_table_get_keys(table), (GCompareFunc)strcmp), *l;
	GString	*out = g_string_new(NULL);

	for (l = names; l != NULL; l = l->next)
		g_string_append_printf(out, "%s=%s;", (char *)l->data,
		    (char *)g_hash_table_lookup(table, l->data));
	g_list_free(names);
	return g_string_free(out, FALSE);
}

static void
test_parse_cookies(void **state)
{
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cookie_cases); i++) {
		struct http_request	 req;
		char			*got;

		http_request_init(&req);
		http_parse_cookies(&req, cookie_cases[i].header);
		got = table_string(req.cookies);
		if (strcmp(got, cookie_cases[i].want) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"",
			    cookie_cases[i].header, got, cookie_cases[i].want);
		g_free(got);
		http_request_clear(&req);
	}
}

/* A header of many cookies: at most 64 kept, none holding a ';'. */
static void
test_parse_cookies_many(void **state)
{
	struct http_request	 req;
	GString			*header = g_string_new(NULL);
	int			 i;

	(void)state;
	for (i = 0; i < 100; i++)
		g_string_append_printf(header, "c%d=v%d; ", i, i);
	http_request_init(&req);
	http_parse_cookies(&req, header->str);
	assert_int_equal(http_table_size(req.cookies), 64);
	assert_string_equal(http_cookie(&req, "c0"), "v0");
	assert_string_equal(http_cookie(&req, "c63"), "v63");
	assert_null(http_cookie(&req, "c64"));
	assert_null(http_cookie(&req, "c99"));
	http_request_clear(&req);
	g_string_free(header, TRUE);
}

/*
 * Urlencoded data, as a form and as a query: the table it gives and, for
 * a form only, the field named in bad_field.  A NUL byte, raw or %00, in
 * a name or a value is kept as U+FFFD, never cuts it short, and names
 * a form's field; a query names none, as no form check is about it.
 */
static const struct {
	const char	*data;
	gsize		 len;
	const char	*want;
	const char	*bad;
} urlencoded_cases[] = {
	{ WITH_LEN("to=a%40b.c&subject=R%C3%A9union+1"),
	    "subject=R\xc3\xa9union 1;to=a@b.c;", NULL },
	{ WITH_LEN("a=1&a=2&=3&b"), "a=1;b=;", NULL },
	{ WITH_LEN("a=%zz&b=2"), "b=2;", "a" },
	{ WITH_LEN("a=x\0y"), "a=x" U_FFFD "y;", "a" },
	{ WITH_LEN("q=a%00b"), "q=a" U_FFFD "b;", "q" },
	/* Not "a=evil" under first-wins: the name is not cut short. */
	{ WITH_LEN("a%00x=evil&a=good"), "a=good;a" U_FFFD "x=evil;",
	    "a" U_FFFD "x" },
	{ WITH_LEN("\0a=1"), U_FFFD "a=1;", U_FFFD "a" },
	/* A NUL in a later, dropped value names nothing. */
	{ WITH_LEN("a=1&a=%00"), "a=1;", NULL },
};

static void
test_parse_urlencoded(void **state)
{
	gsize		i;
	gboolean	form;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(urlencoded_cases); i++)
		for (form = FALSE; form <= TRUE; form++) {
			struct http_request	 req;
			char			*got;

			http_request_init(&req);
			http_parse_urlencoded(&req, form,
			    urlencoded_cases[i].data, urlencoded_cases[i].len);
			got = table_string(form ? req.form : req.query);
			if (strcmp(got, urlencoded_cases[i].want) != 0)
				fail_msg("case %zu (%s): got \"%s\", want "
				    "\"%s\"", i, form ? "form" : "query", got,
				    urlencoded_cases[i].want);
			if (!form || urlencoded_cases[i].bad == NULL)
				assert_null(req.bad_field);
			else
				assert_string_equal(req.bad_field,
				    urlencoded_cases[i].bad);
			g_free(got);
			http_request_clear(&req);
		}
}

/* "f0=x&f1=x&..." with n fields. */
static GString *
many_fields(guint n)
{
	GString	*data = g_string_new(NULL);
	guint	 i;

	for (i = 0; i < n; i++)
		g_string_append_printf(data, "%sf%u=x", i > 0 ? "&" : "", i);
	return data;
}

/* HTTP_FIELDS_MAX fields parse; one more makes the request malformed,
 * its extra fields dropped. */
static void
test_parse_urlencoded_fields_max(void **state)
{
	guint		n;
	gboolean	form;

	(void)state;
	for (n = HTTP_FIELDS_MAX; n <= HTTP_FIELDS_MAX + 1; n++)
		for (form = FALSE; form <= TRUE; form++) {
			struct http_request	 req;
			GString			*data = many_fields(n);

			http_request_init(&req);
			http_parse_urlencoded(&req, form, data->str,
			    data->len);
			assert_int_equal(http_table_size(form ? req.form :
			    req.query), HTTP_FIELDS_MAX);
			if (n == HTTP_FIELDS_MAX)
				assert_null(req.malformed);
			else
				assert_non_null(req.malformed);
			http_request_clear(&req);
			g_string_free(data, TRUE);
		}
}

/* One form field as raw bytes, and what the form then holds. */
static const struct {
	const char	*data;
	gsize		 len;
	const char	*want;
	gboolean	 bad;		/* the field is named in bad_field */
} field_cases[] = {
	{ WITH_LEN("hello"), "hello", FALSE },
	{ WITH_LEN(""), "", FALSE },
	{ WITH_LEN("Été ✓"), "Été ✓", FALSE },
	{ WITH_LEN("a\0b"), "a" U_FFFD "b", TRUE },
	{ WITH_LEN("\0"), U_FFFD, TRUE },
	{ WITH_LEN("a\0\0"), "a" U_FFFD U_FFFD, TRUE },
	{ "abcdef", 3, "abc", FALSE },		/* len, not the NUL, ends it */
	{ WITH_LEN("line\r\nnext\t"), "line\r\nnext\t", FALSE },
};

static void
test_add_field(void **state)
{
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(field_cases); i++) {
		struct http_request	 req;

		http_request_init(&req);
		http_request_add_field(&req, "body", field_cases[i].data,
		    field_cases[i].len);
		assert_string_equal(http_form(&req, "body"),
		    field_cases[i].want);
		if (field_cases[i].bad)
			assert_string_equal(req.bad_field, "body");
		else
			assert_null(req.bad_field);
		http_request_clear(&req);
	}
}

/* First value of a name wins; bad_field names the first bad field. */
static void
test_add_field_order(void **state)
{
	struct http_request	 req;

	(void)state;
	http_request_init(&req);
	http_request_add_field(&req, "to", WITH_LEN("first"));
	http_request_add_field(&req, "to", WITH_LEN("second"));
	assert_string_equal(http_form(&req, "to"), "first");
	assert_null(req.bad_field);
	http_request_add_field(&req, "subject", WITH_LEN("x\0y"));
	http_request_add_field(&req, "body", WITH_LEN("\0"));
	assert_string_equal(req.bad_field, "subject");
	assert_string_equal(http_form(&req, "body"), U_FFFD);
	assert_null(http_form(&req, "cc"));
	assert_int_equal(http_table_size(req.form), 3);
	http_request_clear(&req);
	/* Cleared: all zero, tables gone. */
	assert_null(req.form);
	assert_null(req.bad_field);
}

/* A value over HTTP_FIELD_MAX is not kept: the page answers 413. */
static void
test_add_field_too_large(void **state)
{
	struct http_request	 req;
	char			*big = g_malloc0(HTTP_FIELD_MAX + 1);

	(void)state;
	memset(big, 'a', HTTP_FIELD_MAX + 1);
	http_request_init(&req);
	http_request_add_field(&req, "body", big, HTTP_FIELD_MAX);
	assert_false(req.body_too_large);
	assert_int_equal(strlen(http_form(&req, "body")), HTTP_FIELD_MAX);
	http_request_add_field(&req, "subject", big, HTTP_FIELD_MAX + 1);
	assert_true(req.body_too_large);
	assert_null(http_form(&req, "subject"));
	http_request_clear(&req);
	g_free(big);
}

#define BOUNDARY	"----formdata7MA4YWxkTrZu0gW"
#define FORM_TYPE	"multipart/form-data; boundary=" BOUNDARY

/* As Chromium sends the send form with enctype="multipart/form-data",
 * plus a base64 part, a part without a name, a repeated name and a
 * file. */
static const char form_body[] =
    "--" BOUNDARY "\r\n"
    "Content-Disposition: form-data; name=\"from\"\r\n\r\n"
    "alice@mail181.com\r\n"
    "--" BOUNDARY "\r\n"
    "Content-Disposition: form-data; name=\"subject\"\r\n\r\n"
    "R\xc3\xa9union\r\n"
    "--" BOUNDARY "\r\n"
    "Content-Disposition: form-data; name=\"body\"\r\n\r\n"
    "line 1\r\n.\r\n\r\nline 4 & <b>\r\n"
    "--" BOUNDARY "\r\n"
    "Content-Disposition: form-data; name=\"cc\"\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n"
    "Ym9iQG1haWwxODEuY29t\r\n"
    "--" BOUNDARY "\r\n"
    "Content-Disposition: form-data\r\n\r\n"
    "no name\r\n"
    "--" BOUNDARY "\r\n"
    "Content-Disposition: form-data; name=\"from\"\r\n\r\n"
    "mallory@example.com\r\n"
    "--" BOUNDARY "\r\n"
    "Content-Disposition: form-data; name=\"notes\"; "
    "filename=\"notes.txt\"\r\n"
    "Content-Type: text/plain\r\n\r\n"
    "a file\r\n"
    "--" BOUNDARY "\r\n"
    "Content-Disposition: form-data; name=\"empty\"\r\n\r\n"
    "\r\n"
    "--" BOUNDARY "--\r\n";

static void
test_parse_multipart(void **state)
{
	struct http_request	 req;

	(void)state;
	http_request_init(&req);
	assert_true(http_parse_multipart(&req, FORM_TYPE,
	    WITH_LEN(form_body)));
	assert_string_equal(http_form(&req, "from"), "alice@mail181.com");
	assert_string_equal(http_form(&req, "subject"), "R\xc3\xa9union");
	assert_string_equal(http_form(&req, "body"),
	    "line 1\r\n.\r\n\r\nline 4 & <b>");
	assert_string_equal(http_form(&req, "cc"), "bob@mail181.com");
	assert_string_equal(http_form(&req, "notes"), "a file");
	assert_string_equal(http_form(&req, "empty"), "");
	assert_int_equal(http_table_size(req.form), 6);
	assert_null(req.bad_field);
	assert_false(req.body_too_large);
	http_request_clear(&req);
}

/* A NUL byte in a part names the field, as in urlencoded bodies. */
static void
test_parse_multipart_nul(void **state)
{
	static const char body[] =
	    "--" BOUNDARY "\r\n"
	    "Content-Disposition: form-data; name=\"to\"\r\n\r\n"
	    "root@mail181.com\0.txt\r\n"
	    "--" BOUNDARY "--\r\n";
	struct http_request	 req;

	(void)state;
	http_request_init(&req);
	assert_true(http_parse_multipart(&req, FORM_TYPE, WITH_LEN(body)));
	assert_string_equal(http_form(&req, "to"),
	    "root@mail181.com" U_FFFD ".txt");
	assert_string_equal(req.bad_field, "to");
	http_request_clear(&req);
}

/* A body of n parts, each a field: n + 1 delimiter lines. */
static GString *
many_parts(guint n)
{
	GString	*body = g_string_new(NULL);
	guint	 i;

	for (i = 0; i < n; i++)
		g_string_append_printf(body, "--" BOUNDARY "\r\n"
		    "Content-Disposition: form-data; name=\"f%u\"\r\n\r\n"
		    "x\r\n", i);
	g_string_append(body, "--" BOUNDARY "--\r\n");
	return body;
}

/* Up to HTTP_FIELDS_MAX delimiter lines parse; past that GMime never
 * sees the body, and the request is malformed.  A CR after the boundary
 * is a blank, for GMime and for the count. */
static void
test_parse_multipart_parts_max(void **state)
{
	struct http_request	 req;
	GString			*body;
	guint			 i;

	(void)state;
	body = g_string_new(NULL);
	for (i = 0; i <= HTTP_FIELDS_MAX; i++)
		g_string_append(body, "--" BOUNDARY "\r\r\n\r\n");
	http_request_init(&req);
	assert_false(http_parse_multipart(&req, FORM_TYPE, body->str,
	    body->len));
	assert_non_null(req.malformed);
	http_request_clear(&req);
	g_string_free(body, TRUE);

	body = many_parts(HTTP_FIELDS_MAX - 1);
	http_request_init(&req);
	assert_true(http_parse_multipart(&req, FORM_TYPE, body->str,
	    body->len));
	assert_int_equal(http_table_size(req.form), HTTP_FIELDS_MAX - 1);
	assert_null(req.malformed);
	http_request_clear(&req);
	g_string_free(body, TRUE);

	body = many_parts(HTTP_FIELDS_MAX);
	http_request_init(&req);
	assert_false(http_parse_multipart(&req, FORM_TYPE, body->str,
	    body->len));
	assert_int_equal(http_table_size(req.form), 0);
	assert_non_null(req.malformed);
	http_request_clear(&req);
	g_string_free(body, TRUE);
}

/* Lines of a value that start with "--" (SQL comments, a diff, a
 * signature) are text: they count for nothing. */
static void
test_parse_multipart_dashes_in_values(void **state)
{
	struct http_request	 req;
	GString			*body = g_string_new(NULL);
	guint			 i;

	(void)state;
	g_string_append(body, "--" BOUNDARY "\r\n"
	    "Content-Disposition: form-data; name=\"body\"\r\n\r\n");
	for (i = 0; i < 2 * HTTP_FIELDS_MAX; i++)
		g_string_append_printf(body, "-- comment %u\r\n--- a/f%u\r\n",
		    i, i);
	g_string_append(body, "end\r\n--" BOUNDARY "--\r\n");
	http_request_init(&req);
	assert_true(http_parse_multipart(&req, FORM_TYPE, body->str,
	    body->len));
	assert_null(req.malformed);
	assert_true(g_str_has_prefix(http_form(&req, "body"), "-- comment 0"));
	assert_true(g_str_has_suffix(http_form(&req, "body"), "\r\nend"));
	http_request_clear(&req);
	g_string_free(body, TRUE);
}

/* A part that is a multipart (however its header is written) or a
 * message makes the request malformed: GMime would build parts nobody
 * counted.  The same words in a value, or after a line that only starts
 * like a delimiter, do not; nor does a file. */
static void
test_parse_multipart_compound(void **state)
{
	static const char *const refused[] = {
		"Content-Type: Multipart/Mixed; boundary=inner",
		"Content-Type: multipart (a comment)/mixed; boundary=inner",
		"Content-Type: multipart\r\n /mixed; boundary=inner",
		"content-type : message/rfc822",
		"Content-Type: message/partial; id=x; number=1",
		"Content-Type: text/plain\r\nContent-Type: multipart/mixed; "
		    "boundary=inner",
	};
	static const char text[] =
	    "--" BOUNDARY "\r\n"
	    "Content-Disposition: form-data; name=\"f\"; filename=\"f.bin\""
	    "\r\nContent-Type: application/octet-stream\r\n\r\n"
	    "x\r\n"
	    "--" BOUNDARY "\r\n"
	    "Content-Disposition: form-data; name=\"body\"\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
	    "Content-Type: multipart/mixed; boundary=inner\r\n"
	    "--" BOUNDARY "-notes\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "--" BOUNDARY "--\r\n";
	struct http_request	 req;
	GString			*body;
	gsize			 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(refused); i++) {
		body = g_string_new(NULL);
		g_string_printf(body, "--" BOUNDARY "\r\n"
		    "Content-Disposition: form-data; name=\"f\"\r\n%s\r\n\r\n"
		    "--inner\r\n\r\nx\r\n--inner--\r\n"
		    "--" BOUNDARY "--\r\n", refused[i]);
		http_request_init(&req);
		if (http_parse_multipart(&req, FORM_TYPE, body->str,
		    body->len) || req.malformed == NULL)
			fail_msg("not refused: %s", refused[i]);
		assert_int_equal(http_table_size(req.form), 0);
		http_request_clear(&req);
		g_string_free(body, TRUE);
	}
	http_request_init(&req);
	assert_true(http_parse_multipart(&req, FORM_TYPE, WITH_LEN(text)));
	assert_null(req.malformed);
	assert_true(g_str_has_prefix(http_form(&req, "body"),
	    "Content-Type: multipart/mixed"));
	http_request_clear(&req);
}

/* A body that passes keeps what made the request malformed before. */
static void
test_parse_multipart_keeps_malformed(void **state)
{
	struct http_request	 req;

	(void)state;
	http_request_init(&req);
	req.malformed = "earlier";
	assert_true(http_parse_multipart(&req, FORM_TYPE,
	    WITH_LEN(form_body)));
	assert_string_equal(req.malformed, "earlier");
	http_request_clear(&req);
}

/* What is not a multipart/form-data body gives no field. */
static void
test_parse_multipart_refused(void **state)
{
	static const struct {
		const char	*type;
		const char	*body;
	} cases[] = {
		{ "text/plain", "from=a" },
		{ "multipart/form-data", form_body },		/* no boundary */
		{ "multipart/mixed; boundary=" BOUNDARY, form_body },
		/* A second header smuggled through the type. */
		{ FORM_TYPE "\r\nContent-Type: text/plain", form_body },
		{ "multipart/form-data; boundary=other", form_body },
		{ FORM_TYPE, "" },
	};
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct http_request	 req;

		http_request_init(&req);
		http_parse_multipart(&req, cases[i].type, cases[i].body,
		    strlen(cases[i].body));
		assert_int_equal(http_table_size(req.form), 0);
		http_request_clear(&req);
	}
}

/* A body in a file: unlinked, measured, owned and closed by the
 * response; a later body replaces it. */
static void
test_body_file(void **state)
{
	struct http_response	 resp;
	struct stat		 st;
	GError			*err = NULL;
	int			 fd = http_body_file_new(&err);

	(void)state;
	assert_null(err);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_nlink, 0);	/* no name left behind */
	assert_int_equal(write(fd, "0123456789", 10), 10);
	http_response_init(&resp);
	assert_int_equal(http_response_body_len(&resp), 0);
	assert_true(http_response_set_file(&resp, 200, "text/plain", fd));
	assert_int_equal(resp.body_file, fd);
	assert_int_equal(http_response_body_len(&resp), 10);
	assert_null(resp.body);
	assert_string_equal(http_response_header(&resp, "Content-Type"),
	    "text/plain");
	/* An error page after all: the file goes. */
	http_response_error(&resp, 503);
	assert_int_equal(resp.body_file, -1);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(http_response_body_len(&resp),
	    strlen("503 Service Unavailable\n"));
	http_response_clear(&resp);

	/* Cleared with its file: closed too. */
	fd = http_body_file_new(NULL);
	http_response_init(&resp);
	assert_true(http_response_set_file(&resp, 200, NULL, fd));
	http_response_clear(&resp);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	/* A descriptor that is no file: refused, and closed. */
	http_response_init(&resp);
	assert_false(http_response_set_file(&resp, 200, NULL, -1));
	assert_int_equal(resp.body_file, -1);
	http_response_clear(&resp);
}

/* A response set from a page: status, headers, body. */
static void
assert_is_page(const struct http_response *resp, const char *body)
{
	gsize	len;

	assert_int_equal(resp->status, 200);
	assert_int_equal(resp->headers->len, 2);
	assert_string_equal(http_response_header(resp, "Content-Type"),
	    "text/html");
	assert_string_equal(http_response_header(resp, "Vary"),
	    "Accept-Language");
	assert_memory_equal(g_bytes_get_data(resp->body, &len), body,
	    strlen(body));
	assert_int_equal(len, strlen(body));
}

static int	fronts_made, fronts_freed;

static gpointer
front_new(const struct http_response *resp)
{
	fronts_made++;
	return g_strdup_printf("front of %d", resp->status);
}

static void
front_free(gpointer front)
{
	fronts_freed++;
	g_free(front);
}

/*
 * A frozen page answers any number of requests alike; a change to one
 * response (a cookie, an error) leaves the page and the others as they
 * were; the front end's form is made once and freed with the page.
 */
static void
test_page(void **state)
{
	struct http_response	 first, a, b;
	struct http_page	*page;
	gpointer		 front;

	(void)state;
	fronts_made = fronts_freed = 0;
	http_response_init(&first);
	http_response_set(&first, 200, "text/html",
	    g_bytes_new_static("<p>guide</p>", 12));
	http_response_add_header(&first, "Vary", "Accept-Language");
	page = http_response_freeze(&first);
	assert_ptr_equal(first.page, page);
	assert_is_page(&first, "<p>guide</p>");

	http_response_init(&a);
	http_response_init(&b);
	http_response_add_header(&a, "X-Before", "dropped");
	http_response_set_page(&a, page);
	http_response_set_page(&b, page);
	http_page_unref(page);			/* a and b hold it */
	assert_is_page(&a, "<p>guide</p>");
	assert_null(http_response_header(&a, "X-Before"));
	assert_ptr_equal(a.page, b.page);

	front = http_response_page_front(&a, front_new, front_free);
	assert_string_equal(front, "front of 200");
	assert_ptr_equal(http_response_page_front(&b, front_new, front_free),
	    front);
	assert_int_equal(fronts_made, 1);

	/* Changed: its own copy, no longer the page, no front. */
	http_response_add_header(&a, "Set-Cookie", "x=1");
	assert_null(a.page);
	assert_string_equal(http_response_header(&a, "Set-Cookie"), "x=1");
	assert_string_equal(http_response_header(&a, "Vary"),
	    "Accept-Language");
	assert_null(http_response_page_front(&a, front_new, front_free));
	http_response_error(&first, 503);
	assert_null(first.page);
	assert_int_equal(first.status, 503);
	assert_is_page(&b, "<p>guide</p>");	/* untouched */
	assert_null(http_response_header(&b, "Set-Cookie"));

	http_response_clear(&a);
	http_response_clear(&first);
	assert_int_equal(fronts_freed, 0);
	http_response_clear(&b);		/* the last holder */
	assert_int_equal(fronts_freed, 1);
	assert_int_equal(fronts_made, 1);
}

/* http_table_add() and the lookups. */
static void
test_tables(void **state)
{
	struct http_request	 req;

	(void)state;
	http_request_init(&req);
	assert_null(req.method);
	assert_false(req.https);
	http_table_add(&req.query, "lang", "en");
	http_table_add(&req.query, "lang", "fr");
	http_table_add(&req.headers, "accept-language", "fr");
	assert_string_equal(http_query(&req, "lang"), "en");
	assert_null(http_query(&req, "Lang"));
	assert_string_equal(http_header(&req, "accept-language"), "fr");
	assert_null(http_header(&req, "cookie"));
	/* Tables with no entry were never made: lookups still answer. */
	assert_null(req.cookies);
	assert_null(req.form);
	assert_null(http_cookie(&req, "x"));
	assert_null(http_form(&req, "x"));
	assert_int_equal(http_table_size(req.form), 0);
	assert_int_equal(http_table_size(req.query), 1);
	req.method = g_strdup("GET");
	req.path = g_strdup("/");
	req.prefix = g_strdup("");
	req.peer = g_strdup("127.0.0.1");
	http_request_clear(&req);
}

/* http_date(): RFC 9110 IMF-fixdate, English names, any time. */
static const struct {
	gint64		 t;
	const char	*want;
} date_cases[] = {
	{ 0, "Thu, 01 Jan 1970 00:00:00 GMT" },
	{ 1700000000, "Tue, 14 Nov 2023 22:13:20 GMT" },
	{ 951782400, "Tue, 29 Feb 2000 00:00:00 GMT" },
	{ 1735689599, "Tue, 31 Dec 2024 23:59:59 GMT" },
	{ 1748736000, "Sun, 01 Jun 2025 00:00:00 GMT" },
	{ 1754006400, "Fri, 01 Aug 2025 00:00:00 GMT" },
	{ 1757203200, "Sun, 07 Sep 2025 00:00:00 GMT" },
	{ 1760400000, "Tue, 14 Oct 2025 00:00:00 GMT" },
	{ 1764547200, "Mon, 01 Dec 2025 00:00:00 GMT" },
	{ 1739577600, "Sat, 15 Feb 2025 00:00:00 GMT" },
	{ 1742169600, "Mon, 17 Mar 2025 00:00:00 GMT" },
	{ 1745884800, "Tue, 29 Apr 2025 00:00:00 GMT" },
	{ 1747267200, "Thu, 15 May 2025 00:00:00 GMT" },
	{ 1751328000, "Tue, 01 Jul 2025 00:00:00 GMT" },
	{ 1736985600, "Thu, 16 Jan 2025 00:00:00 GMT" },
	{ 1737072000, "Fri, 17 Jan 2025 00:00:00 GMT" },
	{ 1737158400, "Sat, 18 Jan 2025 00:00:00 GMT" },
	{ 1737244800, "Sun, 19 Jan 2025 00:00:00 GMT" },
	{ 1737331200, "Mon, 20 Jan 2025 00:00:00 GMT" },
	{ 1737417600, "Tue, 21 Jan 2025 00:00:00 GMT" },
	{ 1737504000, "Wed, 22 Jan 2025 00:00:00 GMT" },
	{ -1, "Wed, 31 Dec 1969 23:59:59 GMT" },
	{ 253402300799, "Fri, 31 Dec 9999 23:59:59 GMT" },
	/* Past what GDateTime holds (a file's mtime on tmpfs can be). */
	{ 253402300800, "Fri, 31 Dec 9999 23:59:59 GMT" },
	{ G_MAXINT64, "Fri, 31 Dec 9999 23:59:59 GMT" },
	{ G_MININT64, "Mon, 01 Jan 0001 00:00:00 GMT" },
};

static void
test_date(void **state)
{
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(date_cases); i++) {
		char	*got = http_date(date_cases[i].t);

		if (strcmp(got, date_cases[i].want) != 0)
			fail_msg("%" G_GINT64_FORMAT ": got \"%s\", want "
			    "\"%s\"", date_cases[i].t, got,
			    date_cases[i].want);
		g_free(got);
	}
}

/* The body of resp as a string. */
static char *
body_string(const struct http_response *resp)
{
	gsize		 len;
	const char	*data;

	if (resp->body == NULL)
		return NULL;
	data = g_bytes_get_data(resp->body, &len);
	return g_strndup(data, len);
}

/* Error pages: status line text only, never the request. */
static void
test_error_page(void **state)
{
	static const struct {
		int		 status;
		const char	*body;
	} cases[] = {
		{ 400, "400 Bad Request\n" },
		{ 403, "403 Forbidden\n" },
		{ 404, "404 Not Found\n" },
		{ 405, "405 Method Not Allowed\n" },
		{ 413, "413 Content Too Large\n" },
		{ 500, "500 Internal Server Error\n" },
		{ 502, "502 Bad Gateway\n" },
		{ 418, "418 Unknown\n" },
	};
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct http_request	 req;
		struct http_response	 resp;
		char			*body;

		/* A request full of markup, which the page must not show. */
		http_request_init(&req);
		req.method = g_strdup("<script>m</script>");
		req.path = g_strdup("/<script>alert(1)</script>");
		req.prefix = g_strdup("");
		http_table_add(&req.query, "q", "<img src=x onerror=alert(1)>");
		http_table_add(&req.headers, "referer", "<b>ref</b>");
		http_response_init(&resp);
		http_response_error(&resp, cases[i].status);
		assert_int_equal(resp.status, cases[i].status);
		assert_string_equal(http_response_header(&resp,
		    "content-type"), "text/plain; charset=utf-8");
		body = body_string(&resp);
		assert_string_equal(body, cases[i].body);
		assert_null(strchr(body, '<'));
		assert_int_equal(resp.headers->len, 1);
		g_free(body);
		http_response_clear(&resp);
		http_request_clear(&req);
	}
}

/* Redirects: 303 to prefix + path, no body. */
static void
test_redirect(void **state)
{
	static const struct {
		const char	*prefix;
		const char	*path;
		const char	*want;
	} cases[] = {
		{ "", "/send", "/send" },
		{ "/labmail", "/send", "/labmail/send" },
		{ "/cgi-bin/labmail.cgi", "/?lang=en",
		    "/cgi-bin/labmail.cgi/?lang=en" },
	};
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct http_request	 req;
		struct http_response	 resp;

		http_request_init(&req);
		req.prefix = g_strdup(cases[i].prefix);
		http_response_init(&resp);
		http_response_redirect(&resp, &req, cases[i].path);
		assert_int_equal(resp.status, 303);
		assert_string_equal(http_response_header(&resp, "Location"),
		    cases[i].want);
		assert_null(resp.body);
		assert_null(http_response_header(&resp, "Content-Type"));
		http_response_clear(&resp);
		http_request_clear(&req);
	}
}

/* Responses: default 500, headers in order, body replaced and freed. */
static void
test_response(void **state)
{
	struct http_response	 resp;
	struct http_header	*h;
	char			*body;

	(void)state;
	http_response_init(&resp);
	assert_int_equal(resp.status, 500);
	assert_null(resp.body);
	assert_null(http_response_header(&resp, "X-Frame-Options"));
	http_response_add_header(&resp, "X-Frame-Options", "DENY");
	http_response_add_header(&resp, "Set-Cookie", "a=1");
	http_response_add_header(&resp, "Set-Cookie", "b=2");
	assert_string_equal(http_response_header(&resp, "x-frame-options"),
	    "DENY");
	/* The first of a repeated header. */
	assert_string_equal(http_response_header(&resp, "set-cookie"), "a=1");
	assert_int_equal(resp.headers->len, 3);
	h = &g_array_index(resp.headers, struct http_header, 2);
	assert_string_equal(h->name, "Set-Cookie");
	assert_string_equal(h->value, "b=2");

	http_response_set(&resp, 200, "text/html; charset=utf-8",
	    g_bytes_new_static("old", 3));
	http_response_set(&resp, 200, NULL, g_bytes_new("new", 3));
	assert_int_equal(resp.status, 200);
	body = body_string(&resp);
	assert_string_equal(body, "new");
	g_free(body);
	assert_string_equal(http_response_header(&resp, "Content-Type"),
	    "text/html; charset=utf-8");
	http_response_set(&resp, 304, NULL, NULL);
	assert_null(resp.body);
	http_response_clear(&resp);
}

static void
test_status_text(void **state)
{
	(void)state;
	assert_string_equal(http_status_text(200), "OK");
	assert_string_equal(http_status_text(303), "See Other");
	assert_string_equal(http_status_text(304), "Not Modified");
	assert_string_equal(http_status_text(413), "Content Too Large");
	assert_string_equal(http_status_text(429), "Too Many Requests");
	assert_string_equal(http_status_text(504), "Gateway Timeout");
	assert_string_equal(http_status_text(0), "Unknown");
	assert_string_equal(http_status_text(-1), "Unknown");
	assert_string_equal(http_status_text(999), "Unknown");
}

/* TRUE if s is a token as csrf.c makes them: 22 base64url characters. */
static gboolean
is_token(const char *s)
{
	gsize	i;

	if (s == NULL || strlen(s) != 22)
		return FALSE;
	for (i = 0; i < 22; i++)
		if (!g_ascii_isalnum(s[i]) && s[i] != '-' && s[i] != '_')
			return FALSE;
	return TRUE;
}

/* A new token: the cookie that carries it, per prefix and scheme. */
static void
test_csrf_new(void **state)
{
	static const struct {
		const char	*prefix;
		gboolean	 https;
		const char	*attrs;
	} cases[] = {
		{ "", FALSE, "; Path=/; HttpOnly; SameSite=Strict" },
		{ "", TRUE, "; Path=/; HttpOnly; SameSite=Strict; Secure" },
		{ "/labmail", FALSE,
		    "; Path=/labmail/; HttpOnly; SameSite=Strict" },
		{ "/cgi-bin/lm.cgi", TRUE,
		    "; Path=/cgi-bin/lm.cgi/; HttpOnly; SameSite=Strict; "
		    "Secure" },
	};
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct http_request	 req;
		struct http_response	 resp;
		char			*token, *want;

		http_request_init(&req);
		req.prefix = g_strdup(cases[i].prefix);
		req.https = cases[i].https;
		http_response_init(&resp);
		token = csrf_token(&req, &resp);
		if (!is_token(token))
			fail_msg("bad token \"%s\"", token);
		want = g_strconcat(CSRF_COOKIE "=", token, cases[i].attrs,
		    NULL);
		assert_string_equal(http_response_header(&resp,
		    "Set-Cookie"), want);
		assert_int_equal(resp.headers->len, 1);
		g_free(want);
		g_free(token);
		http_response_clear(&resp);
		http_request_clear(&req);
	}
}

/* Tokens differ from one to the next, and use the whole alphabet. */
static void
test_csrf_random(void **state)
{
	GHashTable	*seen = g_hash_table_new_full(g_str_hash, g_str_equal,
			    g_free, NULL);
	gboolean	 chars[256] = { FALSE };
	int		 i, n_chars = 0;

	(void)state;
	for (i = 0; i < 1000; i++) {
		struct http_request	 req;
		struct http_response	 resp;
		char			*token, *p;

		http_request_init(&req);
		req.prefix = g_strdup("");
		http_response_init(&resp);
		token = csrf_token(&req, &resp);
		assert_true(is_token(token));
		for (p = token; *p != '\0'; p++)
			chars[(guchar)*p] = TRUE;
		if (!g_hash_table_add(seen, token))
			fail_msg("token %s twice", token);
		http_response_clear(&resp);
		http_request_clear(&req);
	}
	for (i = 0; i < 256; i++)
		n_chars += chars[i];
	/* 22000 characters drawn from 64: each is all but sure to occur. */
	assert_int_equal(n_chars, 64);
	assert_true(chars['-'] && chars['_']);
	g_hash_table_unref(seen);
}

/* A cookie holding a well-formed token is reused; others are replaced. */
static void
test_csrf_reuse(void **state)
{
	static const struct {
		const char	*cookie;
		gboolean	 reused;
	} cases[] = {
		{ "AAAAAAAAAAAAAAAAAAAAAA", TRUE },
		{ "abcdefghij-_0123456789", TRUE },
		{ "abcdefghij-_012345678", FALSE },	/* 21 */
		{ "abcdefghij-_01234567890", FALSE },	/* 23 */
		{ "abcdefghij+/0123456789", FALSE },	/* base64, not url */
		{ "abcdefghij-_012345678=", FALSE },
		{ "abcdefghij-_01234567 9", FALSE },
		{ "", FALSE },
		{ NULL, FALSE },
	};
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct http_request	 req;
		struct http_response	 resp;
		char			*token;

		http_request_init(&req);
		req.prefix = g_strdup("");
		if (cases[i].cookie != NULL)
			http_table_add(&req.cookies, CSRF_COOKIE,
			    cases[i].cookie);
		http_response_init(&resp);
		token = csrf_token(&req, &resp);
		assert_true(is_token(token));
		if (cases[i].reused) {
			assert_string_equal(token, cases[i].cookie);
			assert_null(http_response_header(&resp,
			    "Set-Cookie"));
		} else {
			const char	*set = http_response_header(&resp,
			    "Set-Cookie");

			if (cases[i].cookie != NULL)
				assert_string_not_equal(token,
				    cases[i].cookie);
			assert_non_null(set);
			assert_true(g_str_has_prefix(set, CSRF_COOKIE "="));
			assert_memory_equal(set + strlen(CSRF_COOKIE "="),
			    token, 22);
		}
		g_free(token);
		http_response_clear(&resp);
		http_request_clear(&req);
	}
}

/* csrf_check(): a cookie and a form field; NULL: not sent. */
static const struct {
	const char	*cookie;
	const char	*field;
	gboolean	 ok;
} check_cases[] = {
	{ "abcdefghij-_0123456789", "abcdefghij-_0123456789", TRUE },
	{ "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAA", TRUE },
	{ NULL, NULL, FALSE },
	{ "abcdefghij-_0123456789", NULL, FALSE },
	{ NULL, "abcdefghij-_0123456789", FALSE },
	{ "", "", FALSE },
	{ "abcdefghij-_0123456789", "abcdefghij-_0123456788", FALSE },
	{ "abcdefghij-_0123456789", "bbcdefghij-_0123456789", FALSE },
	{ "abcdefghij-_0123456789", "ABCDEFGHIJ-_0123456789", FALSE },
	{ "abcdefghij-_0123456789", "abcdefghij-_0123456789x", FALSE },
	{ "abcdefghij-_0123456789x", "abcdefghij-_0123456789x", FALSE },
	{ "abcdefghij-_012345678", "abcdefghij-_012345678", FALSE },
	{ "short", "short", FALSE },
	{ "abcdefghij+/0123456789", "abcdefghij+/0123456789", FALSE },
	{ "abcdefghij-_01234567\xc3\xa9", "abcdefghij-_01234567\xc3\xa9",
	    FALSE },
};

static void
test_csrf_check(void **state)
{
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(check_cases); i++) {
		struct http_request	 req;

		http_request_init(&req);
		if (check_cases[i].cookie != NULL)
			http_table_add(&req.cookies, CSRF_COOKIE,
			    check_cases[i].cookie);
		if (check_cases[i].field != NULL)
			http_request_add_field(&req, CSRF_FIELD,
			    check_cases[i].field,
			    strlen(check_cases[i].field));
		if (csrf_check(&req) != check_cases[i].ok)
			fail_msg("cookie %s, field %s: want %s",
			    check_cases[i].cookie ? check_cases[i].cookie :
			    "none", check_cases[i].field ?
			    check_cases[i].field : "none",
			    check_cases[i].ok ? "accepted" : "refused");
		http_request_clear(&req);
	}
}

/* A token from csrf_token(), sent back in cookie and form, passes. */
static void
test_csrf_roundtrip(void **state)
{
	struct http_request	 get, post;
	struct http_response	 resp;
	char			*token, *header;

	(void)state;
	http_request_init(&get);
	get.prefix = g_strdup("");
	http_response_init(&resp);
	token = csrf_token(&get, &resp);
	/* The browser sends back the cookie's "name=value" part. */
	header = g_strndup(http_response_header(&resp, "Set-Cookie"),
	    strcspn(http_response_header(&resp, "Set-Cookie"), ";"));

	http_request_init(&post);
	http_parse_cookies(&post, header);
	http_request_add_field(&post, CSRF_FIELD, token, strlen(token));
	assert_true(csrf_check(&post));
	http_request_clear(&post);

	/* The same token with a NUL byte in the field does not pass. */
	http_request_init(&post);
	http_parse_cookies(&post, header);
	{
		char	field[23];

		memcpy(field, token, 22);
		field[5] = '\0';
		http_request_add_field(&post, CSRF_FIELD, field, 22);
	}
	assert_false(csrf_check(&post));
	http_request_clear(&post);

	g_free(header);
	g_free(token);
	http_response_clear(&resp);
	http_request_clear(&get);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_parse_cookies),
		cmocka_unit_test(test_parse_cookies_many),
		cmocka_unit_test(test_add_field),
		cmocka_unit_test(test_add_field_order),
		cmocka_unit_test(test_parse_urlencoded),
		cmocka_unit_test(test_parse_urlencoded_fields_max),
		cmocka_unit_test(test_add_field_too_large),
		cmocka_unit_test(test_parse_multipart),
		cmocka_unit_test(test_parse_multipart_nul),
		cmocka_unit_test(test_parse_multipart_refused),
		cmocka_unit_test(test_parse_multipart_parts_max),
		cmocka_unit_test(test_parse_multipart_dashes_in_values),
		cmocka_unit_test(test_parse_multipart_compound),
		cmocka_unit_test(test_parse_multipart_keeps_malformed),
		cmocka_unit_test(test_body_file),
		cmocka_unit_test(test_page),
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_error_page),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_status_text),
		cmocka_unit_test(test_csrf_new),
		cmocka_unit_test(test_csrf_random),
		cmocka_unit_test(test_csrf_reuse),
		cmocka_unit_test(test_csrf_check),
		cmocka_unit_test(test_csrf_roundtrip),
	};
	int	rc;

	g_mime_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	g_mime_shutdown();
	return rc;
}
