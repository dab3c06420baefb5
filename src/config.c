/*
 * config - command line and config file, parsed with GLib.
 *
 * Every option is a string at first, from the command line or else from
 * the file, so that one set of checks gives the same clear message for
 * both.  Then the values are converted and the lab's defaults derived
 * from the group.
 */
#include <arpa/inet.h>

#include <locale.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "smtp.h"

enum option {
	OPT_LISTEN,
	OPT_DATA_DIR,
	OPT_SMTP,
	OPT_HELO,
	OPT_SMTP_CONNECT_TIMEOUT,
	OPT_SMTP_TIMEOUT,
	OPT_SMTP_DATA_TIMEOUT,
	OPT_MAX_BODY,
	OPT_GROUP,
	OPT_DOMAIN,
	OPT_SMTP_ALIAS,
	OPT_SMTP_NAME,
	OPT_SMTP_ADDR,
	OPT_CLIENT_ADDR,
	OPT_DHCP_ADDR,
	OPT_DNS_ADDR,
	OPT_USER,
	OPT_STATE_DIR,
	OPT_SPOOL_DIR,
	OPT_ALLOW_ROOT,
	OPT_SEND_REQUIRES_LOGIN,
	OPT_FASTCGI,
	OPT_SOCKET_MODE,
	OPT_SOCKET_OWNER,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_SMTP_TLS,
	OPT_SMTP_CA,
	OPT_SMTP_INSECURE,
	OPT_SYSLOG,
	OPT_LOG_LEVEL,
	OPT_CHECK_CONFIG,
	N_OPTIONS
};

struct option_def {
	const char	*name;
	const char	*arg;		/* NULL: a flag, "true" in the file */
	const char	*help;
	const char	*bare;		/* value when given without one */
};

/* The --max-body ceiling that the help, README and man pages give. */
G_STATIC_ASSERT(HTTP_FIELD_MAX == 1572864);

/* One row per option; the key in the file has the same name. */
static const struct option_def option_defs[N_OPTIONS] = {
	[OPT_LISTEN] = { "listen", "ADDR:PORT",
	    "Serve HTTP on this address (default 127.0.0.1:8080)" },
	[OPT_DATA_DIR] = { "data-dir", "DIR",
	    "Folder holding web/ and static/ (default: beside build/, "
	    "else " LABMAIL_DATADIR ")" },
	[OPT_SMTP] = { "smtp", "HOST[:PORT]",
	    "SMTP server for the send form (default: the group's "
	    "SMTP address, port 25)" },
	[OPT_HELO] = { "helo", "NAME",
	    "EHLO argument, a DNS name or an address literal (default: "
	    "our own address literal, e.g. [172.20.181.1])" },
	[OPT_SMTP_CONNECT_TIMEOUT] = { "smtp-connect-timeout", "SECONDS",
	    "Time to connect to the SMTP server (default 30)" },
	[OPT_SMTP_TIMEOUT] = { "smtp-timeout", "SECONDS",
	    "Time for each SMTP reply (default 300, RFC 5321 4.5.3.2)" },
	[OPT_SMTP_DATA_TIMEOUT] = { "smtp-data-timeout", "SECONDS",
	    "Time to write the message, then as much for the reply to "
	    "its final dot (default 600)" },
	[OPT_MAX_BODY] = { "max-body", "BYTES",
	    "Largest mail body the send form takes, at most 1572864 "
	    "(default 1048576)" },
	[OPT_GROUP] = { "group", "X",
	    "Lab group number; the defaults below derive from it "
	    "(default 181)" },
	[OPT_DOMAIN] = { "domain", "DOMAIN",
	    "Mail domain (default mailX.com)" },
	[OPT_SMTP_ALIAS] = { "smtp-alias", "NAME",
	    "DNS alias of the SMTP machine (default smtpX.DOMAIN)" },
	[OPT_SMTP_NAME] = { "smtp-name", "NAME",
	    "DNS name of the SMTP machine (default machineX.DOMAIN)" },
	[OPT_SMTP_ADDR] = { "smtp-addr", "IPV4",
	    "Address of the SMTP machine (default 192.168.0.(X-100))" },
	[OPT_CLIENT_ADDR] = { "client-addr", "IPV4",
	    "Address of the CLIENT machine (default 172.20.X.1)" },
	[OPT_DHCP_ADDR] = { "dhcp-addr", "IPV4",
	    "Address of the DHCP server (default 172.20.X.2)" },
	[OPT_DNS_ADDR] = { "dns-addr", "IPV4",
	    "Address of the DNS server (default 192.168.0.254)" },
	[OPT_USER] = { "user", "NAME",
	    "Unprivileged user the web process runs as when started as "
	    "root (default labmail if it exists, else nobody)" },
	[OPT_STATE_DIR] = { "state-dir", "DIR",
	    "Folder for the session key, the logged-out sessions and the "
	    "failed logins (default /var/lib/labmail as root, else "
	    "~/.local/state/labmail)" },
	[OPT_SPOOL_DIR] = { "spool-dir", "DIR",
	    "Folder of the users' mailboxes (default /var/mail)" },
	[OPT_ALLOW_ROOT] = { "allow-root", NULL,
	    "Let root log in and read root's mail" },
	[OPT_SEND_REQUIRES_LOGIN] = { "send-requires-login", NULL,
	    "Only logged-in users may send" },
	[OPT_FASTCGI] = { "fastcgi", "ADDR:PORT|PATH",
	    "Serve FastCGI instead of HTTP, on a TCP address, a Unix socket "
	    "(absolute PATH), or without a value on the socket passed as "
	    "standard input (spawn-fcgi)", "stdin" },
	[OPT_SOCKET_MODE] = { "socket-mode", "MODE",
	    "Mode of the FastCGI Unix socket (default 0660)" },
	[OPT_SOCKET_OWNER] = { "socket-owner", "USER[:GROUP]",
	    "Owner of the FastCGI Unix socket (default: unchanged)" },
	[OPT_TLS_CERT] = { "tls-cert", "FILE",
	    "Serve HTTPS with this certificate (PEM)" },
	[OPT_TLS_KEY] = { "tls-key", "FILE",
	    "The private key of --tls-cert (PEM)" },
	[OPT_SMTP_TLS] = { "smtp-tls", "auto|required|off",
	    "STARTTLS to the SMTP server: when offered, always, never "
	    "(default auto)" },
	[OPT_SMTP_CA] = { "smtp-ca", "FILE",
	    "Certificates (PEM) that the SMTP server's must chain to "
	    "(default: the system's)" },
	[OPT_SMTP_INSECURE] = { "smtp-insecure", NULL,
	    "Do not check the SMTP server's certificate (the result page "
	    "says so)" },
	[OPT_SYSLOG] = { "syslog", NULL,
	    "Log to syslog instead of standard error" },
	[OPT_LOG_LEVEL] = { "log-level", "LEVEL",
	    "error, warning, info or debug (default info)" },
	[OPT_CHECK_CONFIG] = { "check-config", NULL,
	    "Check the configuration, print the values in force, exit" },
};

/* The words of the options that take one, in enum order. */
static const char *const smtp_tls_words[] = { "auto", "required", "off",
    NULL };
static const char *const log_level_words[] = { "error", "warning", "info",
    "debug", NULL };

/* config->given has a bit for each row of the table. */
G_STATIC_ASSERT(N_OPTIONS <= 64);
#define GIVEN(c, opt)	((((c)->given) >> (opt)) & 1)

#define DEFAULT_LISTEN		"127.0.0.1:8080"
#define DEFAULT_SMTP_PORT	"25"
#define DEFAULT_GROUP		181
#define GROUP_MAX		9999

/* Set the one-line error that start-up prints before exiting 2. */
static gboolean
fail(GError **err, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean
fail(GError **err, const char *fmt, ...)
{
	va_list		 ap;
	GString		*msg = g_string_new(NULL);
	char		*text, *p;

	va_start(ap, fmt);
	text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	/* One line, whatever a value quoted in it holds. */
	for (p = text; *p != '\0'; p++) {
		if (g_ascii_iscntrl(*p))
			g_string_append_printf(msg, "\\x%02x", (guchar)*p);
		else
			g_string_append_c(msg, *p);
	}
	g_set_error_literal(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
	    msg->str);
	g_string_free(msg, TRUE);
	g_free(text);
	return FALSE;
}

/* Parse a decimal number in [min, max] for the option called name. */
static gboolean
parse_uint(const char *name, const char *s, guint64 min, guint64 max,
    guint64 *out, GError **err)
{
	if (!g_ascii_string_to_unsigned(s, 10, min, max, out, NULL))
		return fail(err, "%s: \"%s\" is not a number from %" G_GUINT64_FORMAT
		    " to %" G_GUINT64_FORMAT, name, s, min, max);
	return TRUE;
}

/* TRUE if s holds an ASCII control character. */
static gboolean
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if (g_ascii_iscntrl(*s))
			return TRUE;
	return FALSE;
}

/* Split "host:port", "[v6]:port" or (with a default port) "host". */
static gboolean
parse_host_port(const char *name, const char *s, const char *default_port,
    char **host, char **port, GError **err)
{
	const char	*colon, *end;
	guint64		 n;

	if (*s == '[') {
		end = strchr(s, ']');
		if (end == NULL || end == s + 1)
			return fail(err, "%s: \"%s\": bad [address]", name, s);
		*host = g_strndup(s + 1, end - s - 1);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (colon == NULL && end[1] != '\0') {
			g_clear_pointer(host, g_free);
			return fail(err, "%s: \"%s\": junk after ]", name, s);
		}
	} else {
		colon = strchr(s, ':');
		/* "::1" or "2001:db8::5" would split at the wrong colon. */
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return fail(err, "%s: \"%s\": an IPv6 address "
			    "goes in brackets ([ADDR]:PORT)", name, s);
		*host = colon ? g_strndup(s, colon - s) : g_strdup(s);
	}
	if (**host == '\0' || strpbrk(*host, " \t/") != NULL ||
	    has_control(*host)) {
		g_clear_pointer(host, g_free);
		return fail(err, "%s: \"%s\" has no valid host", name, s);
	}
	if (colon == NULL && default_port == NULL) {
		g_clear_pointer(host, g_free);
		return fail(err, "%s: \"%s\" needs a port (ADDR:PORT)", name, s);
	}
	if (colon != NULL && !parse_uint(name, colon + 1, 1, 65535, &n, err)) {
		g_clear_pointer(host, g_free);
		return FALSE;
	}
	*port = colon ? g_strdup_printf("%" G_GUINT64_FORMAT, n) :
	    g_strdup(default_port);
	return TRUE;
}

/* TRUE if s is a dotted-quad IPv4 address. */
static gboolean
is_ipv4(const char *s)
{
	struct in_addr	a;

	return inet_pton(AF_INET, s, &a) == 1;
}

/* TRUE if s is a DNS name: dot-separated labels of letters, digits, '-'. */
static gboolean
is_dns_name(const char *s)
{
	gsize	label = 0;

	if (*s == '\0' || strlen(s) > 253)
		return FALSE;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (label == 0)
				return FALSE;
			label = 0;
		} else if (g_ascii_isalnum(*s) || *s == '-') {
			if (++label > 63)
				return FALSE;
		} else
			return FALSE;
	}
	return label > 0;
}

/*
 * An EHLO argument (RFC 5321 4.1.1.1): a DNS name, or an address
 * literal, "[192.0.2.1]" or "[IPv6:2001:db8::1]" (4.1.3).  Anything
 * else would be refused by the server, or, with a CR LF, by our own
 * client at every send.
 */
static gboolean
is_helo_name(const char *s)
{
	return s[0] == '[' ? smtp_address_literal_ok(s) : is_dns_name(s);
}

/*
 * The value of a lab setting: the one given, checked, or the one the
 * group gives.  derived is NULL when the group gives no valid value.
 */
static gboolean
lab_value(char **out, const char *given, char *derived, int opt,
    gboolean (*valid)(const char *), int group, GError **err)
{
	const char	*name = option_defs[opt].name;

	if (given != NULL) {
		g_free(derived);
		if (!valid(given))
			return fail(err, "%s: \"%s\" is not valid", name, given);
		*out = g_strdup(given);
		return TRUE;
	}
	if (derived == NULL || !valid(derived)) {
		g_free(derived);
		return fail(err, "group %d gives no valid %s; set --%s "
		    "(or %s = in the config file)", group, name, name, name);
	}
	*out = derived;
	return TRUE;
}

/* Fill in the lab's values from the group, or from what was given. */
static gboolean
derive_lab_values(struct config *c, char **v, GError **err)
{
	int	 x = c->group;
	char	*domain;

	if (!lab_value(&c->domain, v[OPT_DOMAIN],
	    g_strdup_printf("mail%d.com", x), OPT_DOMAIN, is_dns_name, x, err))
		return FALSE;
	domain = c->domain;
	return lab_value(&c->smtp_alias, v[OPT_SMTP_ALIAS],
	        g_strdup_printf("smtp%d.%s", x, domain), OPT_SMTP_ALIAS,
	        is_dns_name, x, err) &&
	    lab_value(&c->smtp_hostname, v[OPT_SMTP_NAME],
	        g_strdup_printf("machine%d.%s", x, domain), OPT_SMTP_NAME,
	        is_dns_name, x, err) &&
	    lab_value(&c->smtp_addr, v[OPT_SMTP_ADDR],
	        x > 100 && x <= 354 ?
	        g_strdup_printf("192.168.0.%d", x - 100) : NULL,
	        OPT_SMTP_ADDR, is_ipv4, x, err) &&
	    lab_value(&c->client_addr, v[OPT_CLIENT_ADDR],
	        g_strdup_printf("172.20.%d.1", x), OPT_CLIENT_ADDR,
	        is_ipv4, x, err) &&
	    lab_value(&c->dhcp_addr, v[OPT_DHCP_ADDR],
	        g_strdup_printf("172.20.%d.2", x), OPT_DHCP_ADDR,
	        is_ipv4, x, err) &&
	    lab_value(&c->dns_addr, v[OPT_DNS_ADDR],
	        g_strdup("192.168.0.254"), OPT_DNS_ADDR, is_ipv4, x, err);
}

/* Convert a timeout option (seconds, default def) into *out. */
static gboolean
timeout_value(guint *out, char **v, int opt, guint def, GError **err)
{
	guint64	n = def;

	if (v[opt] != NULL &&
	    !parse_uint(option_defs[opt].name, v[opt], 1, 86400, &n, err))
		return FALSE;
	*out = (guint)n;
	return TRUE;
}

/* A flag: "true"/"false" (or 1/0, yes/no) from the file, set on the
 * command line. */
static gboolean
parse_flag(char **v, int opt, gboolean *out, GError **err)
{
	const char	*s = v[opt];

	*out = FALSE;
	if (s == NULL)
		return TRUE;
	if (g_ascii_strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
	    g_ascii_strcasecmp(s, "yes") == 0)
		*out = TRUE;
	else if (g_ascii_strcasecmp(s, "false") != 0 && strcmp(s, "0") != 0 &&
	    g_ascii_strcasecmp(s, "no") != 0)
		return fail(err, "%s: \"%s\" is not true or false",
		    option_defs[opt].name, s);
	return TRUE;
}

/* The index of s in the NULL-terminated words, or -1. */
static int
word_index(const char *s, const char *const *words)
{
	int	i;

	for (i = 0; words[i] != NULL; i++)
		if (strcmp(s, words[i]) == 0)
			return i;
	return -1;
}

/* Front end, TLS and logging settings. */
static gboolean
convert_serving(struct config *c, char **v, GError **err)
{
	guint64	 mode = 0660;

	if (!parse_flag(v, OPT_SMTP_INSECURE, &c->smtp_insecure, err) ||
	    !parse_flag(v, OPT_SYSLOG, &c->syslog, err) ||
	    !parse_flag(v, OPT_CHECK_CONFIG, &c->check_config, err))
		return FALSE;
	c->fastcgi = g_strdup(v[OPT_FASTCGI]);
	if (c->fastcgi != NULL && strcmp(c->fastcgi, "stdin") != 0 &&
	    c->fastcgi[0] != '/' && !parse_host_port("fastcgi", c->fastcgi,
	    NULL, &c->fastcgi_host, &c->fastcgi_port, err))
		return FALSE;
	if (v[OPT_SOCKET_MODE] != NULL &&
	    !g_ascii_string_to_unsigned(v[OPT_SOCKET_MODE], 8, 0, 0777,
	    &mode, NULL))
		return fail(err, "socket-mode: \"%s\" is not an octal mode",
		    v[OPT_SOCKET_MODE]);
	c->socket_mode = (guint)mode;
	c->socket_owner = g_strdup(v[OPT_SOCKET_OWNER]);
	c->tls_cert = g_strdup(v[OPT_TLS_CERT]);
	c->tls_key = g_strdup(v[OPT_TLS_KEY]);
	if ((c->tls_cert == NULL) != (c->tls_key == NULL))
		return fail(err, "tls-cert and tls-key go together");
	c->smtp_ca = g_strdup(v[OPT_SMTP_CA]);
	c->smtp_tls = v[OPT_SMTP_TLS] ? word_index(v[OPT_SMTP_TLS],
	    smtp_tls_words) : CONFIG_SMTP_TLS_AUTO;
	if ((int)c->smtp_tls < 0)
		return fail(err, "smtp-tls: \"%s\" is not auto, required or "
		    "off", v[OPT_SMTP_TLS]);
	c->log_level = v[OPT_LOG_LEVEL] ? word_index(v[OPT_LOG_LEVEL],
	    log_level_words) : CONFIG_LOG_INFO;
	if ((int)c->log_level < 0)
		return fail(err, "log-level: \"%s\" is not error, warning, "
		    "info or debug", v[OPT_LOG_LEVEL]);
	return TRUE;
}

/* GOption callback of an option whose value may be left out. */
static gboolean
optional_value(const char *name, const char *value, gpointer data,
    GError **err)
{
	char	**v = data;
	int	  opt;

	(void)err;
	for (opt = 0; opt < N_OPTIONS; opt++)
		if (strcmp(name + 2, option_defs[opt].name) == 0)
			break;
	g_assert(opt < N_OPTIONS);
	g_free(v[opt]);
	v[opt] = g_strdup(value != NULL ? value : option_defs[opt].bare);
	return TRUE;
}

/* The user to drop to: labmail if make install created it, else nobody. */
static const char *
default_user(void)
{
	return getpwnam("labmail") != NULL ? "labmail" : "nobody";
}

/* Convert the raw strings into the config. */
static gboolean
convert(struct config *c, char **v, GError **err)
{
	guint64	n;

	if (!parse_host_port("listen", v[OPT_LISTEN] ? v[OPT_LISTEN] :
	    DEFAULT_LISTEN, NULL, &c->listen_host, &c->listen_port, err))
		return FALSE;
	c->data_dir = g_strdup(v[OPT_DATA_DIR]);
	if (!parse_flag(v, OPT_ALLOW_ROOT, &c->allow_root, err) ||
	    !parse_flag(v, OPT_SEND_REQUIRES_LOGIN, &c->send_requires_login,
	    err))
		return FALSE;
	c->user = g_strdup(v[OPT_USER] ? v[OPT_USER] : default_user());
	c->state_dir = v[OPT_STATE_DIR] ? g_strdup(v[OPT_STATE_DIR]) :
	    geteuid() == 0 ? g_strdup("/var/lib/labmail") :
	    g_build_filename(g_get_user_state_dir(), "labmail", NULL);
	c->spool_dir = g_strdup(v[OPT_SPOOL_DIR] ? v[OPT_SPOOL_DIR] :
	    "/var/mail");
	if (!convert_serving(c, v, err))
		return FALSE;
	if (v[OPT_HELO] != NULL && !is_helo_name(v[OPT_HELO]))
		return fail(err, "helo: \"%s\" is neither a DNS name nor an "
		    "address literal ([192.0.2.1], [IPv6:2001:db8::1])",
		    v[OPT_HELO]);
	c->helo = g_strdup(v[OPT_HELO]);
	if (!timeout_value(&c->smtp_connect_timeout, v,
	    OPT_SMTP_CONNECT_TIMEOUT, 30, err) ||
	    !timeout_value(&c->smtp_timeout, v, OPT_SMTP_TIMEOUT, 300, err) ||
	    !timeout_value(&c->smtp_data_timeout, v, OPT_SMTP_DATA_TIMEOUT,
	    600, err))
		return FALSE;
	n = 1048576;
	if (v[OPT_MAX_BODY] != NULL && !parse_uint("max-body",
	    v[OPT_MAX_BODY], 1, HTTP_FIELD_MAX, &n, err))
		return FALSE;
	c->max_body = n;
	n = DEFAULT_GROUP;
	if (v[OPT_GROUP] != NULL &&
	    !parse_uint("group", v[OPT_GROUP], 1, GROUP_MAX, &n, err))
		return FALSE;
	c->group = (int)n;
	if (!derive_lab_values(c, v, err))
		return FALSE;
	if (v[OPT_SMTP] != NULL)
		return parse_host_port("smtp", v[OPT_SMTP], DEFAULT_SMTP_PORT,
		    &c->smtp_host, &c->smtp_port, err);
	c->smtp_host = g_strdup(c->smtp_addr);
	c->smtp_port = g_strdup(DEFAULT_SMTP_PORT);
	return TRUE;
}

/* Take from the config file every value the command line did not give. */
static gboolean
read_file(const char *path, char **v, GError **err)
{
	GKeyFile	*kf = g_key_file_new();
	GError		*e = NULL;
	char		**groups = NULL, **keys = NULL;
	gboolean	 ok = FALSE;
	gsize		 i;
	int		 opt;

	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &e)) {
		fail(err, "config file %s: %s", path, e->message);
		goto out;
	}
	/* A misspelt group would hide all its keys just as silently. */
	groups = g_key_file_get_groups(kf, NULL);
	for (i = 0; groups[i] != NULL; i++)
		if (strcmp(groups[i], CONFIG_GROUP_NAME) != 0) {
			fail(err, "config file %s: unknown group [%s]", path,
			    groups[i]);
			goto out;
		}
	keys = g_key_file_get_keys(kf, CONFIG_GROUP_NAME, NULL, NULL);
	for (i = 0; keys != NULL && keys[i] != NULL; i++) {
		for (opt = 0; opt < N_OPTIONS; opt++)
			if (strcmp(keys[i], option_defs[opt].name) == 0)
				break;
		/* A misspelt key silently ignored is a lab hour lost. */
		if (opt == N_OPTIONS) {
			fail(err, "config file %s: unknown key \"%s\"", path,
			    keys[i]);
			goto out;
		}
		if (v[opt] == NULL)
			v[opt] = g_key_file_get_string(kf, CONFIG_GROUP_NAME,
			    keys[i], NULL);
	}
	ok = TRUE;
out:
	g_strfreev(groups);
	g_strfreev(keys);
	g_clear_error(&e);
	g_key_file_free(kf);
	return ok;
}

gboolean
config_load(struct config *c, int *argc, char ***argv, GError **err)
{
	char		*v[N_OPTIONS] = { NULL };
	gboolean	 flags[N_OPTIONS] = { FALSE };
	char		*config_file = NULL;
	gboolean	 version = FALSE, ok = FALSE, parsed;
	GOptionEntry	 entries[N_OPTIONS + 3];
	GOptionContext	*ctx;
	GOptionGroup	*group;
	int		 i;

	memset(c, 0, sizeof(*c));
	memset(entries, 0, sizeof(entries));
	for (i = 0; i < N_OPTIONS; i++) {
		entries[i].long_name = option_defs[i].name;
		entries[i].arg = option_defs[i].arg ? G_OPTION_ARG_STRING :
		    G_OPTION_ARG_NONE;
		entries[i].arg_data = option_defs[i].arg ? (gpointer)&v[i] :
		    (gpointer)&flags[i];
		if (option_defs[i].bare != NULL) {
			entries[i].arg = G_OPTION_ARG_CALLBACK;
			entries[i].flags = G_OPTION_FLAG_OPTIONAL_ARG;
			entries[i].arg_data = (gpointer)optional_value;
		}
		entries[i].description = option_defs[i].help;
		entries[i].arg_description = option_defs[i].arg;
	}
	entries[i++] = (GOptionEntry){ "config", 'c', 0, G_OPTION_ARG_FILENAME,
	    &config_file, "Read settings from FILE ([labmail] group)",
	    "FILE" };
	entries[i++] = (GOptionEntry){ "version", 'V', 0, G_OPTION_ARG_NONE,
	    &version, "Print the version and exit", NULL };

	ctx = g_option_context_new("- webmail bridge for the SMTP lab");
	g_option_context_set_summary(ctx, "Serves the lab guide, a send "
	    "form that talks SMTP to the lab's server and shows the whole\n"
	    "dialogue, and a login (PAM) to read one's own mail spool.  "
	    "Every option but\n--config, --help and --version is also a key "
	    "of the config file.");
	/* A main group of our own, so that callbacks get the values. */
	group = g_option_group_new(NULL, NULL, NULL, v, NULL);
	g_option_group_add_entries(group, entries);
	g_option_context_set_main_group(ctx, group);
	/* --help in the terminal's charset ("[OPTION…]", not "[OPTION?]"),
	 * and only there: the rest of labmail runs in the C locale. */
	setlocale(LC_CTYPE, "");
	parsed = g_option_context_parse(ctx, argc, argv, err);
	setlocale(LC_CTYPE, "C");
	if (!parsed)
		goto out;
	if (version) {
		printf("labmail %s\n", LABMAIL_VERSION);
		exit(0);
	}
	for (i = 0; i < N_OPTIONS; i++)
		if (flags[i])
			v[i] = g_strdup("true");
	if (*argc > 1) {
		fail(err, "unexpected argument \"%s\" (see --help)",
		    (*argv)[1]);
		goto out;
	}
	if (config_file != NULL && !read_file(config_file, v, err))
		goto out;
	for (i = 0; i < N_OPTIONS; i++)
		if (v[i] != NULL)
			c->given |= G_GUINT64_CONSTANT(1) << i;
	ok = convert(c, v, err);
out:
	for (i = 0; i < N_OPTIONS; i++)
		g_free(v[i]);
	g_free(config_file);
	g_option_context_free(ctx);
	if (!ok)
		config_free(c);
	return ok;
}

void
config_free(struct config *c)
{
	char	**strings[] = { &c->listen_host, &c->listen_port,
	    &c->data_dir, &c->smtp_host, &c->smtp_port, &c->helo, &c->domain,
	    &c->smtp_alias, &c->smtp_hostname, &c->smtp_addr,
	    &c->client_addr, &c->dhcp_addr, &c->dns_addr, &c->user,
	    &c->state_dir, &c->spool_dir, &c->fastcgi, &c->fastcgi_host,
	    &c->fastcgi_port, &c->socket_owner,
	    &c->tls_cert, &c->tls_key, &c->smtp_ca };
	gsize	  i;

	for (i = 0; i < G_N_ELEMENTS(strings); i++)
		g_clear_pointer(strings[i], g_free);
	c->given = 0;
}

/* "host:port", with an IPv6 host in brackets as --listen takes it. */
static char *
host_port(const char *host, const char *port)
{
	return strchr(host, ':') != NULL ?
	    g_strdup_printf("[%s]:%s", host, port) :
	    g_strdup_printf("%s:%s", host, port);
}

/*
 * The value of opt as the file would hold it, before escaping; NULL
 * when the option has none, and then *unset says what labmail does
 * without it.
 */
static char *
print_value(const struct config *c, int opt, const char **unset)
{
	*unset = NULL;
	switch (opt) {
	case OPT_LISTEN:
		return host_port(c->listen_host, c->listen_port);
	case OPT_DATA_DIR:
		*unset = "web/ and static/ beside build/ in a checkout, "
		    "else in " LABMAIL_DATADIR;
		return g_strdup(c->data_dir);
	case OPT_SMTP:
		return host_port(c->smtp_host, c->smtp_port);
	case OPT_HELO:
		*unset = "EHLO with the address literal of our end of "
		    "the connection";
		return g_strdup(c->helo);
	case OPT_SMTP_CONNECT_TIMEOUT:
		return g_strdup_printf("%u", c->smtp_connect_timeout);
	case OPT_SMTP_TIMEOUT:
		return g_strdup_printf("%u", c->smtp_timeout);
	case OPT_SMTP_DATA_TIMEOUT:
		return g_strdup_printf("%u", c->smtp_data_timeout);
	case OPT_MAX_BODY:
		return g_strdup_printf("%" G_GSIZE_FORMAT, c->max_body);
	case OPT_GROUP:
		return g_strdup_printf("%d", c->group);
	case OPT_DOMAIN:
		return g_strdup(c->domain);
	case OPT_SMTP_ALIAS:
		return g_strdup(c->smtp_alias);
	case OPT_SMTP_NAME:
		return g_strdup(c->smtp_hostname);
	case OPT_SMTP_ADDR:
		return g_strdup(c->smtp_addr);
	case OPT_CLIENT_ADDR:
		return g_strdup(c->client_addr);
	case OPT_DHCP_ADDR:
		return g_strdup(c->dhcp_addr);
	case OPT_DNS_ADDR:
		return g_strdup(c->dns_addr);
	case OPT_USER:
		return g_strdup(c->user);
	case OPT_STATE_DIR:
		return g_strdup(c->state_dir);
	case OPT_SPOOL_DIR:
		return g_strdup(c->spool_dir);
	case OPT_ALLOW_ROOT:
		return g_strdup(c->allow_root ? "true" : "false");
	case OPT_SEND_REQUIRES_LOGIN:
		return g_strdup(c->send_requires_login ? "true" : "false");
	case OPT_FASTCGI:
		*unset = "serve HTTP on listen";
		return g_strdup(c->fastcgi);
	case OPT_SOCKET_MODE:
		return g_strdup_printf("%04o", c->socket_mode);
	case OPT_SOCKET_OWNER:
		*unset = "the socket keeps its owner";
		return g_strdup(c->socket_owner);
	case OPT_TLS_CERT:
	case OPT_TLS_KEY:
		*unset = "plain HTTP";
		return g_strdup(opt == OPT_TLS_CERT ? c->tls_cert :
		    c->tls_key);
	case OPT_SMTP_TLS:
		return g_strdup(smtp_tls_words[c->smtp_tls]);
	case OPT_SMTP_CA:
		*unset = "the system's certificate authorities";
		return g_strdup(c->smtp_ca);
	case OPT_SMTP_INSECURE:
		return g_strdup(c->smtp_insecure ? "true" : "false");
	case OPT_SYSLOG:
		return g_strdup(c->syslog ? "true" : "false");
	case OPT_LOG_LEVEL:
		return g_strdup(log_level_words[c->log_level]);
	case OPT_CHECK_CONFIG:
		return g_strdup(c->check_config ? "true" : "false");
	}
	g_assert_not_reached();
}

/* Where a value that was not given comes from. */
static char *
print_origin(const struct config *c, int opt)
{
	switch (opt) {
	case OPT_DOMAIN:
	case OPT_SMTP_ADDR:
	case OPT_CLIENT_ADDR:
	case OPT_DHCP_ADDR:
		return g_strdup_printf("derived from group %d", c->group);
	case OPT_SMTP_ALIAS:
	case OPT_SMTP_NAME:
		return g_strdup_printf("derived from group %d%s", c->group,
		    GIVEN(c, OPT_DOMAIN) ? " and domain" : "");
	case OPT_SMTP:
		/* The send form talks to smtp-addr, port 25. */
		return GIVEN(c, OPT_SMTP_ADDR) ?
		    g_strdup("derived from smtp-addr") :
		    g_strdup_printf("derived from group %d", c->group);
	default:
		return g_strdup("default");
	}
}

/* value as a key file holds it: GLib's escapes (\s, \n, \\ ...). */
static char *
print_escaped(const char *value)
{
	GKeyFile	*kf = g_key_file_new();
	char		*escaped;

	g_key_file_set_string(kf, CONFIG_GROUP_NAME, "k", value);
	escaped = g_key_file_get_value(kf, CONFIG_GROUP_NAME, "k", NULL);
	g_key_file_free(kf);
	return escaped;
}

void
config_print(const struct config *c, FILE *out)
{
	GString		*s = g_string_new(NULL);
	const char	*name, *unset;
	char		*value, *origin, *escaped;
	int		 opt;

	g_string_append_printf(s, "# labmail %s: the settings in force.\n"
	    "# Values without a comment above them were given on the "
	    "command line\n# or in the config file.\n[%s]\n",
	    LABMAIL_VERSION, CONFIG_GROUP_NAME);
	for (opt = 0; opt < N_OPTIONS; opt++) {
		name = option_defs[opt].name;
		value = print_value(c, opt, &unset);
		origin = GIVEN(c, opt) ? NULL : print_origin(c, opt);
		if (opt == OPT_CHECK_CONFIG && c->check_config)
			/* Kept, it would stop every start: not a setting. */
			g_string_append_printf(s, "# this run only\n"
			    "#%s = true\n", name);
		else if (value == NULL)
			g_string_append_printf(s, "# %s (unset): %s\n#%s =\n",
			    origin ? origin : "given", unset, name);
		else {
			escaped = print_escaped(value);
			if (origin != NULL)
				g_string_append_printf(s, "# %s\n", origin);
			g_string_append_printf(s, "%s = %s\n", name, escaped);
			g_free(escaped);
		}
		g_free(value);
		g_free(origin);
	}
	fputs(s->str, out);
	g_string_free(s, TRUE);
}
