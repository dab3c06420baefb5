/*
 * listen - bind and listen on a numeric address and port.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <netdb.h>
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

/*
 * Bind fd to sun, the socket file made with mode at once (through the
 * umask: start-up is single-threaded).  Not chmod(2) after bind(2): in
 * between, whoever can write to the folder could put a symbolic link
 * there, which chmod, run as root, would follow.  For the same reason
 * the owner is set with lchown(2).
 */
static gboolean
bind_with_mode(int fd, const struct sockaddr_un *sun, guint mode)
{
	mode_t	old = umask(~mode & 0777);
	int	ret = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));
	int	saved = errno;

	umask(old);
	errno = saved;
	return ret == 0;
}

int
listen_unix(const char *path, guint mode, const char *owner, GError **err)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	uid_t			 uid;
	gid_t			 gid;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG,
		    "%s: path too long for a socket", path);
		return -1;
	}
	if (owner != NULL && !owner_ids(owner, &uid, &gid)) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "socket-owner %s: no such user or group", owner);
		return -1;
	}
	/* A socket left by a previous run goes; any other file stays. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    !bind_with_mode(fd, &sun, mode) ||
	    (owner != NULL && lchown(path, uid, gid) == -1) ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "cannot listen on %s: %s", path, g_strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}
