/*
 * listen - bind and listen on a numeric address and port.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"

#define LISTEN_BACKLOG	1024

int
listen_tcp(const char *host, const char *port, GError **err)
{
	struct addrinfo	 hints, *ai = NULL;
	int		 fd = -1, on = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "listen %s:%s: %s", host, port, gai_strerror(rc));
		return -1;
	}
	if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
	    0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "cannot listen on %s:%s: %s", host, port,
		    g_strerror(errno));
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* Look up "user[:group]"; FALSE if either is unknown. */
static gboolean
owner_ids(const char *owner, uid_t *uid, gid_t *gid)
{
	char		**f = g_strsplit(owner, ":", 2);
	struct passwd	 *pw = getpwnam(f[0]);
	struct group	 *gr = f[1] != NULL ? getgrnam(f[1]) : NULL;
	gboolean	  ok = pw != NULL && (f[1] == NULL || gr != NULL);

	if (ok) {
		*uid = pw->pw_uid;
		*gid = gr != NULL ? gr->gr_gid : pw->pw_gid;
	}
	g_strfreev(f);
	return ok;
}

/* sun for path; FALSE with *err set if path is too long for one. */
static gboolean
socket_address(struct sockaddr_un *sun, const char *path, GError **err)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (g_strlcpy(sun->sun_path, path, sizeof(sun->sun_path)) <
	    sizeof(sun->sun_path))
		return TRUE;
	g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG,
	    "%s: path too long for a socket", path);
	return FALSE;
}

/* A new folder beside path that only we can enter (0700), or NULL. */
static char *
private_dir(const char *path, GError **err)
{
	char	*parent = g_path_get_dirname(path);
	char	*dir = g_build_filename(parent, ".labmail-XXXXXX", NULL);

	g_free(parent);
	if (g_mkdtemp_full(dir, 0700) != NULL)
		return dir;
	g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
	    "cannot listen on %s: cannot make %s: %s", path, dir,
	    g_strerror(errno));
	g_free(dir);
	return NULL;
}

/*
 * The socket is made in a folder of its own that only we can enter,
 * given its mode and owner there, then renamed into place: no one can
 * swap in a link for chmod(2) or chown(2) to follow, and the socket
 * shows up at path whole.  A file that shows up at path meanwhile
 * stays (RENAME_NOREPLACE).
 */
int
listen_unix(const char *path, guint mode, const char *owner, GError **err)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	uid_t			 uid = (uid_t)-1;	/* -1: unchanged */
	gid_t			 gid = (gid_t)-1;
	char			*dir, *made;
	int			 fd = -1;
	gboolean		 ok;

	/* Clients connect by path: it must fit an address too. */
	if (!socket_address(&sun, path, err))
		return -1;
	if (owner != NULL && !owner_ids(owner, &uid, &gid)) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "socket-owner %s: no such user or group", owner);
		return -1;
	}
	if ((dir = private_dir(path, err)) == NULL)
		return -1;
	made = g_build_filename(dir, "s", NULL);
	ok = socket_address(&sun, made, err);
	if (ok) {
		/* A socket left by a previous run goes; any other file
		 * stays. */
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ok = fd != -1 &&
		    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
		    chmod(made, mode) == 0 && chown(made, uid, gid) == 0 &&
		    renameat2(AT_FDCWD, made, AT_FDCWD, path,
		    RENAME_NOREPLACE) == 0 &&
		    listen(fd, LISTEN_BACKLOG) == 0;
		if (!ok)
			g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
			    "cannot listen on %s: %s", path, g_strerror(errno));
	}
	unlink(made);		/* still there if the rename did not happen */
	rmdir(dir);
	g_free(made);
	g_free(dir);
	if (!ok && fd != -1)
		close(fd);
	return ok ? fd : -1;
}
