#!/usr/bin/python3
"""Benchmarks of labmail against peers, printed as ratios.

    tests/bench/run.py --build build        (what `make bench` runs)

1. GET /guide?lang=en on labmail against nginx serving the same rendered
   HTML as a static file, with wrk at 32 and 256 connections, the two
   servers measured alternately in the same run.
2. Mail through the send form (POST /send, driven by wrk with send.lua)
   against Postfix's smtp-source, both sending to smtp-sink, one SMTP
   session per message, 16 at a time, same message body size.
3. GET /inbox over a spool of about 1 GiB and 100,000 messages (inbox.py):
   the first page with a cold index against grep -c '^From ', the warm
   index under wrk, the bytes read after one new delivery, the web
   process's memory, and Mailutils' mail -H on the same spool.
4. GET /labmail/guide through nginx with web/nginx/labmail.conf (FastCGI
   over TCP) and labmail-unix.conf (Unix socket) against the same nginx
   serving the HTML as a static file (fastcgi.py).

Everything runs on 127.0.0.1: every server is started here on a free
loopback port and stopped by its pid; labmail always gets --smtp pointing
at a loopback port.  Speeds are printed, never asserted: the exit status
is non-zero only when a benchmark could not run (a tool is missing, a
process failed to start, a check request failed).
"""

import argparse
import os
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.dont_write_bytecode = True     # leave no __pycache__ in the checkout
sys.path.insert(0, os.path.join(TOP, "tests"))
from labtest import free_port, wait_port  # noqa: E402
import inbox  # noqa: E402
import fastcgi  # noqa: E402

LOOPBACK = "127.0.0.1"
NGINX = "/usr/sbin/nginx"
SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
SEND_LUA = os.path.join(HERE, "send.lua")
DOMAIN = "mail181.com"
GUIDE_PATH = "/guide?lang=en"

# Targets from the issue; printed next to the ratios, never enforced.
TARGET_GUIDE = 1.0
TARGET_SEND = 0.8


class BenchError(Exception):
    """A benchmark could not run."""


# --------------------------------------------------------------- processes

class Proc:
    """A process we started; stopped by its pid, never by name."""

    running = []

    def __init__(self, name, argv, port=None, stdout=None, stderr=None,
                 env=None):
        self.name = name
        self.argv = argv
        self.stderr_path = stderr
        out = open(stdout, "wb") if stdout else subprocess.DEVNULL
        err = open(stderr, "wb") if stderr else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, env=env)
        except OSError as e:
            raise BenchError("%s could not start: %s" % (name, e))
        finally:
            for f in (out, err):
                if f is not subprocess.DEVNULL:
                    f.close()
        Proc.running.append(self)
        if port is not None:
            try:
                wait_port(port, self.proc, timeout=15)
                # Something else may hold the port we were given: make
                # sure the server that answered is still ours.
                time.sleep(0.1)
                if self.proc.poll() is not None:
                    raise RuntimeError("exited with %d"
                                       % self.proc.returncode)
            except RuntimeError as e:
                msg = "%s did not start (%s): %s" % (name, e,
                                                    " ".join(argv))
                tail = self.stderr_tail()
                self.stop()
                raise BenchError(msg + (("\n" + tail) if tail else ""))

    def stderr_tail(self):
        if not self.stderr_path:
            return ""
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()[-2000:].strip()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)     # this pid only
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self in Proc.running:
            Proc.running.remove(self)
        return self.proc.returncode

    @classmethod
    def stop_all(cls):
        for p in reversed(list(cls.running)):
            p.stop()


def start_labmail(binary, smtp_port, tag):
    """labmail on a free loopback port; its per-request log to /dev/null."""
    port = free_port()
    argv = [binary, "--listen", "%s:%d" % (LOOPBACK, port),
            "--smtp", "%s:%d" % (LOOPBACK, smtp_port)]
    # stderr carries one log line per request: /dev/null, so that the
    # benchmark measures serving, not writing a log.
    try:
        p = Proc("labmail (%s)" % tag, argv, port=port)
    except BenchError as e:
        # Run it again briefly with stderr kept, to say why.
        try:
            why = subprocess.run(argv, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True,
                                 timeout=3).stdout
        except subprocess.TimeoutExpired as t:
            why = t.stdout or ""
            why = why.decode(errors="replace") if isinstance(why, bytes) \
                else why
        raise BenchError("%s\n%s" % (e, why.strip()[-2000:]))
    p.port = port
    return p


def start_sink(tmp, tag):
    """smtp-sink on a free loopback port, counting what it receives."""
    port = free_port()
    counter = os.path.join(tmp, "sink-%s.out" % tag)
    argv = [SMTP_SINK, "-c"]
    if os.geteuid() == 0:
        argv += ["-u", "nobody"]    # smtp-sink refuses to run as root
    argv += ["%s:%d" % (LOOPBACK, port), "1000"]
    p = Proc("smtp-sink (%s)" % tag, argv, port=port, stdout=counter,
             stderr=os.path.join(tmp, "sink-%s.err" % tag))
    p.port = port
    p.counter = counter
    return p


def sink_messages(sink):
    """Stop a sink and return how many messages it received (its -c)."""
    sink.stop()
    try:
        with open(sink.counter, errors="replace") as f:
            found = re.findall(r"mesg=(\d+)", f.read())
    except OSError:
        return None
    return int(found[-1]) if found else 0


NGINX_CONF = """\
# Generated by tests/bench/run.py: a minimal static server on loopback.
{user}worker_processes auto;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    # Both servers log every request, as they would in service: labmail
    # one line on stderr (sent to /dev/null here), nginx to its file.
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

    server {{
        listen {addr}:{port} backlog=1024;
        root {tmp}/www;
        location = /guide {{
            try_files /guide.html =404;
        }}
        location / {{
            return 404;
        }}
    }}
}}
"""


def start_nginx(tmp, port):
    """nginx in the foreground with a config of its own in tmp."""
    conf = os.path.join(tmp, "nginx.conf")

    def write(extra_temp):
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(
                user="user root;\n" if os.geteuid() == 0 else "",
                tmp=tmp, addr=LOOPBACK, port=port,
                extra_temp=extra_temp))

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
    p = Proc("nginx", base + ["-g", "daemon off;"], port=port,
             stderr=os.path.join(tmp, "nginx-stderr.log"))
    p.port = port
    return p


# --------------------------------------------------------------------- cpu

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time of pid and its direct children (nginx's
    workers), from /proc."""
    total = 0.0
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
        if int(name) == pid or ppid == pid:
            total += (utime + stime) / TICK
    return total


def children_cpu():
    """CPU time of the children we have waited for (smtp-source)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# --------------------------------------------------------------------- wrk

def parse_duration(s):
    """wrk's '1.23ms' / '456.78us' / '1.01s' / '2.00m' in milliseconds."""
    m = re.match(r"([\d.]+)(us|ms|s|m|h)$", s)
    if not m:
        return None
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0,
             "h": 3600000.0}[m.group(2)]
    return float(m.group(1)) * scale


def run_wrk(url, conns, duration, threads=2, script=None, env=None,
            watch=None):
    """Run wrk; return its figures as a dict, with the CPU time that each
    process of watch ({name: pid}) used meanwhile under "cpu"."""
    watch = watch or {}
    before = {name: cpu_seconds(pid) for name, pid in watch.items()}
    argv = ["wrk", "-t%d" % min(threads, conns), "-c%d" % conns,
            "-d%ds" % duration, "--timeout", "10s"]
    if script:
        argv += ["-s", script]
    argv.append(url)
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              timeout=duration + 60,
                              env=dict(os.environ, **(env or {})))
    except subprocess.TimeoutExpired:
        raise BenchError("wrk did not finish: %s" % " ".join(argv))
    cpu = {name: cpu_seconds(pid) - before[name]
           for name, pid in watch.items()}
    out = proc.stdout
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+\w+)", out)
    if proc.returncode != 0 or not rps or not total:
        raise BenchError("wrk failed (status %d): %s\n%s"
                         % (proc.returncode, " ".join(argv), out.strip()))
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


def us_per(cpu, count):
    """CPU microseconds per item."""
    return cpu * 1e6 / count if count else 0.0


# --------------------------------------------------------- 1. guide/nginx

def bench_guide(binary, tmp, duration, conn_counts, rounds):
    print("== 1. GET %s: labmail against nginx (static copy)" % GUIDE_PATH)
    print("   labmail's per-request log (stderr) goes to /dev/null "
          "during the benchmark.")
    lab = start_labmail(binary, free_port(), "guide")
    lab_url = "http://%s:%d%s" % (LOOPBACK, lab.port, GUIDE_PATH)
    status, html = fetch(lab_url)
    if status != 200 or not html:
        raise BenchError("labmail answered %d to GET %s" % (status,
                                                          GUIDE_PATH))
    www = os.path.join(tmp, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "guide.html"), "wb") as f:
        f.write(html)
    ngx = start_nginx(tmp, free_port())
    ngx_url = "http://%s:%d%s" % (LOOPBACK, ngx.port, GUIDE_PATH)
    status, same = fetch(ngx_url)
    if status != 200 or same != html:
        raise BenchError("nginx does not serve the guide copy (status %d, "
                         "%d bytes)" % (status, len(same)))
    print("   body: %d bytes, identical on both; wrk -t2 -d%ds, "
          "%d round(s), servers alternated" % (len(html), duration, rounds))

    # Warm both up briefly (connections, caches, nginx's open files).
    for url in (lab_url, ngx_url):
        run_wrk(url, 32, 1)

    servers = [("labmail", lab_url, lab.proc.pid),
               ("nginx", ngx_url, ngx.proc.pid)]
    results = {}            # (name, conns) -> [wrk dicts]
    print("   %-5s %-6s %-8s %10s %11s %11s %6s %9s" % (
        "round", "conns", "server", "req/s", "avg lat", "max lat",
        "cores", "cpu/req"))
    for r in range(rounds):
        for i, conns in enumerate(conn_counts):
            # Alternate who goes first, across connection counts and rounds.
            order = servers[::-1] if (r + i) % 2 else servers
            for name, url, pid in order:
                res = run_wrk(url, conns, duration, watch={name: pid})
                results.setdefault((name, conns), []).append(res)
                cpu = res["cpu"][name]
                bad = res["non2xx"] + res["sockerr"]
                print("   %-5d c=%-4d %-8s %10.0f %11s %11s %6.2f %6.1f us"
                      "%s" % (r + 1, conns, name, res["rps"],
                              ms(res["lat_avg"]), ms(res["lat_max"]),
                              cpu / res["seconds"],
                              us_per(cpu, res["requests"]),
                              "  (%d non-2xx, %s)" % (res["non2xx"],
                                                      res["sockerr_text"])
                              if bad else ""))
    lab_rc = lab.stop()
    ngx.stop()
    if lab_rc not in (0, None):
        print("   note: labmail exited with status %d after the guide "
              "benchmark" % lab_rc)

    summary = []
    print()
    print("   %-6s %14s %14s %7s %8s %12s" % (
        "conns", "labmail req/s", "nginx req/s", "ratio", "target",
        "CPU/req l/n"))
    for conns in conn_counts:
        lab, ngx = results[("labmail", conns)], results[("nginx", conns)]
        lab_rps = statistics.median(x["rps"] for x in lab)
        ngx_rps = statistics.median(x["rps"] for x in ngx)
        lab_us = statistics.median(us_per(x["cpu"]["labmail"],
                                          x["requests"]) for x in lab)
        ngx_us = statistics.median(us_per(x["cpu"]["nginx"],
                                          x["requests"]) for x in ngx)
        ratio = lab_rps / ngx_rps if ngx_rps else 0.0
        print("   c=%-4d %14.0f %14.0f %7.2f %8s %5.1f/%.1f us" % (
            conns, lab_rps, ngx_rps, ratio, ">= %.1f" % TARGET_GUIDE,
            lab_us, ngx_us))
        summary.append("guide c=%d: labmail %.0f req/s, nginx %.0f req/s, "
                       "ratio %.2f (target >= %.1f)%s; CPU/req %.1f vs "
                       "%.1f us" % (
                           conns, lab_rps, ngx_rps, ratio, TARGET_GUIDE,
                           "" if ratio >= TARGET_GUIDE else " [below]",
                           lab_us, ngx_us))
    print("   (median of %d round%s; CPU/req: server CPU time per request, "
          "labmail/nginx, steadier than req/s on a busy machine)"
          % (rounds, "" if rounds == 1 else "s"))
    print()
    return summary


# ------------------------------------------------- 2. send / smtp-source

def message_body(length):
    """A plain ASCII body of exactly length bytes, in lines of 78."""
    line = "The quick brown fox jumps over the lazy dog, 0123456789, " \
           "labmail bench text.\n"
    return (line * (length // len(line) + 1))[:length]


def run_smtp_source(port, count, sessions, length):
    argv = [SMTP_SOURCE, "-s", str(sessions), "-m", str(count),
            "-l", str(length), "-M", "localhost",
            "-f", "bench@" + DOMAIN, "-t", "root@" + DOMAIN,
            "-S", "labmail bench", "%s:%d" % (LOOPBACK, port)]
    cpu0 = children_cpu()
    t0 = time.monotonic()
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              timeout=180)
    except subprocess.TimeoutExpired:
        raise BenchError("smtp-source did not finish: %s" % " ".join(argv))
    elapsed = time.monotonic() - t0
    cpu = children_cpu() - cpu0
    if proc.returncode != 0:
        raise BenchError("smtp-source failed (status %d): %s\n%s" % (
            proc.returncode, " ".join(argv), proc.stdout.strip()))
    return elapsed, cpu, argv


def bench_send(binary, tmp, duration, sessions, length, min_messages,
               source_seconds):
    print("== 2. Mail: POST /send on labmail against smtp-source, "
          "both into smtp-sink")
    print("   one SMTP session per message, %d in parallel, %d-byte body"
          % (sessions, length))

    # smtp-source: calibrate, then send enough for ~source_seconds.
    sink = start_sink(tmp, "source")
    warm = min_messages
    t, _, _ = run_smtp_source(sink.port, warm, sessions, length)
    count = int(max(min_messages, min(100000, warm / t * source_seconds)))
    sink_cpu0 = cpu_seconds(sink.proc.pid)
    elapsed, src_cpu, argv = run_smtp_source(sink.port, count, sessions,
                                             length)
    sink_cpu = cpu_seconds(sink.proc.pid) - sink_cpu0
    got = sink_messages(sink)
    src_rate = count / elapsed
    print("   smtp-source: %d messages in %.2f s = %.0f msg/s "
          "(sink counted %s of %d)" % (count, elapsed, src_rate, got,
                                       warm + count))
    print("     CPU per message: smtp-source %.0f us, smtp-sink %.0f us"
          % (us_per(src_cpu, count), us_per(sink_cpu, count)))
    print("     %s" % " ".join(argv))

    # labmail: one check request, then wrk with send.lua.
    sink = start_sink(tmp, "labmail")
    lab = start_labmail(binary, sink.port, "send")
    token = secrets.token_urlsafe(16)           # 22 chars, base64url
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token)
    form = urllib.parse.urlencode({
        "from": "bench@" + DOMAIN,
        "to": "root@" + DOMAIN,
        "subject": "labmail bench",
        "body": message_body(length),
        "csrf_token": token,
    }).encode()
    form_path = os.path.join(tmp, "send-form.txt")
    with open(form_path, "wb") as f:
        f.write(form)
    url = "http://%s:%d/send" % (LOOPBACK, lab.port)
    status, page = fetch(url, form, {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "labmail_csrf=" + token})
    if status != 200 or b"Mail queued" not in page:
        raise BenchError("labmail's POST /send check got %d (expected 200 "
                         "and \"Mail queued\"); first bytes:\n%s" % (
                             status, page[:600].decode(errors="replace")))
    res = run_wrk(url, sessions, duration, script=SEND_LUA,
                  env={"LABMAIL_BENCH_FORM": form_path,
                       "LABMAIL_BENCH_TOKEN": token},
                  watch={"labmail": lab.proc.pid,
                         "sink": sink.proc.pid})
    lab_rc = lab.stop()
    got = sink_messages(sink)
    ok = res["requests"] - res["non2xx"]
    lab_rate = ok / res["seconds"] if res["seconds"] else 0.0
    print("   labmail:     %d requests in %.2f s, %d non-2xx, %s; "
          "%.0f msg/s (200s only)" % (
              res["requests"], res["seconds"], res["non2xx"],
              res["sockerr_text"] or "no socket errors", lab_rate))
    print("     avg latency %s, max %s; sink counted %s (wrk: %d "
          "answered, + 1 check, + those in flight when wrk stopped)" % (
              ms(res["lat_avg"]), ms(res["lat_max"]), got, ok))
    print("     CPU per message: labmail %.0f us (%.2f cores), smtp-sink "
          "%.0f us" % (us_per(res["cpu"]["labmail"], res["requests"]),
                       res["cpu"]["labmail"] / res["seconds"],
                       us_per(res["cpu"]["sink"], res["requests"])))
    print("     %s   (form %d bytes)" % (" ".join(res["argv"]), len(form)))
    if lab_rc not in (0, None):
        print("   note: labmail exited with status %d after the send "
              "benchmark" % lab_rc)
    if res["non2xx"]:
        print("   WARNING: %d POSTs did not get 200; they are not counted"
              % res["non2xx"])

    ratio = lab_rate / src_rate if src_rate else 0.0
    lab_us = us_per(res["cpu"]["labmail"], res["requests"])
    src_us = us_per(src_cpu, count)
    print()
    print("   %-12s %14s %8s %8s" % ("", "msg/s", "ratio", "target"))
    print("   %-12s %14.0f" % ("smtp-source", src_rate))
    print("   %-12s %14.0f %8.2f %8s" % ("labmail", lab_rate, ratio,
                                         ">= %.1f" % TARGET_SEND))
    print()
    return ["send: labmail %.0f msg/s, smtp-source %.0f msg/s, ratio %.2f "
            "(target >= %.1f)%s%s; CPU/msg %.0f vs %.0f us" % (
                lab_rate, src_rate, ratio, TARGET_SEND,
                "" if ratio >= TARGET_SEND else " [below]",
                " (%d non-2xx)" % res["non2xx"] if res["non2xx"] else "",
                lab_us, src_us)]


# -------------------------------------------------------------------- main

def find_binary(build):
    for base in (os.getcwd(), TOP):
        path = os.path.join(base, build, "labmail")
        if os.access(path, os.X_OK):
            return os.path.abspath(path)
    raise BenchError("no %s/labmail: run `make` first" % build)


def check_tools():
    missing = [t for t in ("wrk", NGINX, SMTP_SINK, SMTP_SOURCE)
               if shutil.which(t) is None]
    if missing:
        raise BenchError("missing: %s (make deps-bench installs wrk, "
                         "nginx-light, postfix)" % ", ".join(missing))


def on_sigterm(signum, frame):
    raise KeyboardInterrupt()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build",
                    help="build folder holding labmail (default build)")
    ap.add_argument("--duration", type=int, default=8,
                    help="seconds per wrk run (default 8)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="guide rounds; the median is reported (default 2)")
    ap.add_argument("--sessions", type=int, default=16,
                    help="parallel SMTP sessions / HTTP connections for "
                    "the send benchmark (default 16)")
    ap.add_argument("--length", type=int, default=1000,
                    help="message body size in bytes (default 1000)")
    ap.add_argument("--messages", type=int, default=2000,
                    help="smtp-source warm-up and minimum message count; "
                    "the measured run is sized to last ~4 s (default 2000)")
    ap.add_argument("--only", choices=("guide", "send", "inbox", "fastcgi"),
                    help="run one benchmark only")
    args = ap.parse_args()

    # SIGTERM (e.g. from make being stopped): clean up like Ctrl-C.
    signal.signal(signal.SIGTERM, on_sigterm)

    tmp = tempfile.mkdtemp(prefix="labmail-bench-")
    os.chmod(tmp, 0o755)
    summary = []
    t0 = time.monotonic()
    try:
        binary = find_binary(args.build)
        check_tools()
        print("labmail benchmarks: %s, %d CPUs, loopback only; speeds are "
              "printed, not asserted" % (binary, os.cpu_count() or 0))
        load = os.getloadavg()[0]
        print("load average before starting: %.2f%s" % (
            load, "  (other work is running: figures will be noisy)"
            if load > 0.5 * (os.cpu_count() or 1) else ""))
        print()
        if args.only in (None, "guide"):
            summary += bench_guide(binary, tmp, args.duration, (32, 256),
                                   max(1, args.rounds))
        if args.only in (None, "send"):
            summary += bench_send(binary, tmp, args.duration,
                                  args.sessions, args.length,
                                  args.messages, 4.0)
        if args.only in (None, "inbox"):
            summary += inbox.bench_inbox(binary, tmp, args.duration)
        if args.only in (None, "fastcgi"):
            summary += fastcgi.bench_fastcgi(binary, tmp, args.duration,
                                             max(1, args.rounds))
    except (BenchError, inbox.BenchError, fastcgi.BenchError) as e:
        print("bench: could not run: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        Proc.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    print("== summary (%.0f s; wrk -t2, 127.0.0.1; labmail stderr to "
          "/dev/null)" % (time.monotonic() - t0))
    for line in summary:
        print("   " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
