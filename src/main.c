/*
 * main - read the configuration, load the pages, serve until a signal.
 */
#include <sys/resource.h>

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <pthread.h>


#include "app.h"
#include "compose.h"
#include "config.h"
#include "front_fcgi.h"
#include "front_mhd.h"
#include "listen.h"
#include "log.h"
#include "priv.h"

/*
 * The folder with web/ and static/: --data-dir, else the checkout that
 * holds the running binary (build/labmail), else the installed share
 * directory.
 */
static char *
find_data_dir(const struct config *cfg)
{
	char	*exe, *bin_dir, *top, *probe;

	if (cfg->data_dir != NULL)
		return g_strdup(cfg->data_dir);
	exe = g_file_read_link("/proc/self/exe", NULL);
	if (exe != NULL) {
		bin_dir = g_path_get_dirname(exe);
		top = g_path_get_dirname(bin_dir);
		probe = g_build_filename(top, "web", "guide", NULL);
		g_free(exe);
		g_free(bin_dir);
		if (g_file_test(probe, G_FILE_TEST_IS_DIR)) {
			g_free(probe);
			return top;
		}
		g_free(probe);
		g_free(top);
	}
	return g_strdup(LABMAIL_DATADIR);
}

/* Block the signals we wait for, in this thread and every later one. */
static void
block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	/* A peer that hangs up must give an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);
}

/* Say who can log in, so that nobody wonders why others cannot. */
static void
log_start(const struct config *cfg, const char *data_dir, gboolean root)
{
	const char	*br = strchr(cfg->listen_host, ':') ? "[" : "";
	const char	*ket = *br ? "]" : "";

	if (cfg->fastcgi != NULL)
		log_info("serving FastCGI on %s (group %d, SMTP server %s "
		    "port %s, pages from %s)", cfg->fastcgi, cfg->group,
		    cfg->smtp_host, cfg->smtp_port, data_dir);
	else
		log_info("serving %s://%s%s%s:%s/ (group %d, SMTP server %s "
		    "port %s, pages from %s)", cfg->tls_cert ? "https" : "http",
		    br, cfg->listen_host, ket, cfg->listen_port, cfg->group,
		    cfg->smtp_host, cfg->smtp_port, data_dir);
	if (!root)
		log_info("not started as root: only %s can log in and read "
		    "mail", g_get_user_name());
	else
		log_info("web process runs as %s; logins and spools go "
		    "through the privileged helper", cfg->user);
}

/*
 * The configuration of a CGI run.  A web server passes no arguments; the
 * file is $LABMAIL_CONFIG, which must exist, or else the system one, if
 * there is one.  Installed setuid root (to read spools), the caller may
 * be any local user: then neither the arguments nor the environment may
 * choose the configuration.
 */
static gboolean
cgi_config(struct config *cfg, GError **err)
{
	const char	*file = getenv("LABMAIL_CONFIG");
	char		*argv0 = g_strdup("labmail");
	char		*opt = g_strdup("--config"), *path;
	char		*args[4] = { argv0, NULL, NULL, NULL };
	char		**argv = args;
	int		 argc = 1;
	gboolean	 ok;

	if (getuid() != geteuid() || (file != NULL && *file == '\0'))
		file = NULL;
	path = g_strdup(file != NULL ? file : LABMAIL_CGI_CONFIG);
	/* A file named on purpose and missing is an error, as --config's;
	 * without one, the defaults do. */
	if (file != NULL || g_file_test(path, G_FILE_TEST_EXISTS)) {
		args[1] = opt;
		args[2] = path;
		argc = 3;
	}
	/* The parse takes the options out of args: free our own copies. */
	ok = config_load(cfg, &argc, &argv, err);
	g_free(opt);
	g_free(path);
	g_free(argv0);
	return ok;
}

/* The most the soft limit is raised to, whatever the hard one. */
#define FD_LIMIT_CEILING	65536

/*
 * Raise the soft limit on descriptors to the hard one, as systemd.exec(5)
 * asks of programs that do not use select(2) (labmail does not;
 * libmicrohttpd waits with epoll(7), libfcgi closes with poll(2)): a
 * FastCGI connection takes two descriptors and a send one more, and the
 * usual soft limit, 1024, would run out before FRONT_FCGI_CONNS_MAX or
 * libmicrohttpd's connection limit.
 */
static void
raise_fd_limit(void)
{
	struct rlimit	rl;
	rlim_t		want;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	want = MIN(rl.rlim_max, FD_LIMIT_CEILING);
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("cannot raise the limit on open files: %s",
		    g_strerror(errno));
}

/* The listening socket for --fastcgi, or for HTTP. */
static int
open_listener(const struct config *cfg, GError **err)
{
	if (cfg->fastcgi == NULL)
		return listen_tcp(cfg->listen_host, cfg->listen_port, err);
	if (strcmp(cfg->fastcgi, "stdin") == 0)
		return STDIN_FILENO;	/* FastCGI passes the listener as fd 0 */
	if (cfg->fastcgi[0] == '/')
		return listen_unix(cfg->fastcgi, cfg->socket_mode,
		    cfg->socket_owner, err);
	return listen_tcp(cfg->fastcgi_host, cfg->fastcgi_port, err);
}

/* The HTTPS certificate and key, as PEM text. */
struct tls_files {
	char	*cert;
	char	*key;
};

/* Read --tls-cert and --tls-key while still root: a key is 0600. */
static void
read_tls_files(const struct config *cfg, struct tls_files *tls)
{
	GError	*err = NULL;

	tls->cert = tls->key = NULL;
	if (cfg->tls_cert == NULL)
		return;
	if (!g_file_get_contents(cfg->tls_cert, &tls->cert, NULL, &err) ||
	    !g_file_get_contents(cfg->tls_key, &tls->key, NULL, &err))
		log_fatal("%s", err->message);
}

/* Serve HTTP or FastCGI until SIGINT or SIGTERM (blocked: in set). */
static void
serve(const struct config *cfg, const struct app *app, int listen_fd,
    const struct tls_files *tls, const char *data_dir,
    gboolean started_as_root, const sigset_t *set)
{
	struct front_mhd	*mhd = NULL;
	struct front_fcgi	*fcgi = NULL;
	GError			*err = NULL;
	int			 sig;

	raise_fd_limit();
	if (cfg->fastcgi != NULL)
		fcgi = front_fcgi_start(app, listen_fd, &err);
	else
		mhd = front_mhd_start(app, listen_fd, tls->cert, tls->key,
		    &err);
	if (fcgi == NULL && mhd == NULL)
		log_fatal("%s", err->message);
	log_start(cfg, data_dir, started_as_root);
	sigwait(set, &sig);
	log_info("signal %d: shutting down", sig);
	if (fcgi != NULL)
		front_fcgi_stop(fcgi);
	else
		front_mhd_stop(mhd);
}

int
main(int argc, char **argv)
{
	struct config		 cfg;
	struct app		*app;
	struct priv		*priv;
	struct priv_config	 pcfg;
	GError			*err = NULL;
	char			*data_dir;
	struct tls_files	 tls;
	gboolean		 cgi = getenv("GATEWAY_INTERFACE") != NULL;
	gboolean		 root = geteuid() == 0;
	int			 listen_fd = -1;
	sigset_t		 signals;

	/*
	 * Set-uid (the CGI install), any local user may start us: outside
	 * CGI, arguments would be acted on as root (--config /etc/shadow).
	 */
	if (getuid() != geteuid() && !cgi) {
		fprintf(stderr, "labmail: set-uid, it runs only as a CGI "
		    "program\n");
		return CONFIG_EXIT_USAGE;
	}
	/*
	 * From the start, before any thread or child exists: a SIGTERM
	 * while starting (systemctl stop right after start) then waits for
	 * serve() and a clean stop.  A CGI run keeps the defaults: the web
	 * server may end it with SIGTERM.
	 */
	if (!cgi)
		block_signals(&signals);
	if (!(cgi ? cgi_config(&cfg, &err) :
	    config_load(&cfg, &argc, &argv, &err))) {
		fprintf(stderr, "labmail: %s\n", err->message);
		g_error_free(err);
		return CONFIG_EXIT_USAGE;
	}
	/*
	 * Set-uid root CGI (as SqWebMail): become root for real, so that
	 * the helper forked below serves every user (it takes a non-root
	 * real uid for "started as an ordinary user") and the web server's
	 * user cannot signal it.
	 */
	if (cgi && geteuid() == 0 && getuid() != 0 &&
	    (setgroups(0, NULL) == -1 || setresgid(0, 0, 0) == -1 ||
	    setresuid(0, 0, 0) == -1)) {
		fprintf(stderr, "labmail: cannot become root: %s\n",
		    g_strerror(errno));
		return 1;
	}
	if (cfg.check_config) {
		config_print(&cfg, stdout);
		config_free(&cfg);
		return 0;
	}
	log_setup(cfg.syslog, cfg.log_level);
	data_dir = find_data_dir(&cfg);
	if (!cgi && (listen_fd = open_listener(&cfg, &err)) == -1)
		log_fatal("%s", err->message);
	read_tls_files(&cfg, &tls);
	/* The helper is forked first, before any thread or page exists. */
	pcfg = (struct priv_config){ cfg.state_dir, cfg.spool_dir,
	    cfg.allow_root };
	if ((priv = priv_start(&pcfg, &err)) == NULL)
		log_fatal("%s", err->message);
	/*
	 * Our own pages are read before the drop, so that a checkout in a
	 * folder closed to the unprivileged user still works; nothing from
	 * the network is read before it.
	 */
	compose_init();
	if ((app = app_new(&cfg, priv, data_dir, &err)) == NULL)
		log_fatal("%s", err->message);
	if (!priv_drop(cfg.user, &err))
		log_fatal("%s", err->message);
	if (cgi)
		front_cgi_run(app);
	else
		serve(&cfg, app, listen_fd, &tls, data_dir, root, &signals);
	if (tls.key != NULL)
		explicit_bzero(tls.key, strlen(tls.key));
	g_free(tls.cert);
	g_free(tls.key);
	app_free(app);
	priv_stop(priv);
	g_free(data_dir);
	config_free(&cfg);
	return 0;
}
