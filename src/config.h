/*
 * config - labmail's settings, from the command line and a config file.
 *
 * Every option is also a key of the config file (GLib key-file format),
 * same name without the dashes, in a [labmail] group; the command line
 * wins over the file.  The lab's values (domain, addresses) default to
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

#include <glib.h>

#define CONFIG_EXIT_USAGE	2
#define CONFIG_GROUP_NAME	"labmail"

struct config {
	/* Where labmail serves. */
	char	*listen_host;
	char	*listen_port;
	char	*data_dir;	/* holds web/ and static/; NULL: find it */

	/* The lab server that the send form talks to. */
	char	*smtp_host;
	char	*smtp_port;
	char	*helo;		/* EHLO argument; NULL: our address literal */
	guint	 smtp_connect_timeout;	/* seconds */
	guint	 smtp_timeout;		/* seconds, each command's reply */
	guint	 smtp_data_timeout;	/* seconds, reply to the final "." */
	gsize	 max_body;		/* octets of the body of a mail */

	/* Logins and spools. */
	char	*user;		/* the web process's user, if root */
	char	*state_dir;	/* the session key */
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
};

/*
 * Parse argv (removing what it used) and the --config file.  Returns
 * FALSE with *err set on bad input.  --help and --version print and
 * exit(0) from inside, as GLib's option parser does.
 */
gboolean	 config_load(struct config *, int *argc, char ***argv,
		    GError **err);
void		 config_free(struct config *);

#endif
