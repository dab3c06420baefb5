/*
 * test_config - unit tests of the config module.
 *
 * config_load() is run on argument vectors as main() would pass them.
 * Good cases are compared field by field through a "name=value" dump
 * of the whole struct; bad cases must fail with a message that names
 * the option at fault.  Config files are written to a temporary folder.
 * config_print() (--check-config) is checked against a golden output,
 * for its marks of derived and default values, and by loading what it
 * printed back as a config file.
 *
 * GLib's option parser takes what it recognises out of argv without
 * freeing it, so each vector is built from a private copy of the
 * pointers and freed through that copy.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "config.h"

#define MAX_ARGS	16

/* The temporary folder of the config files, made by setup(). */
static char	*tmp_dir;

/* Run config_load() on "labmail" args...; the struct is filled or zeroed. */
static gboolean
load(struct config *c, const char *const *args, GError **err)
{
	char		**own, **argv;
	int		  argc, i;
	gboolean	  ok;

	own = g_new0(char *, MAX_ARGS + 2);
	own[0] = g_strdup("labmail");
	for (argc = 1; args[argc - 1] != NULL; argc++) {
		assert_true(argc <= MAX_ARGS);
		own[argc] = g_strdup(args[argc - 1]);
	}
	argv = g_memdup2(own, sizeof(char *) * (MAX_ARGS + 2));
	ok = config_load(c, &argc, &argv, err);
	/* What is left in argv is a subset of own: free through own. */
	for (i = 0; i < argc; i++)
		assert_non_null(argv[i]);
	g_free(argv);
	g_strfreev(own);
	return ok;
}

/* Every field as "name=value\n", in a fixed order. */
static char *
dump(const struct config *c)
{
	return g_strdup_printf(
	    "listen_host=%s\nlisten_port=%s\ndata_dir=%s\n"
	    "smtp_host=%s\nsmtp_port=%s\nhelo=%s\n"
	    "smtp_connect_timeout=%u\nsmtp_timeout=%u\n"
	    "smtp_data_timeout=%u\nmax_body=%" G_GSIZE_FORMAT "\n"
	    "group=%d\ndomain=%s\nsmtp_alias=%s\nsmtp_hostname=%s\n"
	    "smtp_addr=%s\nclient_addr=%s\ndhcp_addr=%s\ndns_addr=%s\n"
	    "fastcgi_host=%s\nfastcgi_port=%s\n",
	    c->listen_host, c->listen_port,
	    c->data_dir ? c->data_dir : "(null)",
	    c->smtp_host, c->smtp_port, c->helo ? c->helo : "(null)",
	    c->smtp_connect_timeout, c->smtp_timeout, c->smtp_data_timeout,
	    c->max_body, c->group, c->domain, c->smtp_alias,
	    c->smtp_hostname, c->smtp_addr, c->client_addr, c->dhcp_addr,
	    c->dns_addr, c->fastcgi_host ? c->fastcgi_host : "(null)",
	    c->fastcgi_port ? c->fastcgi_port : "(null)");
}

/* Assert that every "name=value" line of want is in the dump of c. */
static void
assert_fields(const struct config *c, const char *const *args,
    const char *want)
{
	char	 *got = dump(c);
	char	**lines = g_strsplit(want, "\n", -1);
	gsize	  i;

	for (i = 0; lines[i] != NULL; i++) {
		char	*line;

		if (*lines[i] == '\0')
			continue;
		line = g_strconcat("\n", lines[i], "\n", NULL);
		/* The dump starts with a line too: look from a '\n'. */
		if (strstr(got, line) == NULL &&
		    !(g_str_has_prefix(got, line + 1)))
			fail_msg("args starting \"%s\": want %s, got:\n%s",
			    args[0] ? args[0] : "(none)", lines[i], got);
		g_free(line);
	}
	g_strfreev(lines);
	g_free(got);
}

/* The whole of the default config (group 181). */
#define DEFAULTS_181 \
	"listen_host=127.0.0.1\nlisten_port=8080\ndata_dir=(null)\n" \
	"smtp_host=192.168.0.81\nsmtp_port=25\nhelo=(null)\n" \
	"smtp_connect_timeout=30\nsmtp_timeout=300\n" \
	"smtp_data_timeout=600\nmax_body=1048576\n" \
	"group=181\ndomain=mail181.com\nsmtp_alias=smtp181.mail181.com\n" \
	"smtp_hostname=machine181.mail181.com\nsmtp_addr=192.168.0.81\n" \
	"client_addr=172.20.181.1\ndhcp_addr=172.20.181.2\n" \
	"dns_addr=192.168.0.254\nfastcgi_host=(null)\nfastcgi_port=(null)\n"

static void
test_defaults(void **state)
{
	const char	*args[] = { NULL };
	struct config	 c;
	GError		*err = NULL;
	char		*got;

	(void)state;
	assert_true(load(&c, args, &err));
	assert_null(err);
	got = dump(&c);
	assert_string_equal(got, DEFAULTS_181);
	g_free(got);
	config_free(&c);
	/* config_free() clears: a second call is harmless. */
	assert_null(c.domain);
	config_free(&c);
}

/* A command line that must load, and fields it must give. */
struct good_case {
	const char	*args[MAX_ARGS + 1];
	const char	*want;
};

static const struct good_case good_cases[] = {
	{ { "--group", "142", NULL },
	    "group=142\ndomain=mail142.com\nsmtp_alias=smtp142.mail142.com\n"
	    "smtp_hostname=machine142.mail142.com\nsmtp_addr=192.168.0.42\n"
	    "client_addr=172.20.142.1\ndhcp_addr=172.20.142.2\n"
	    "dns_addr=192.168.0.254\nsmtp_host=192.168.0.42\nsmtp_port=25\n" },
	{ { "--group=142", NULL }, "domain=mail142.com\n" },
	{ { "--group", "101", NULL }, "smtp_addr=192.168.0.1\n"
	    "client_addr=172.20.101.1\n" },
	{ { "--group", "255", NULL }, "smtp_addr=192.168.0.155\n"
	    "client_addr=172.20.255.1\ndhcp_addr=172.20.255.2\n" },
	/* The last of a repeated option wins. */
	{ { "--group", "142", "--group", "150", NULL },
	    "group=150\ndomain=mail150.com\n" },
	/* Group 42 gives no SMTP address, but one given is enough. */
	{ { "--group", "42", "--smtp-addr", "10.0.0.5", NULL },
	    "group=42\ndomain=mail42.com\nsmtp_addr=10.0.0.5\n"
	    "client_addr=172.20.42.1\nsmtp_host=10.0.0.5\nsmtp_port=25\n" },
	/* Each lab value on its own; derived names follow --domain. */
	{ { "--domain", "lab.example", NULL }, "domain=lab.example\n"
	    "smtp_alias=smtp181.lab.example\n"
	    "smtp_hostname=machine181.lab.example\n" },
	{ { "--smtp-alias", "mx.lab", "--smtp-name", "box.lab", NULL },
	    "domain=mail181.com\nsmtp_alias=mx.lab\nsmtp_hostname=box.lab\n" },
	{ { "--client-addr", "10.1.2.3", "--dhcp-addr", "10.1.2.4",
	    "--dns-addr", "10.1.2.5", NULL }, "client_addr=10.1.2.3\n"
	    "dhcp_addr=10.1.2.4\ndns_addr=10.1.2.5\n" },
	/* --smtp: host with or without port, IPv6 in brackets. */
	{ { "--smtp", "127.0.0.1:2525", NULL },
	    "smtp_host=127.0.0.1\nsmtp_port=2525\nsmtp_addr=192.168.0.81\n" },
	{ { "--smtp", "mail.example", NULL },
	    "smtp_host=mail.example\nsmtp_port=25\n" },
	{ { "--smtp", "[::1]:2525", NULL }, "smtp_host=::1\nsmtp_port=2525\n" },
	{ { "--smtp", "[::1]", NULL }, "smtp_host=::1\nsmtp_port=25\n" },
	{ { "--smtp", "[2001:db8::5]:587", NULL },
	    "smtp_host=2001:db8::5\nsmtp_port=587\n" },
	{ { "--smtp", "localhost:00025", NULL },
	    "smtp_host=localhost\nsmtp_port=25\n" },
	{ { "--smtp", "h:65535", NULL }, "smtp_port=65535\n" },
	/* --listen. */
	{ { "--listen", "0.0.0.0:80", NULL },
	    "listen_host=0.0.0.0\nlisten_port=80\n" },
	{ { "--listen", "[::]:8443", NULL }, "listen_host=::\nlisten_port=8443\n" },
	{ { "--listen", "localhost:1", NULL },
	    "listen_host=localhost\nlisten_port=1\n" },
	/* --fastcgi: a socket path, or an address as --listen takes it. */
	{ { "--fastcgi", "127.0.0.1:9000", NULL },
	    "fastcgi_host=127.0.0.1\nfastcgi_port=9000\n" },
	{ { "--fastcgi", "[::1]:09000", NULL },
	    "fastcgi_host=::1\nfastcgi_port=9000\n" },
	{ { "--fastcgi", "/run/labmail/fcgi.sock", NULL },
	    "fastcgi_host=(null)\nfastcgi_port=(null)\n" },
	{ { "--fastcgi", NULL }, "fastcgi_host=(null)\n" },
	/* --helo: a DNS name or an address literal. */
	{ { "--helo", "client181.mail181.com", "--data-dir", "/srv/lab",
	    NULL }, "helo=client181.mail181.com\ndata_dir=/srv/lab\n" },
	{ { "--helo", "[172.20.181.1]", NULL }, "helo=[172.20.181.1]\n" },
	{ { "--helo", "[IPv6:2001:db8::1]", NULL },
	    "helo=[IPv6:2001:db8::1]\n" },
	{ { "--helo", "[ipv6:::1]", NULL }, "helo=[ipv6:::1]\n" },
	/* Timeouts and the body limit, at their bounds. */
	{ { "--smtp-connect-timeout", "1", "--smtp-timeout", "86400",
	    "--smtp-data-timeout", "45", NULL }, "smtp_connect_timeout=1\n"
	    "smtp_timeout=86400\nsmtp_data_timeout=45\n" },
	{ { "--max-body", "1", NULL }, "max_body=1\n" },
	{ { "--max-body", "1572864", NULL }, "max_body=1572864\n" },
};

static void
test_good(void **state)
{
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(good_cases); i++) {
		struct config	 c;
		GError		*err = NULL;

		if (!load(&c, good_cases[i].args, &err))
			fail_msg("case %zu (%s %s): %s", i,
			    good_cases[i].args[0], good_cases[i].args[1],
			    err->message);
		assert_fields(&c, good_cases[i].args, good_cases[i].want);
		config_free(&c);
	}
}

/* A command line that must fail, and words its message must hold. */
struct bad_case {
	const char	*args[MAX_ARGS + 1];
	const char	*want;
};

static const struct bad_case bad_cases[] = {
	/* Groups that give no valid address name the option to set. */
	{ { "--group", "42", NULL }, "group 42 gives no valid smtp-addr; "
	    "set --smtp-addr" },
	{ { "--group", "100", NULL }, "no valid smtp-addr" },
	{ { "--group", "300", NULL }, "group 300 gives no valid client-addr; "
	    "set --client-addr" },
	{ { "--group", "300", "--client-addr", "10.0.0.1", NULL },
	    "no valid dhcp-addr" },
	{ { "--group", "abc", NULL },
	    "group: \"abc\" is not a number from 1 to 9999" },
	{ { "--group", "0", NULL }, "group: \"0\" is not a number" },
	{ { "--group", "-5", NULL }, "group: \"-5\" is not a number" },
	{ { "--group", "10000", NULL }, "group: \"10000\" is not a number" },
	{ { "--group", "", NULL }, "group: \"\" is not a number" },
	{ { "--group", " 142", NULL }, "group: \" 142\" is not a number" },
	{ { "--group", "142x", NULL }, "group: \"142x\" is not a number" },
	/* Lab values given are checked. */
	{ { "--smtp-addr", "300.1.1.1", NULL },
	    "smtp-addr: \"300.1.1.1\" is not valid" },
	{ { "--smtp-addr", "mail.example", NULL }, "smtp-addr: " },
	{ { "--client-addr", "", NULL }, "client-addr: \"\" is not valid" },
	{ { "--dns-addr", "::1", NULL }, "dns-addr: \"::1\" is not valid" },
	{ { "--domain", "bad_domain.com", NULL },
	    "domain: \"bad_domain.com\" is not valid" },
	{ { "--domain", "a..b", NULL }, "domain: " },
	{ { "--domain", "trailing.", NULL }, "domain: " },
	{ { "--smtp-alias", "a b", NULL }, "smtp-alias: " },
	{ { "--smtp-name", "<x>", NULL }, "smtp-name: " },
	/* --listen needs a host and a port in range. */
	{ { "--listen", "127.0.0.1:70000", NULL },
	    "listen: \"70000\" is not a number from 1 to 65535" },
	{ { "--listen", "127.0.0.1:0", NULL }, "listen: \"0\" is not a number" },
	{ { "--listen", "127.0.0.1", NULL },
	    "listen: \"127.0.0.1\" needs a port (ADDR:PORT)" },
	{ { "--listen", "127.0.0.1:", NULL }, "listen: \"\" is not a number" },
	{ { "--listen", ":8080", NULL }, "listen: \":8080\" has no valid host" },
	{ { "--listen", "[::1", NULL }, "listen: \"[::1\": bad [address]" },
	{ { "--listen", "[]:80", NULL }, "bad [address]" },
	{ { "--listen", "[::1]8080", NULL }, "junk after ]" },
	{ { "--listen", "[::1]", NULL }, "needs a port" },
	{ { "--listen", "a b:80", NULL }, "has no valid host" },
	{ { "--listen", "a/b:80", NULL }, "has no valid host" },
	{ { "--smtp", "a\nb:25", NULL },
	    "smtp: \"a\\x0ab:25\" has no valid host" },
	/* --smtp: a bad port; an IPv6 address without brackets is ambiguous. */
	{ { "--smtp", "host:0", NULL }, "smtp: \"0\" is not a number" },
	{ { "--smtp", "host:65536", NULL }, "smtp: \"65536\" is not a number" },
	{ { "--smtp", "host:+25", NULL }, "smtp: \"+25\" is not a number" },
	{ { "--smtp", "host:smtp", NULL }, "smtp: \"smtp\" is not a number" },
	{ { "--smtp", "", NULL }, "smtp: \"\" has no valid host" },
	{ { "--smtp", "::1", NULL },
	    "smtp: \"::1\": an IPv6 address goes in brackets" },
	{ { "--smtp", "2001:db8::5", NULL }, "smtp: \"2001:db8::5\": an IPv6" },
	{ { "--listen", "::1:8080", NULL }, "listen: \"::1:8080\": an IPv6" },
	/* --fastcgi: a port in range, IPv6 in brackets, a port at all. */
	{ { "--fastcgi", "127.0.0.1:70000", NULL },
	    "fastcgi: \"70000\" is not a number from 1 to 65535" },
	{ { "--fastcgi", "::1:9000", NULL },
	    "fastcgi: \"::1:9000\": an IPv6 address goes in brackets" },
	{ { "--fastcgi", "localhost", NULL },
	    "fastcgi: \"localhost\" needs a port (ADDR:PORT)" },
	{ { "--fastcgi", "fcgi.sock", NULL }, "fastcgi: \"fcgi.sock\" needs" },
	/* --helo: what EHLO would not carry. */
	{ { "--helo", "x\r\nRSET", NULL },
	    "helo: \"x\\x0d\\x0aRSET\" is neither" },	/* one line */
	{ { "--helo", "a b", NULL }, "helo: \"a b\" is neither" },
	{ { "--helo", "[1.2.3]", NULL }, "helo: \"[1.2.3]\"" },
	{ { "--helo", "[IPv6:zz]", NULL }, "helo: \"[IPv6:zz]\"" },
	{ { "--helo", "[::1]", NULL }, "helo: \"[::1]\"" },
	{ { "--helo", "", NULL }, "helo: \"\" is neither" },
	/* Timeouts: 1 s to a day. */
	{ { "--smtp-timeout", "0", NULL },
	    "smtp-timeout: \"0\" is not a number from 1 to 86400" },
	{ { "--smtp-connect-timeout", "86401", NULL },
	    "smtp-connect-timeout: \"86401\" is not a number from 1 to 86400" },
	{ { "--smtp-data-timeout", "10s", NULL },
	    "smtp-data-timeout: \"10s\" is not a number" },
	/* Body: 1 octet to 64 MiB. */
	{ { "--max-body", "0", NULL },
	    "max-body: \"0\" is not a number from 1 to 1572864" },
	{ { "--max-body", "1572865", NULL }, "max-body: \"1572865\"" },
	{ { "--max-body", "1e6", NULL }, "max-body: \"1e6\"" },
	{ { "--max-body", "99999999999999999999999", NULL }, "max-body: " },
	/* What the option parser refuses. */
	{ { "--no-such-option", NULL }, "--no-such-option" },
	{ { "--group", NULL }, "--group" },
	{ { "stray", NULL }, "unexpected argument \"stray\"" },
	{ { "--group", "142", "stray", NULL }, "unexpected argument \"stray\"" },
};

static void
test_bad(void **state)
{
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
		struct config	 c;
		GError		*err = NULL;

		if (load(&c, bad_cases[i].args, &err))
			fail_msg("case %zu (%s %s) was accepted", i,
			    bad_cases[i].args[0],
			    bad_cases[i].args[1] ? bad_cases[i].args[1] : "");
		assert_non_null(err);
		assert_true(err->domain == G_OPTION_ERROR);
		if (strstr(err->message, bad_cases[i].want) == NULL)
			fail_msg("case %zu (%s %s): message \"%s\" lacks "
			    "\"%s\"", i, bad_cases[i].args[0],
			    bad_cases[i].args[1] ? bad_cases[i].args[1] : "",
			    err->message, bad_cases[i].want);
		/* One line, for start-up to print before exiting. */
		assert_null(strchr(err->message, '\n'));
		/* On failure, nothing is left to free. */
		assert_null(c.listen_host);
		assert_null(c.domain);
		assert_null(c.smtp_addr);
		assert_null(c.smtp_host);
		config_free(&c);
		g_error_free(err);
	}
}

/* Write a config file in tmp_dir; the caller frees the path. */
static char *
write_file(const char *name, const char *text)
{
	char	*path = g_build_filename(tmp_dir, name, NULL);

	assert_true(g_file_set_contents(path, text, -1, NULL));
	return path;
}

/* A file's values are used, with the same checks as the command line. */
static void
test_file(void **state)
{
	char		*path;
	struct config	 c;
	GError		*err = NULL;

	(void)state;
	path = write_file("lab.conf", "# group 142's bench\n[labmail]\n"
	    "group=142\nsmtp=127.0.0.1:2525\n");
	{
		const char	*args[] = { "--config", path, NULL };

		assert_true(load(&c, args, &err));
		assert_fields(&c, args, "group=142\ndomain=mail142.com\n"
		    "smtp_addr=192.168.0.42\nclient_addr=172.20.142.1\n"
		    "smtp_host=127.0.0.1\nsmtp_port=2525\n"
		    "listen_host=127.0.0.1\nlisten_port=8080\n");
		config_free(&c);
	}
	{
		/* The command line wins, key by key. */
		const char	*args[] = { "--group", "150", "-c", path,
		    "--listen", "127.0.0.1:9000", NULL };

		assert_true(load(&c, args, &err));
		assert_fields(&c, args, "group=150\ndomain=mail150.com\n"
		    "smtp_addr=192.168.0.50\nsmtp_host=127.0.0.1\n"
		    "smtp_port=2525\nlisten_port=9000\n");
		config_free(&c);
	}
	{
		const char	*args[] = { "--smtp", "[::1]:25", "--config",
		    path, NULL };

		assert_true(load(&c, args, &err));
		assert_fields(&c, args, "group=142\nsmtp_host=::1\n"
		    "smtp_port=25\n");
		config_free(&c);
	}
	g_free(path);

	/* Every option is a key; spaces around '=' are allowed. */
	path = write_file("all.conf", "[labmail]\nlisten = [::1]:8081\n"
	    "data-dir = /srv/lab\nhelo = me.example\n"
	    "smtp-connect-timeout = 5\nsmtp-timeout = 6\n"
	    "smtp-data-timeout = 7\nmax-body = 4096\ngroup = 42\n"
	    "domain = lab.example\nsmtp-alias = mx.lab.example\n"
	    "smtp-name = box.lab.example\nsmtp-addr = 10.0.0.5\n"
	    "client-addr = 10.0.1.1\ndhcp-addr = 10.0.1.2\n"
	    "dns-addr = 10.0.0.53\n");
	{
		const char	*args[] = { "--config", path, NULL };
		char		*got;

		assert_true(load(&c, args, &err));
		got = dump(&c);
		assert_string_equal(got, "listen_host=::1\nlisten_port=8081\n"
		    "data_dir=/srv/lab\nsmtp_host=10.0.0.5\nsmtp_port=25\n"
		    "helo=me.example\nsmtp_connect_timeout=5\n"
		    "smtp_timeout=6\nsmtp_data_timeout=7\nmax_body=4096\n"
		    "group=42\ndomain=lab.example\n"
		    "smtp_alias=mx.lab.example\n"
		    "smtp_hostname=box.lab.example\nsmtp_addr=10.0.0.5\n"
		    "client_addr=10.0.1.1\ndhcp_addr=10.0.1.2\n"
		    "dns_addr=10.0.0.53\nfastcgi_host=(null)\n"
		    "fastcgi_port=(null)\n");
		g_free(got);
		config_free(&c);
	}
	g_free(path);

	/* An empty file changes nothing. */
	path = write_file("empty.conf", "");
	{
		const char	*args[] = { "--config", path, NULL };
		char		*got;

		assert_true(load(&c, args, &err));
		got = dump(&c);
		assert_string_equal(got, DEFAULTS_181);
		g_free(got);
		config_free(&c);
	}
	g_free(path);
}

/* A config file that must be refused, and words of the message. */
static const struct {
	const char	*text;		/* NULL: the file does not exist */
	const char	*want;
	gboolean	 names_file;	/* the message names the file */
} bad_files[] = {
	{ NULL, "config file ", TRUE },
	{ "[labmail]\ngrop=142\n", "unknown key \"grop\"", TRUE },
	{ "[labmail]\nconfig=other.conf\n", "unknown key \"config\"", TRUE },
	{ "[labmail]\ngroup=142\nsmtp_addr=10.0.0.5\n",
	    "unknown key \"smtp_addr\"", TRUE },
	/* A misspelt group would be as silently ignored as a key. */
	{ "[labmial]\ngroup=142\n", "unknown group [labmial]", TRUE },
	{ "[labmail]\ngroup=142\n[other]\nx=1\n", "unknown group [other]",
	    TRUE },
	{ "group=142\n", "config file ", TRUE },	/* no group at all */
	{ "[labmail\ngroup=142\n", "config file ", TRUE },
	/* Values from the file get the command line's checks. */
	{ "[labmail]\ngroup=abc\n", "group: \"abc\" is not a number", FALSE },
	{ "[labmail]\ngroup=42\n", "no valid smtp-addr", FALSE },
	{ "[labmail]\nlisten=127.0.0.1:70000\n", "listen: \"70000\"", FALSE },
	{ "[labmail]\nmax-body=0\n", "max-body: \"0\"", FALSE },
};

static void
test_file_bad(void **state)
{
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(bad_files); i++) {
		char		*path;
		struct config	 c;
		GError		*err = NULL;

		if (bad_files[i].text != NULL)
			path = write_file("bad.conf", bad_files[i].text);
		else
			path = g_build_filename(tmp_dir, "missing.conf", NULL);
		{
			const char	*args[] = { "--config", path, NULL };

			if (load(&c, args, &err))
				fail_msg("file %zu was accepted", i);
		}
		assert_non_null(err);
		if (strstr(err->message, bad_files[i].want) == NULL)
			fail_msg("file %zu: message \"%s\" lacks \"%s\"", i,
			    err->message, bad_files[i].want);
		/* A file's problem names the file. */
		if (bad_files[i].names_file)
			assert_non_null(strstr(err->message, path));
		assert_null(c.domain);
		g_error_free(err);
		g_unlink(path);
		g_free(path);
	}
}

/* config_print() into a string; the caller frees it. */
static char *
print(const struct config *c)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f = open_memstream(&buf, &len);

	assert_non_null(f);
	config_print(c, f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* The output for these arguments (user and state-dir depend on who runs). */
#define PRINT_ARGS	"--user", "labmail", "--state-dir", "/var/lib/labmail"
#define PRINT_181 \
	"# labmail " LABMAIL_VERSION ": the settings in force.\n" \
	"# Values without a comment above them were given on the command " \
	"line\n# or in the config file.\n" \
	"[labmail]\n" \
	"# default\nlisten = 127.0.0.1:8080\n" \
	"# default (unset): web/ and static/ beside build/ in a checkout, " \
	"else in " LABMAIL_DATADIR "\n#data-dir =\n" \
	"# derived from group 181\nsmtp = 192.168.0.81:25\n" \
	"# default (unset): EHLO with the address literal of our end of " \
	"the connection\n#helo =\n" \
	"# default\nsmtp-connect-timeout = 30\n" \
	"# default\nsmtp-timeout = 300\n" \
	"# default\nsmtp-data-timeout = 600\n" \
	"# default\nmax-body = 1048576\n" \
	"# default\ngroup = 181\n" \
	"# derived from group 181\ndomain = mail181.com\n" \
	"# derived from group 181\nsmtp-alias = smtp181.mail181.com\n" \
	"# derived from group 181\nsmtp-name = machine181.mail181.com\n" \
	"# derived from group 181\nsmtp-addr = 192.168.0.81\n" \
	"# derived from group 181\nclient-addr = 172.20.181.1\n" \
	"# derived from group 181\ndhcp-addr = 172.20.181.2\n" \
	"# default\ndns-addr = 192.168.0.254\n" \
	"user = labmail\n" \
	"state-dir = /var/lib/labmail\n" \
	"# default\nspool-dir = /var/mail\n" \
	"# default\nallow-root = false\n" \
	"# default\nsend-requires-login = false\n" \
	"# default (unset): serve HTTP on listen\n#fastcgi =\n" \
	"# default\nsocket-mode = 0660\n" \
	"# default (unset): the socket keeps its owner\n#socket-owner =\n" \
	"# default (unset): plain HTTP\n#tls-cert =\n" \
	"# default (unset): plain HTTP\n#tls-key =\n" \
	"# default\nsmtp-tls = auto\n" \
	"# default (unset): the system's certificate authorities\n" \
	"#smtp-ca =\n" \
	"# default\nsmtp-insecure = false\n" \
	"# default\nsyslog = false\n" \
	"# default\nlog-level = info\n" \
	"# default\ncheck-config = false\n"

/* Every option, in table order, marked but for the two given. */
static void
test_print_defaults(void **state)
{
	const char	*args[] = { PRINT_ARGS, NULL };
	struct config	 c;
	GError		*err = NULL;
	char		*got;

	(void)state;
	assert_true(load(&c, args, &err));
	got = print(&c);
	assert_string_equal(got, PRINT_181);
	g_free(got);
	config_free(&c);
}

/* Arguments, text the output must hold, and text it must not. */
static const struct {
	const char	*args[MAX_ARGS + 1];
	const char	*want[4];
	const char	*not[3];
} print_cases[] = {
	/* A given value has no mark; what follows from it says so. */
	{ { "--group", "142", "--smtp-addr", "10.0.0.5", NULL },
	    { "\ngroup = 142\n", "\nsmtp-addr = 10.0.0.5\n",
	    "# derived from smtp-addr\nsmtp = 10.0.0.5:25\n",
	    "# derived from group 142\ndomain = mail142.com\n" },
	    { "# default\ngroup", "# derived from group 142\nsmtp-addr" } },
	{ { "--domain", "lab.example", NULL },
	    { "\ndomain = lab.example\n",
	    "# derived from group 181 and domain\n"
	    "smtp-alias = smtp181.lab.example\n",
	    "# derived from group 181 and domain\n"
	    "smtp-name = machine181.lab.example\n" },
	    { "# derived from group 181\ndomain" } },
	/* Addresses as --listen and --smtp take them. */
	{ { "--smtp", "[::1]:2525", "--listen", "[::1]:8081", NULL },
	    { "\nsmtp = [::1]:2525\n", "\nlisten = [::1]:8081\n",
	    "# derived from group 181\nsmtp-addr = 192.168.0.81\n" },
	    { "# derived from group 181\nsmtp =" } },
	{ { "--smtp", "mail.example", NULL },
	    { "\nsmtp = mail.example:25\n" }, { NULL } },
	/* Values with no default are printed once given. */
	{ { "--helo", "me.example", "--data-dir", "/srv/lab", NULL },
	    { "\nhelo = me.example\n", "\ndata-dir = /srv/lab\n" },
	    { "#helo =", "#data-dir =" } },
	{ { "--fastcgi", "--socket-mode", "600", "--socket-owner",
	    "labmail:www-data", NULL },
	    { "\nfastcgi = stdin\n", "\nsocket-mode = 0600\n",
	    "\nsocket-owner = labmail:www-data\n" },
	    { "#fastcgi =" } },
	{ { "--fastcgi=/run/labmail.sock", NULL },
	    { "\nfastcgi = /run/labmail.sock\n" }, { NULL } },
	{ { "--tls-cert", "/etc/c.pem", "--tls-key", "/etc/k.pem",
	    "--smtp-ca", "/etc/ca.pem", NULL },
	    { "\ntls-cert = /etc/c.pem\n", "\ntls-key = /etc/k.pem\n",
	    "\nsmtp-ca = /etc/ca.pem\n" }, { NULL } },
	/* Words and flags. */
	{ { "--log-level", "debug", "--smtp-tls", "required", "--syslog",
	    "--allow-root", NULL },
	    { "\nlog-level = debug\n", "\nsmtp-tls = required\n",
	    "\nsyslog = true\n", "\nallow-root = true\n" },
	    { "# default\nsyslog" } },
	{ { "--log-level", "error", "--smtp-tls", "off",
	    "--send-requires-login", "--smtp-insecure", NULL },
	    { "\nlog-level = error\n", "\nsmtp-tls = off\n",
	    "\nsend-requires-login = true\n", "\nsmtp-insecure = true\n" },
	    { NULL } },
	/* --check-config itself is not a setting to keep. */
	{ { "--check-config", NULL },
	    { "# this run only\n#check-config = true\n" },
	    { "\ncheck-config =" } },
};

static void
test_print_marks(void **state)
{
	gsize	i, k;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(print_cases); i++) {
		struct config	 c;
		GError		*err = NULL;
		char		*got;

		if (!load(&c, print_cases[i].args, &err))
			fail_msg("case %zu: %s", i, err->message);
		got = print(&c);
		for (k = 0; k < G_N_ELEMENTS(print_cases[i].want); k++)
			if (print_cases[i].want[k] != NULL &&
			    strstr(got, print_cases[i].want[k]) == NULL)
				fail_msg("case %zu lacks \"%s\":\n%s", i,
				    print_cases[i].want[k], got);
		for (k = 0; k < G_N_ELEMENTS(print_cases[i].not); k++)
			if (print_cases[i].not[k] != NULL &&
			    strstr(got, print_cases[i].not[k]) != NULL)
				fail_msg("case %zu has \"%s\":\n%s", i,
				    print_cases[i].not[k], got);
		g_free(got);
		config_free(&c);
	}
}

/* The output without its comment lines ("#key =" lines stay). */
static char *
values_of(const char *printed)
{
	char	**lines = g_strsplit(printed, "\n", -1);
	GString	 *out = g_string_new(NULL);
	gsize	  i;

	for (i = 0; lines[i] != NULL; i++)
		if (!g_str_has_prefix(lines[i], "# "))
			g_string_append_printf(out, "%s\n", lines[i]);
	g_strfreev(lines);
	return g_string_free(out, FALSE);
}

/* What --check-config prints is a config file giving the same values. */
static const char *const round_trips[][MAX_ARGS + 1] = {
	{ PRINT_ARGS, NULL },
	{ "--group", "142", "--domain", "lab.example", "--smtp",
	    "[2001:db8::5]:587", "--listen", "[::]:8443", NULL },
	{ "--fastcgi", "--socket-mode", "0", "--log-level", "warning",
	    "--syslog", "--smtp-tls", "off", "--max-body", "1", NULL },
	/* Strings the key file must escape: spaces, \, newline, '#'. */
	{ "--data-dir", "  /srv/odd\\dir #1\n\tx ", "--helo",
	    "[IPv6:2001:db8::1]", "--socket-owner", "#root", NULL },
};

static void
test_print_round_trip(void **state)
{
	gsize	i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(round_trips); i++) {
		struct config	 c;
		GError		*err = NULL;
		char		*first, *second, *path;
		char		*v1, *v2;

		if (!load(&c, round_trips[i], &err))
			fail_msg("case %zu: %s", i, err->message);
		first = print(&c);
		config_free(&c);
		path = write_file("printed.conf", first);
		{
			const char	*args[] = { "--config", path, NULL };

			if (!load(&c, args, &err))
				fail_msg("case %zu: printed file refused: "
				    "%s\n%s", i, err->message, first);
		}
		second = print(&c);
		config_free(&c);
		v1 = values_of(first);
		v2 = values_of(second);
		assert_string_equal(v1, v2);
		/* Every value is now given by the file: no marks. */
		if (strstr(second, "\n# default\n") != NULL ||
		    strstr(second, "\n# derived") != NULL)
			fail_msg("case %zu: marks left:\n%s", i, second);
		g_unlink(path);
		g_free(path);
		g_free(v1);
		g_free(v2);
		g_free(first);
		g_free(second);
	}
}

/* The record of given options follows the command line and the file. */
static void
test_given(void **state)
{
	char		*path = write_file("given.conf",
	    "[labmail]\ngroup = 142\n");
	const char	*args[] = { "--smtp", "127.0.0.1:2525", "--config",
	    path, NULL };
	const char	*none[] = { NULL };
	struct config	 c;
	GError		*err = NULL;
	char		*got;

	(void)state;
	assert_true(load(&c, none, &err));
	assert_true(c.given == 0);
	config_free(&c);
	assert_true(load(&c, args, &err));
	assert_true(c.given != 0);
	got = print(&c);
	assert_non_null(strstr(got, "\n[labmail]\n# default\nlisten = "));
	assert_non_null(strstr(got, "\nsmtp = 127.0.0.1:2525\n"));
	assert_non_null(strstr(got, "\ngroup = 142\n"));
	assert_null(strstr(got, "# default\ngroup"));
	g_free(got);
	config_free(&c);
	assert_true(c.given == 0);
	g_unlink(path);
	g_free(path);
}

static int
setup(void **state)
{
	(void)state;
	tmp_dir = g_dir_make_tmp("test_config-XXXXXX", NULL);
	return tmp_dir != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	const char	*names[] = { "lab.conf", "all.conf", "empty.conf" };
	gsize		 i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(names); i++) {
		char	*path = g_build_filename(tmp_dir, names[i], NULL);

		g_unlink(path);
		g_free(path);
	}
	g_rmdir(tmp_dir);
	g_free(tmp_dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_file_bad),
		cmocka_unit_test(test_print_defaults),
		cmocka_unit_test(test_print_marks),
		cmocka_unit_test(test_print_round_trip),
		cmocka_unit_test(test_given),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
