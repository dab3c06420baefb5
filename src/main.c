/*
 * main - read the configuration, load the pages, serve until a signal.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "app.h"
#include "compose.h"
#include "config.h"
#include "front_mhd.h"
#include "log.h"

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

int
main(int argc, char **argv)
{
	struct config		 cfg;
	struct app		*app;
	struct front_mhd	*front;
	GError			*err = NULL;
	char			*data_dir;
	sigset_t		 set;
	int			 sig;

	if (!config_load(&cfg, &argc, &argv, &err)) {
		fprintf(stderr, "labmail: %s\n", err->message);
		g_error_free(err);
		return CONFIG_EXIT_USAGE;
	}
	compose_init();
	data_dir = find_data_dir(&cfg);
	if ((app = app_new(&cfg, data_dir, &err)) == NULL)
		log_fatal("%s", err->message);
	block_signals(&set);
	if ((front = front_mhd_start(app, cfg.listen_host, cfg.listen_port,
	    &err)) == NULL)
		log_fatal("%s", err->message);
	log_info("serving http://%s%s%s:%s/ (group %d, SMTP server %s "
	    "port %s, pages from %s)", strchr(cfg.listen_host, ':') ? "[" : "",
	    cfg.listen_host, strchr(cfg.listen_host, ':') ? "]" : "",
	    cfg.listen_port, cfg.group, cfg.smtp_host, cfg.smtp_port, data_dir);
	sigwait(&set, &sig);
	log_info("signal %d: shutting down", sig);
	front_mhd_stop(front);
	app_free(app);
	g_free(data_dir);
	config_free(&cfg);
	return 0;
}
