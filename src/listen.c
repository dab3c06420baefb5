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

/* TRUE if path fits a socket address; else FALSE with *err set. */
static gboolean
path_fits(const char *path, GError **err)
{
	struct sockaddr_un	sun;

	if (strlen(path) < sizeof(sun.sun_path))
		return TRUE;
	g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG,
	    "%s: path too long for a socket", path);
	return FALSE;
}

/*
 * A new folder in the folder pfd, that only we can enter: its name in
 * *name, an open descriptor returned (-1 on failure, errno set).  It
 * is checked and set to 0700 through the descriptor (a setgid parent
 * or a umask may have given it other bits), so that a folder swapped
 * in under the same name (pfd may be writable by others) is not taken
 * for it.
 */
static int
private_dir(int pfd, char **name)
{
	struct stat	st;
	int		dfd, tries;

	for (tries = 0; tries < 16; tries++) {
		*name = g_strdup_printf(".labmail-%08x", g_random_int());
		if (mkdirat(pfd, *name, 0700) == 0)
			break;
		g_clear_pointer(name, g_free);
		if (errno != EEXIST)
			return -1;
	}
	if (*name == NULL)
		return -1;
	dfd = openat(pfd, *name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (dfd == -1)
		return -1;
	if (fstat(dfd, &st) == -1 || st.st_uid != geteuid() ||
	    fchmod(dfd, 0700) == -1) {
		close(dfd);
		errno = EPERM;
		return -1;
	}
	return dfd;
}

/*
 * Move the socket "s" of folder dfd to base in folder pfd, replacing a
 * socket there (stale or live), never another file.  RENAME_NOREPLACE
 * keeps a file that shows up
 * there meanwhile; where a file system lacks it, link(2) does the
 * same, as it never replaces.
 */
static gboolean
place_socket(int dfd, int pfd, const char *base)
{
	struct stat	st;

	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISSOCK(st.st_mode))
		unlinkat(pfd, base, 0);		/* left by a previous run */
	if (renameat2(dfd, "s", pfd, base, RENAME_NOREPLACE) == 0)
		return TRUE;
	if (errno != EINVAL && errno != ENOSYS)
		return FALSE;
	return linkat(dfd, "s", pfd, base, 0) == 0;
}

/*
 * Bind fd in folder dfd, as "s": bind(2) takes a path, so the folder
 * is named through /proc/self/fd (hence /proc is needed), whatever the
 * name it has in its parent by now.
 */
static gboolean
bind_in(int fd, int dfd)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };

	g_snprintf(sun.sun_path, sizeof(sun.sun_path), "/proc/self/fd/%d/s",
	    dfd);
	return bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
}

/*
 * The socket is made in a folder of its own that only we can enter,
 * reached by descriptor, never by path: bound and listening there,
 * given its mode and owner, then moved into place.  Whoever can write
 * to path's folder can rename or swap names there, but no link they
 * put in can redirect the chmod or the chown, and the socket shows up
 * at path whole, already listening.
 */
int
listen_unix(const char *path, guint mode, const char *owner, GError **err)
{
	uid_t			 uid = (uid_t)-1;	/* -1: unchanged */
	gid_t			 gid = (gid_t)-1;
	char			*parent = g_path_get_dirname(path);
	char			*base = g_path_get_basename(path);
	char			*name = NULL;
	int			 pfd = -1, dfd = -1, fd = -1;
	gboolean		 ok = FALSE, bound = FALSE;

	/* Clients connect by path: it must fit an address. */
	if (!path_fits(path, err))
		goto out;
	if (g_str_has_suffix(path, "/") || strcmp(base, ".") == 0 ||
	    strcmp(base, "..") == 0) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_ISDIR,
		    "%s: a socket path names a file, not a folder", path);
		goto out;
	}
	if (owner != NULL && !owner_ids(owner, &uid, &gid)) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "socket-owner %s: no such user or group", owner);
		goto out;
	}
	ok = (pfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC)) != -1 &&
	    (dfd = private_dir(pfd, &name)) != -1 &&
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) != -1 &&
	    (bound = bind_in(fd, dfd)) &&
	    listen(fd, LISTEN_BACKLOG) == 0 &&
	    fchmodat(dfd, "s", mode, 0) == 0 &&
	    fchownat(dfd, "s", uid, gid, AT_SYMLINK_NOFOLLOW) == 0 &&
	    place_socket(dfd, pfd, base);
	if (!ok)
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "cannot listen on %s: %s", path, g_strerror(errno));
out:
	if (dfd != -1) {
		if (bound)		/* there unless it was moved */
			unlinkat(dfd, "s", 0);
		close(dfd);
	}
	if (name != NULL)
		unlinkat(pfd, name, AT_REMOVEDIR);
	if (pfd != -1)
		close(pfd);
	if (!ok && fd != -1)
		close(fd);
	g_free(name);
	g_free(parent);
	g_free(base);
	return ok ? fd : -1;
}
