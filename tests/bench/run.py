#!/usr/bin/python3
"""Benchmarks of labmail against peers, printed as ratios.

    tests/bench/run.py --build build        (what `make bench` runs)

1. GET /guide?lang=en on labmail against nginx serving the same rendered
   HTML as a static file, with wrk at 32 and 256 connections, the two
   servers measured alternately in the same run.
2. Mail through the send form (POST /send, driven by wrk with send.lua)
   against Postfix's smtp-source, both sending to smtp-sink, one SMTP
   session per message, 16 at a time, same message body size; with the
   CPU time and context switches per message of each client.
3. GET /inbox over a spool of about 1 GiB and 100,000 messages (inbox.py):
   the first page with a cold index against grep -c '^From ', the warm
   index under wrk, the bytes read after one new delivery, the web
   process's memory, and Mailutils' mail -H on the same spool.
4. GET /labmail/guide through nginx with web/nginx/labmail.conf and
   labmail-upstream.conf (FastCGI over TCP, then a Unix socket, kept
   connections) against the same nginx serving the HTML as a static
   file (fastcgi.py).

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
import statistics
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True     # leave no __pycache__ in the checkout
import benchlib  # noqa: E402
from benchlib import (LOOPBACK, NGINX, BenchError, Proc,  # noqa: E402
                      cpu_seconds, fetch, free_port, ms, run_wrk)
import inbox  # noqa: E402
import fastcgi  # noqa: E402

SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
SEND_LUA = os.path.join(HERE, "send.lua")
DOMAIN = "mail181.com"
GUIDE_PATH = "/guide?lang=en"

# Targets from the issue; printed next to the ratios, never enforced.
TARGET_GUIDE = 1.0
TARGET_SEND = 0.8


# --------------------------------------------------------------- processes

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
        raise benchlib.why_not_started(e, argv)
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


def start_nginx(tmp, port):
    """nginx in the foreground serving tmp/www/guide.html at /guide."""
    return benchlib.start_nginx(
        tmp, "run.py", "a minimal static server",
        "user root;\n" if os.geteuid() == 0 else "",
        benchlib.static_site(tmp, port, "/guide"), [port])


# --------------------------------------------------------------------- cpu

def children_usage():
    """CPU time and context switches of the children we have waited for
    (smtp-source)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime, r.ru_nvcsw + r.ru_nivcsw


# ----------------------------------------------------------------- figures

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
                res = run_wrk(url, conns, duration, watch={name: [pid]})
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
    cpu0, switches0 = children_usage()
    t0 = time.monotonic()
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              timeout=180)
    except subprocess.TimeoutExpired:
        raise BenchError("smtp-source did not finish: %s" % " ".join(argv))
    elapsed = time.monotonic() - t0
    cpu, switches = children_usage()
    if proc.returncode != 0:
        raise BenchError("smtp-source failed (status %d): %s\n%s" % (
            proc.returncode, " ".join(argv), proc.stdout.strip()))
    return elapsed, cpu - cpu0, switches - switches0, argv


def bench_send(binary, tmp, duration, sessions, length, min_messages,
               source_seconds):
    print("== 2. Mail: POST /send on labmail against smtp-source, "
          "both into smtp-sink")
    print("   one SMTP session per message, %d in parallel, %d-byte body"
          % (sessions, length))

    # smtp-source: calibrate, then send enough for ~source_seconds.
    sink = start_sink(tmp, "source")
    warm = min_messages
    t, _, _, _ = run_smtp_source(sink.port, warm, sessions, length)
    count = int(max(min_messages, min(100000, warm / t * source_seconds)))
    sink_cpu0 = cpu_seconds([sink.proc.pid])
    elapsed, src_cpu, src_switches, argv = run_smtp_source(
        sink.port, count, sessions, length)
    sink_cpu = cpu_seconds([sink.proc.pid]) - sink_cpu0
    got = sink_messages(sink)
    src_rate = count / elapsed
    print("   smtp-source: %d messages in %.2f s = %.0f msg/s "
          "(sink counted %s of %d)" % (count, elapsed, src_rate, got,
                                       warm + count))
    print("     CPU per message: smtp-source %.0f us, smtp-sink %.0f us; "
          "smtp-source's context switches per message: %.1f"
          % (us_per(src_cpu, count), us_per(sink_cpu, count),
             src_switches / count))
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
    lab_switches = benchlib.context_switches(lab.proc.pid)
    res = run_wrk(url, sessions, duration, script=SEND_LUA,
                  env={"LABMAIL_BENCH_FORM": form_path,
                       "LABMAIL_BENCH_TOKEN": token},
                  watch={"labmail": [lab.proc.pid],
                         "sink": [sink.proc.pid]})
    lab_switches = benchlib.context_switches(lab.proc.pid) - lab_switches
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
          "%.0f us; labmail's context switches per message: %.1f" % (
              us_per(res["cpu"]["labmail"], res["requests"]),
              res["cpu"]["labmail"] / res["seconds"],
              us_per(res["cpu"]["sink"], res["requests"]),
              lab_switches / res["requests"] if res["requests"] else 0.0))
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

def check_tools():
    missing = benchlib.missing_tools(("wrk", NGINX, SMTP_SINK,
                                      SMTP_SOURCE))
    if missing:
        raise BenchError("missing: %s (make deps-bench installs wrk, "
                         "nginx-light, postfix)" % ", ".join(missing))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build",
                    help="build folder holding labmail (default build)")
    ap.add_argument("--duration", type=int, default=8,
                    help="seconds per wrk run (default 8)")
    # Three rounds, so that the median is a middle run, not the mean of
    # two: on a busy machine one run can be off by a fifth.
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of the guide and FastCGI benchmarks; the "
                    "median is reported (default 3)")
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

    def bench(tmp):
        summary = []
        binary = benchlib.find_binary(args.build)
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
        return summary

    return benchlib.run_main(bench, "wrk -t2, 127.0.0.1; labmail stderr "
                             "to /dev/null")


if __name__ == "__main__":
    sys.exit(main())
