#!/usr/bin/python3
"""Benchmark of labmail behind nginx over FastCGI, printed as ratios.

    tests/bench/fastcgi.py [--build build]    (alone)
    tests/bench/run.py --only fastcgi         (as the fourth section of
                                               `make bench`)

One nginx, started here on free loopback ports, with these sites:

- labmail over FastCGI on TCP, with web/nginx/labmail.conf and
  labmail-upstream.conf as shipped (only the upstream's address, its
  cache folder and, so that several live in one nginx, their names
  replaced): nginx keeps its connections to labmail open
  (fastcgi_keep_conn) and keeps the guide in its cache for the minute
  labmail allows (Cache-Control: public, max-age=60);
- labmail over FastCGI on a Unix socket, the same files with the
  socket's path as the upstream's address;
- the TCP site again without the fastcgi_cache line: every request
  goes through FastCGI to labmail;
- the same HTML as a static file, at the same path /labmail/guide.

GET /labmail/guide?lang=en on each with wrk -t2 -c32, the sites taking
turns in the same run; the req/s of each FastCGI site over the static
one is the ratio (target >= 0.8).  labmail's per-request log goes to
/dev/null; nginx logs every request on every site, as in service.

For scale, a fifth site (the same files again) passes to the FastCGI
floor: a 50-line libfcgi program, compiled here, that answers every
request with the same bytes from memory and does nothing else, its
threads shaped as labmail's (four taking turns at accept, then a thread
for each kept connection; it sends no Cache-Control, so nginx never
keeps its page).  No FastCGI program built on libfcgi can beat it
behind this nginx: its ratio is the most that FastCGI itself can give
here, and "TCP, no cache" is labmail's share of it.

Everything runs on 127.0.0.1 and in a temporary folder; every process
is started here and stopped by its pid.  labmail's --smtp points at a
loopback port where nothing listens (the guide never sends).  Speeds
are printed, never asserted: the exit status is non-zero only when the
benchmark could not run.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True     # leave no __pycache__ in the checkout
import benchlib  # noqa: E402
from benchlib import (LOOPBACK, NGINX, TOP, BenchError, Proc,  # noqa: E402
                      fetch, free_port, ms, run_wrk)

FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"
EXAMPLES = os.path.join(TOP, "web", "nginx")
PATH = "/labmail/guide?lang=en"

# Target from the issue; printed next to the ratios, never enforced.
TARGET = 0.8


# ---------------------------------------------------------------- processes

def start_labmail(binary, tmp, where, tag):
    """labmail --fastcgi=WHERE; its per-request log to /dev/null."""
    state = tempfile.mkdtemp(prefix="fcgi-state-", dir=tmp)
    argv = [binary, "--fastcgi=%s" % where, "--state-dir", state,
            "--smtp", "%s:%d" % (LOOPBACK, free_port())]
    if where.startswith("/") and os.geteuid() == 0:
        # nginx's workers run as nobody here (see start_nginx).
        argv += ["--socket-mode=0660", "--socket-owner=nobody:nogroup"]
    p = Proc("labmail (FastCGI %s)" % tag, argv)
    try:
        if where.startswith("/"):
            p.wait_listening(path=where)
        else:
            p.wait_listening(port=int(where.rsplit(":", 1)[1]))
    except BenchError as e:
        # Run it again briefly with its output kept, to say why.
        raise benchlib.why_not_started(e, argv)
    return p


def example(name, dest, subs):
    """web/nginx/NAME copied into dest with its example values replaced
    (subs: (literal in the file, value here) pairs)."""
    with open(os.path.join(EXAMPLES, name)) as f:
        text = f.read()
    for old, new in subs:
        if old not in text:
            raise BenchError("web/nginx/%s no longer holds %r" % (name, old))
        text = text.replace(old, new)
    path = os.path.join(dest, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def fastcgi_site(tmp, tag, where, cache=True):
    """The two examples for one FastCGI backend at WHERE (ADDR:PORT or a
    socket path), their upstream and cache renamed for TAG so that
    several live in one nginx; cache=False drops the fastcgi_cache line
    (nginx then asks the backend every time): (http-context file,
    server-context file)."""
    dest = os.path.join(tmp, tag)
    os.makedirs(dest)
    name = "labmail_" + tag
    address = "unix:" + where if where.startswith("/") else where
    upstream = example("labmail-upstream.conf", dest, [
        ("upstream labmail {", "upstream %s {" % name),
        ("server 127.0.0.1:9000;", "server %s;" % address),
        ("/var/lib/nginx/labmail-cache", os.path.join(dest, "cache")),
        ("keys_zone=labmail_cache:", "keys_zone=%s_cache:" % name)])
    site = example("labmail.conf", dest, [
        ("fastcgi_pass labmail;", "fastcgi_pass %s;" % name),
        ("fastcgi_cache labmail_cache;",
         "fastcgi_cache %s_cache;" % name if cache else "")])
    return upstream, site


SITE = """\
    server {{                    # {what}
        listen {addr}:{port} backlog=1024;
        include {example};
    }}
"""


def start_nginx(tmp, static_port, sites):
    """nginx with a static site and one site per (what, port, upstream
    file, site file)."""
    shutil.copy(FASTCGI_PARAMS, tmp)
    blocks = "".join("    include %s;\n" % upstream
                     for _, _, upstream, _ in sites)
    blocks += "".join(SITE.format(what=what, addr=LOOPBACK, port=port,
                                  example=site)
                      for what, port, _, site in sites)
    # As root, the workers run as nobody (labmail's socket is given to
    # nobody:nogroup above).
    return benchlib.start_nginx(
        tmp, "fastcgi.py", "three sites",
        "user nobody nogroup;\n" if os.geteuid() == 0 else "",
        blocks + benchlib.static_site(tmp, static_port, "/labmail/guide"),
        [static_port] + [port for _, port, _, _ in sites])


# The FastCGI floor: the same bytes for every request, nothing else.
FLOOR_C = r"""
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static char *body;
static long len;
static int sock;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void
answer(FCGX_Request *r)
{
	FCGX_FPrintF(r->out, "Status: 200 OK\r\nContent-Type: text/html; "
	    "charset=utf-8\r\nContent-Length: %ld\r\n\r\n", len);
	FCGX_PutStr(body, (int)len, r->out);
	FCGX_Finish_r(r);
}

/* The next requests on a kept connection, until nginx closes it. */
static void *
serve_kept(void *arg)
{
	FCGX_Request *r = arg;

	r->listen_sock = -1;
	while (FCGX_Accept_r(r) == 0)
		answer(r);
	FCGX_Free(r, 1);
	free(r);
	return NULL;
}

static void *
accept_loop(void *arg)
{
	FCGX_Request *r;
	pthread_t t;
	int rc;

	for (;;) {
		if ((r = malloc(sizeof(*r))) == NULL)
			return arg;
		FCGX_InitRequest(r, sock, 0);
		pthread_mutex_lock(&lock);
		rc = FCGX_Accept_r(r);
		pthread_mutex_unlock(&lock);
		if (rc < 0)
			return arg;
		answer(r);
		if (r->ipcFd >= 0 && pthread_create(&t, NULL, serve_kept, r) == 0)
			pthread_detach(t);
		else {
			FCGX_Free(r, 1);
			free(r);
		}
	}
}

int
main(int argc, char **argv)
{
	FILE *f = fopen(argv[2], "rb");
	pthread_t t[4];
	int i;

	if (argc != 3 || f == NULL || fseek(f, 0, SEEK_END) != 0)
		return 2;
	len = ftell(f);
	rewind(f);
	if ((body = malloc(len)) == NULL || fread(body, 1, len, f) != (size_t)len)
		return 2;
	fclose(f);
	if (FCGX_Init() != 0 || (sock = FCGX_OpenSocket(argv[1], 1024)) < 0)
		return 1;
	/* libfcgi catches SIGTERM (to finish the request): end at once. */
	signal(SIGTERM, SIG_DFL);
	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, accept_loop, NULL);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	return 0;
}
"""


def build_floor(tmp):
    """Compile the floor program; None (and why) if it cannot be."""
    src = os.path.join(tmp, "fcgi-floor.c")
    exe = os.path.join(tmp, "fcgi-floor")
    with open(src, "w") as f:
        f.write(FLOOR_C)
    cc = os.environ.get("CC", "cc")
    try:
        p = subprocess.run([cc, "-O2", "-o", exe, src, "-lfcgi",
                            "-lpthread"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    except OSError as e:
        return None, str(e)
    if p.returncode != 0:
        return None, p.stdout.strip()[-500:]
    return exe, None


# -------------------------------------------------------------- benchmark

def bench_fastcgi(binary, tmp, duration=8, rounds=1, conns=32):
    print("== 4. GET %s through nginx: labmail over FastCGI against a "
          "static copy" % PATH)
    print("   nginx with web/nginx/labmail.conf and labmail-upstream.conf "
          "as shipped (TCP, Unix socket),")
    print("   which keep the guide in nginx's cache for the minute labmail "
          "allows; and without that cache")
    print("   labmail's per-request log goes to /dev/null, nginx logs "
          "every request.")
    tmp = tempfile.mkdtemp(prefix="fastcgi-", dir=tmp)
    os.chmod(tmp, 0o755)
    www = os.path.join(tmp, "www")
    os.makedirs(www)
    started = []
    try:
        tcp = "%s:%d" % (LOOPBACK, free_port())
        sock = os.path.join(tmp, "fcgi.sock")
        floor_at = "%s:%d" % (LOOPBACK, free_port())
        started.append(start_labmail(binary, tmp, tcp, "TCP"))
        started.append(start_labmail(binary, tmp, sock, "Unix"))
        # (name, nginx port, (upstream file, site file), pids whose CPU
        # counts)
        sites = [
            ("FastCGI TCP", free_port(), fastcgi_site(tmp, "tcp", tcp),
             [started[0].proc.pid]),
            ("FastCGI Unix", free_port(), fastcgi_site(tmp, "unix", sock),
             [started[1].proc.pid]),
            ("TCP, no cache", free_port(),
             fastcgi_site(tmp, "nocache", tcp, cache=False),
             [started[0].proc.pid]),
            ("libfcgi floor", free_port(),
             fastcgi_site(tmp, "floor", floor_at), []),
        ]
        static_port = free_port()
        # nginx can start before the copy exists: it is read per request.
        ngx = start_nginx(tmp, static_port, [
            (n, port, files[0], files[1]) for n, port, files, _ in sites])
        started.append(ngx)
        sites = [("static", static_port, None, [])] + sites
        urls = {name: "http://%s:%d%s" % (LOOPBACK, port, PATH)
                for name, port, _, _ in sites}
        status, html = fetch(urls["FastCGI TCP"])
        if status != 200 or not html:
            raise BenchError("GET %s through FastCGI (TCP) answered %d"
                             % (PATH, status))
        copy = os.path.join(www, "guide.html")
        with open(copy, "wb") as f:
            f.write(html)
        floor, why = build_floor(tmp)
        if floor is None:
            print("   (no FastCGI floor: cc -lfcgi failed: %s)" % why)
            sites = [x for x in sites if x[0] != "libfcgi floor"]
        else:
            p = Proc("FastCGI floor", [floor, floor_at, copy])
            started.append(p)
            p.wait_listening(port=int(floor_at.rsplit(":", 1)[1]))
            sites[-1][3].append(p.proc.pid)
        for name, _, _, _ in sites:
            status, same = fetch(urls[name])
            if status != 200 or same != html:
                raise BenchError("%s does not serve the same guide (status "
                                 "%d, %d bytes, expected %d)" % (
                                     name, status, len(same), len(html)))
        print("   body: %d bytes, identical on every site; wrk -t2 -c%d "
              "-d%ds, %d round(s), sites alternated"
              % (len(html), conns, duration, rounds))
        for name, _, _, _ in sites:        # warm up
            run_wrk(urls[name], conns, 1)

        results = {}
        print("   %-5s %-13s %10s %11s %11s %9s" % (
            "round", "site", "req/s", "avg lat", "max lat", "cpu/req"))
        for r in range(rounds):
            order = sites if r % 2 == 0 else sites[::-1]
            for name, _, _, pids in order:
                # CPU: nginx's (all sites) and the site's backend's.
                res = run_wrk(urls[name], conns, duration,
                              watch={name: [ngx.proc.pid] + pids})
                res["cpu"] = res["cpu"][name]
                results.setdefault(name, []).append(res)
                bad = res["non2xx"] or res["sockerr_text"]
                print("   %-5d %-13s %10.0f %11s %11s %6.1f us%s" % (
                    r + 1, name, res["rps"], ms(res["lat_avg"]),
                    ms(res["lat_max"]),
                    res["cpu"] * 1e6 / max(1, res["requests"]),
                    "  (%d non-2xx, %s)" % (res["non2xx"], res["sockerr_text"])
                    if bad else ""))
        for p in started[:2]:
            rc = p.stop()
            if rc not in (0, None):
                print("   note: %s exited with status %d" % (p.name, rc))
    finally:
        for p in reversed(started):
            p.stop()

    med = {name: statistics.median(x["rps"] for x in results[name])
           for name, _, _, _ in sites}
    cpu = {name: statistics.median(x["cpu"] * 1e6 / max(1, x["requests"])
                                   for x in results[name])
           for name, _, _, _ in sites}
    print()
    print("   %-13s %12s %7s %8s %10s" % ("site", "req/s", "ratio",
                                           "target", "CPU/req"))
    print("   %-13s %12.0f %7s %8s %7.1f us" % ("static", med["static"], "",
                                                "", cpu["static"]))
    summary = []
    ratio = {}
    for name in [n for n, _, _, _ in sites if n != "static"]:
        ratio[name] = med[name] / med["static"] if med["static"] else 0.0
        floor = name == "libfcgi floor"
        print("   %-13s %12.0f %7.2f %8s %7.1f us" % (
            name, med[name], ratio[name], "" if floor else
            ">= %.1f" % TARGET, cpu[name]))
        if floor:
            continue
        non2xx = sum(x["non2xx"] for x in results[name])
        summary.append(
            "nginx+%s c=%d: %.0f req/s, static %.0f req/s, ratio %.2f "
            "(target >= %.1f)%s%s; CPU/req %.1f vs %.1f us" % (
                name, conns, med[name], med["static"], ratio[name], TARGET,
                "" if ratio[name] >= TARGET else " [below]",
                " (%d non-2xx)" % non2xx if non2xx else "",
                cpu[name], cpu["static"]))
    if "libfcgi floor" in med:
        summary.append(
            "nginx+libfcgi floor (same bytes, no work) c=%d: %.0f req/s, "
            "ratio %.2f: labmail over TCP without nginx's cache reaches "
            "%.0f%% of it" % (
                conns, med["libfcgi floor"], ratio["libfcgi floor"],
                100.0 * med["TCP, no cache"] / med["libfcgi floor"]
                if med["libfcgi floor"] else 0.0))
    print("   (median of %d round%s; CPU/req: the CPU time of nginx and of "
          "the site's FastCGI program per request)"
          % (rounds, "" if rounds == 1 else "s"))
    print()
    return summary


# ------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--duration", type=int, default=8,
                    help="seconds per wrk run (default 8)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds; the median is reported (default 1)")
    ap.add_argument("--connections", type=int, default=32,
                    help="wrk connections (default 32)")
    args = ap.parse_args()
    try:
        binary = benchlib.find_binary(args.build)
    except BenchError as e:
        print("bench: %s" % e, file=sys.stderr)
        return 1
    missing = benchlib.missing_tools(("wrk", NGINX))
    if missing:
        print("bench: missing: %s (make deps-bench installs wrk and "
              "nginx-light)" % ", ".join(missing), file=sys.stderr)
        return 1
    return benchlib.run_main(
        lambda tmp: bench_fastcgi(binary, tmp, args.duration,
                                  max(1, args.rounds), args.connections),
        "wrk -t2, 127.0.0.1; labmail stderr to /dev/null")


if __name__ == "__main__":
    sys.exit(main())
