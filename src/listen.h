/*
 * listen - the listening socket, made while still root so that a port
 * below 1024 works, before the privileges are dropped.
 */
#ifndef LABMAIL_LISTEN_H
#define LABMAIL_LISTEN_H

#include <glib.h>

/* A TCP socket bound to host:port and listening; -1 with *err set. */
int	listen_tcp(const char *host, const char *port, GError **err);

/*
 * A Unix socket at path with the given mode and, if owner is not NULL,
 * owner "user[:group]".  Any socket already at path is replaced, even
 * one that another process still listens on; any other kind of file is
 * not.  -1 with *err set.
 */
int	listen_unix(const char *path, guint mode, const char *owner,
	    GError **err);

#endif
