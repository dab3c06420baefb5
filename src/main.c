/*
 * main - read the configuration, load the pages, serve until a signal.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <pthread.h>

#include "app.h"
#include "compose.h"
#include "config.h"
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
log_start(const struct config *cfg, const char *data_dir)
{
	const char	*br = strchr(cfg->listen_host, ':') ? "[" : "";
	const char	*ket = *br ? "]" : "";

	log_info("serving http://%s%s%s:%s/ (group %d, SMTP server %s port "
	    "%s, pages from %s)", br, cfg->listen_host, ket, cfg->listen_port,
	    cfg->group, cfg->smtp_host, cfg->smtp_port, data_dir);
	if (getuid() != 0)
		log_info("not started as root: only %s can log in and read "
		    "mail", g_get_user_name());
	else
		log_info("web process runs as %s; logins and spools go "
		    "through the privileged helper", cfg->user);
}

int
main(int argc, char **argv)
{
	struct config		 cfg;
	struct app		*app;
	struct priv		*priv;
	struct priv_config	 pcfg;
	struct front_mhd	*front;
	GError			*err = NULL;
	char			*data_dir;
	sigset_t		 set;
	int			 sig, listen_fd;

	if (!config_load(&cfg, &argc, &argv, &err)) {
		fprintf(stderr, "labmail: %s\n", err->message);
		g_error_free(err);
		return CONFIG_EXIT_USAGE;
	}
	if (cfg.check_config) {
		config_print(&cfg, stdout);
		config_free(&cfg);
		return 0;
	}
	log_setup(cfg.syslog, cfg.log_level);
	data_dir = find_data_dir(&cfg);
	if ((listen_fd = listen_tcp(cfg.listen_host, cfg.listen_port,
	    &err)) == -1)
		log_fatal("%s", err->message);
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
	block_signals(&set);
	if ((front = front_mhd_start(app, listen_fd, &err)) == NULL)
		log_fatal("%s", err->message);
	log_start(&cfg, data_dir);
	sigwait(&set, &sig);
	log_info("signal %d: shutting down", sig);
	front_mhd_stop(front);
	app_free(app);
	priv_stop(priv);
	g_free(data_dir);
	config_free(&cfg);
	return 0;
}
