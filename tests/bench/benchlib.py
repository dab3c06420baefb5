"""benchlib - what the benchmarks in tests/bench share.

Processes started here and stopped by their pid (never by name), wrk
runs and their figures, CPU time from /proc, a generated nginx config
and nginx started on it, and the frame of a benchmark's main().  Every
server listens on 127.0.0.1 only (labtest.LOOPBACK).
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.dont_write_bytecode = True     # leave no __pycache__ in the checkout
if os.path.join(TOP, "tests") not in sys.path:
    sys.path.insert(0, os.path.join(TOP, "tests"))
from labtest import (LOOPBACK, free_port, stop_process,  # noqa: E402,F401
                     wait_port, wait_unix)

NGINX = "/usr/sbin/nginx"


class BenchError(Exception):
    """A benchmark could not run."""


# --------------------------------------------------------------- processes

class Proc:
    """A process we started; stopped by its pid, never by name.

    Its stdout and stderr go to files if given (log: both to one file),
    else to /dev/null.  With port, wait until it accepts there."""

    running = []

    def __init__(self, name, argv, port=None, stdout=None, stderr=None,
                 log=None, env=None, stop_timeout=30):
        self.name = name
        self.argv = argv
        self.log = log or stderr
        self.stop_timeout = stop_timeout
        if log:
            out = open(log, "wb")
            err = subprocess.STDOUT
        else:
            out = open(stdout, "wb") if stdout else subprocess.DEVNULL
            err = open(stderr, "wb") if stderr else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, env=env)
        except OSError as e:
            raise BenchError("%s could not start: %s" % (name, e))
        finally:
            for f in (out, err):
                if f not in (subprocess.DEVNULL, subprocess.STDOUT):
                    f.close()
        Proc.running.append(self)
        if port is not None:
            self.wait_listening(port=port)

    def wait_listening(self, port=None, path=None, timeout=15.0):
        """Wait until it accepts on 127.0.0.1:port or on the Unix socket
        path; stop it and raise BenchError if it does not."""
        try:
            if port is not None:
                wait_port(port, self.proc, timeout=timeout)
                # Something else may hold the port we were given: make
                # sure the server that answered is still ours.
                time.sleep(0.1)
                if self.proc.poll() is not None:
                    raise RuntimeError("exited with %d"
                                       % self.proc.returncode)
                return
            wait_unix(path, self.proc, timeout=timeout)
        except RuntimeError as e:
            msg = "%s did not start (%s): %s" % (self.name, e,
                                                " ".join(self.argv))
            tail = self.tail()
            self.stop()
            raise BenchError(msg + (("\n" + tail) if tail else ""))

    def tail(self):
        """The end of its log (or stderr file), if it has one."""
        if not self.log:
            return ""
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-2000:].strip()
        except OSError:
            return ""

    def stop(self):
        status = stop_process(self.proc, self.stop_timeout)
        if self in Proc.running:
            Proc.running.remove(self)
        return status

    @classmethod
    def stop_all(cls):
        for p in reversed(list(cls.running)):
            p.stop()


def why_not_started(error, argv):
    """error (a BenchError) with the output of argv run again briefly,
    its output kept, to say why it did not start."""
    try:
        why = subprocess.run(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             timeout=3).stdout
    except subprocess.TimeoutExpired as t:
        why = t.stdout or ""
        why = why.decode(errors="replace") if isinstance(why, bytes) \
            else why
    return BenchError("%s\n%s" % (error, why.strip()[-2000:]))


def find_binary(build):
    """BUILD/labmail, from the current folder or the top of the tree."""
    for base in (os.getcwd(), TOP):
        path = os.path.join(base, build, "labmail")
        if os.access(path, os.X_OK):
            return os.path.abspath(path)
    raise BenchError("no %s/labmail: run `make` first" % build)


def missing_tools(tools):
    return [t for t in tools if shutil.which(t) is None]


# ------------------------------------------------------------ /proc figures

TICK = os.sysconf("SC_CLK_TCK")


def proc_stats():
    """(pid, ppid, utime + stime in ticks) of every process, from /proc."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            ppid, utime, stime = int(fields[1]), int(fields[11]), \
                int(fields[12])
        except (OSError, ValueError, IndexError):
            continue
        yield int(name), ppid, utime + stime


def cpu_seconds(pids, children=True):
    """User + system CPU time of pids and, with children, of their direct
    children (nginx's workers, labmail's helper), from /proc."""
    total = 0.0
    for pid, ppid, ticks in proc_stats():
        if pid in pids or (children and ppid in pids):
            total += ticks / TICK
    return total


def context_switches(pid):
    """Context switches (voluntary and not) of pid's live threads so far,
    from /proc: a thread that waits on the network sleeps and is woken
    once per reply."""
    total = 0
    task = "/proc/%d/task" % pid
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, "status")) as f:
                total += sum(int(n) for n in re.findall(
                    r"^(?:non)?voluntary_ctxt_switches:\s*(\d+)",
                    f.read(), re.M))
        except OSError:
            continue        # the thread ended meanwhile
    return total


def children_of(pid):
    """Pids whose parent is pid (labmail's privileged helper)."""
    return [p for p, ppid, _ in proc_stats() if ppid == pid]


# --------------------------------------------------------------------- wrk

def parse_duration(s):
    """wrk's '1.23ms' / '456.78us' / '1.01s' / '2.00m' in milliseconds."""
    m = re.match(r"([\d.]+)(us|ms|s|m|h)$", s)
    if not m:
        return None
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0,
             "h": 3600000.0}[m.group(2)]
    return float(m.group(1)) * scale


def run_wrk(url, conns, duration, threads=2, script=None, headers=(),
            env=None, watch=None, children=True, secret=None):
    """Run wrk; return its figures as a dict, with the CPU time that each
    group of watch ({name: [pids]}, with their direct children unless
    children is false) used meanwhile under "cpu".  "shown" is the
    command line with secret (a live credential) elided."""
    watch = watch or {}
    before = {name: cpu_seconds(pids, children)
              for name, pids in watch.items()}
    argv = ["wrk", "-t%d" % min(threads, conns), "-c%d" % conns,
            "-d%ds" % duration, "--timeout", "10s"]
    for h in headers:
        argv += ["-H", h]
    if script:
        argv += ["-s", script]
    argv.append(url)
    shown = " ".join(argv)
    if secret:
        shown = shown.replace(secret, "TOKEN")
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              timeout=duration + 60,
                              env=dict(os.environ, **(env or {})))
    except subprocess.TimeoutExpired:
        raise BenchError("wrk did not finish: %s" % shown)
    cpu = {name: cpu_seconds(pids, children) - before[name]
           for name, pids in watch.items()}
    out = proc.stdout
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+\w+)", out)
    if proc.returncode != 0 or not rps or not total:
        raise BenchError("wrk failed (status %d): %s\n%s"
                         % (proc.returncode, shown, out.strip()))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), "
                     r"write (\d+), timeout (\d+)", out)
    lat = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", out)
    return {
        "rps": float(rps.group(1)),
        "requests": int(total.group(1)),
        "seconds": parse_duration(total.group(2)) / 1000.0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "sockerr": sum(map(int, sock.groups())) if sock else 0,
        "sockerr_text": sock.group(0) if sock else "",
        "lat_avg": parse_duration(lat.group(1)) if lat else None,
        "lat_max": parse_duration(lat.group(3)) if lat else None,
        "argv": argv,
        "shown": shown,
        "cpu": cpu,
    }


def fetch(url, data=None, headers=None):
    """GET or POST; returns (status, body bytes)."""
    req = urllib.request.Request(url, data=data, headers=headers or {},
                                 method="POST" if data is not None
                                 else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        raise BenchError("request to %s failed: %s" % (url, e))


def ms(v):
    return "-" if v is None else "%.2f ms" % v


# ------------------------------------------------------------------- nginx

NGINX_CONF = """\
# Generated by tests/bench/{script}: {what} on loopback.
{user}worker_processes auto;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    # nginx logs every request, as it would in service (labmail's
    # per-request log on stderr goes to /dev/null in the benchmarks).
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
{extra_temp}
    types {{ text/html html; }}
    default_type application/octet-stream;
    charset utf-8;
    sendfile on;
    tcp_nopush on;
    # wrk keeps its connections open: do not close them every 1000
    # requests (nginx's default), as labmail does not either.
    keepalive_requests 1000000;
    keepalive_timeout 60s;

{servers}}}
"""

STATIC_SITE = """\
    server {{                    # the page, as a static file
        listen {addr}:{port} backlog=1024;
        root {tmp}/www;
        location = {location} {{
            try_files /guide.html =404;
        }}
        location / {{
            return 404;
        }}
    }}
"""


def static_site(tmp, port, location):
    """A server block serving tmp/www/guide.html at location."""
    return STATIC_SITE.format(addr=LOOPBACK, port=port, tmp=tmp,
                              location=location)


def start_nginx(tmp, script, what, user, servers, ports):
    """nginx in the foreground with a config of its own in tmp (server
    blocks servers); waits until it accepts on every port."""
    conf = os.path.join(tmp, "nginx.conf")

    def write(extra_temp):
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(script=script, what=what, user=user,
                                      tmp=tmp, extra_temp=extra_temp,
                                      servers=servers))

    # uwsgi/scgi temp paths exist only if those modules are built in.
    write("    uwsgi_temp_path %s/uwsgi;\n    scgi_temp_path %s/scgi;"
          % (tmp, tmp))
    base = [NGINX, "-p", tmp + "/", "-c", conf]
    test = subprocess.run(base + ["-t"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if test.returncode != 0 and "unknown directive" in test.stdout:
        write("")
        test = subprocess.run(base + ["-t"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    if test.returncode != 0:
        raise BenchError("nginx rejects the generated config %s:\n%s"
                         % (conf, test.stdout.strip()))
    p = Proc("nginx", base + ["-g", "daemon off;"], port=ports[0],
             stderr=os.path.join(tmp, "nginx-stderr.log"))
    for port in ports[1:]:
        p.wait_listening(port=port)
    p.port = ports[0]
    return p


# -------------------------------------------------------------------- main

def on_sigterm(signum, frame):
    raise KeyboardInterrupt()


def run_main(bench, about):
    """Run bench(tmp) in a temporary folder of its own, stop whatever it
    left running, and print its summary lines; the exit status."""
    # SIGTERM (e.g. from make being stopped): clean up like Ctrl-C.
    signal.signal(signal.SIGTERM, on_sigterm)
    tmp = tempfile.mkdtemp(prefix="labmail-bench-")
    os.chmod(tmp, 0o755)
    t0 = time.monotonic()
    try:
        summary = bench(tmp)
    except BenchError as e:
        print("bench: could not run: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        Proc.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    print("== summary (%.0f s; %s)" % (time.monotonic() - t0, about))
    for line in summary:
        print("   " + line)
    return 0
