/*
 * config - labmail's settings, from the command line and a config file.
 *
 * Every option but config, help and version is also a key of the config
 * file (GLib key-file format), same name without the dashes, in a
 * [labmail] group; the command line wins over the file (but a flag set
 * true in the file cannot be turned off there).  The lab's values (domain, addresses) default to
 * what the group number X gives: mailX.com, 192.168.0.(X-100),
 * 172.20.X.1, ...; each can be set on its own, and must be when the
 * group gives no valid address.
 *
 * config_load() returns FALSE with a one-line message in *err for any
 * bad value; the caller prints it and exits with CONFIG_EXIT_USAGE.
 * The struct owns all its strings; free it with config_free().
 */
#ifndef LABMAIL_CONFIG_H
#define LABMAIL_CONFIG_H

#include <stdio.h>

#include <glib.h>

#define CONFIG_EXIT_USAGE	2

enum config_smtp_tls {
	CONFIG_SMTP_TLS_AUTO,		/* STARTTLS when offered */
	CONFIG_SMTP_TLS_REQUIRED,	/* refuse to send without it */
	CONFIG_SMTP_TLS_OFF,
};

enum config_log_level {
	CONFIG_LOG_ERROR,
	CONFIG_LOG_WARNING,
	CONFIG_LOG_INFO,
	CONFIG_LOG_DEBUG,
};
#define CONFIG_GROUP_NAME	"labmail"

struct config {
	/* Where labmail serves. */
	char	*listen_host;
	char	*listen_port;
	char	*data_dir;	/* holds web/ and static/; NULL: find it */

	/* The lab server that the send form talks to. */
	char	*smtp_host;
	char	*smtp_port;
	char	*helo;		/* EHLO argument: a DNS name or an address
				 * literal; NULL: our own address literal */
	guint	 smtp_connect_timeout;	/* seconds */
	guint	 smtp_timeout;		/* seconds, each command's reply */
	guint	 smtp_data_timeout;	/* seconds, to write the message,
					 * then for the reply to its "." */
	gsize	 max_body;		/* octets of the body of a mail */

	/* Front end: FastCGI instead of HTTP, HTTPS. */
	char	*fastcgi;	/* NULL: HTTP; "stdin", "/path", "addr:port" */
	char	*fastcgi_host;	/* with "addr:port": addr (no brackets) */
	char	*fastcgi_port;	/* and port; NULL otherwise */
	guint	 socket_mode;	/* of a FastCGI Unix socket */
	char	*socket_owner;	/* "user[:group]" or NULL */
	char	*tls_cert;	/* PEM files for HTTPS, or NULL */
	char	*tls_key;

	/* TLS to the SMTP server. */
	enum config_smtp_tls smtp_tls;
	char	*smtp_ca;	/* CA file, NULL: the system's */
	gboolean smtp_insecure;	/* no certificate check */

	/* Logs. */
	gboolean syslog;
	enum config_log_level log_level;
	gboolean check_config;	/* print the values and exit */

	/* Logins and spools. */
	char	*user;		/* the web process's user, if root */
	char	*state_dir;	/* the session key, revoked sessions,
				 * failed logins */
	char	*spool_dir;	/* /var/mail */
	gboolean allow_root;
	gboolean send_requires_login;

	/* The lab's values, shown in the guide. */
	int	 group;
	char	*domain;	/* mailX.com */
	char	*smtp_alias;	/* smtpX.mailX.com */
	char	*smtp_hostname;	/* machineX.mailX.com */
	char	*smtp_addr;	/* 192.168.0.(X-100) */
	char	*client_addr;	/* 172.20.X.1 */
	char	*dhcp_addr;	/* 172.20.X.2 */
	char	*dns_addr;	/* 192.168.0.254 */

	/*
	 * Which options were given, on the command line or in the file:
	 * bit i for row i of the option table in config.c.  The others
	 * were derived from the group or took their default; config_print()
	 * says which.
	 */
	guint64	 given;
};

/*
 * Parse argv (removing what it used) and the --config file.  Returns
 * FALSE with *err set on bad input.  --help and --version print and
 * exit(0) from inside, as GLib's option parser does.
 */
gboolean	 config_load(struct config *, int *argc, char ***argv,
		    GError **err);
void		 config_free(struct config *);

/*
 * Print every setting in force as a config file would hold it
 * (--check-config): a [labmail] group with one "key = value" line per
 * option, in the order of --help.  A value that was not given has a
 * comment line above it, "# derived from group X" (or from the value
 * it follows) or "# default"; an option with no value (helo, tls-cert,
 * ...) is printed commented out, "#key =", after a comment saying what
 * labmail does instead.  Values are escaped as GLib writes key files,
 * so that the output, saved as a file, loads to the same settings.
 * No option holds a secret (tls-key is a path), so all are printed.
 */
void		 config_print(const struct config *, FILE *out);

#endif
