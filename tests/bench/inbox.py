#!/usr/bin/python3
"""Benchmark of the inbox over a large spool, printed as figures and ratios.

    tests/bench/inbox.py [--build build]     (alone; needs root)
    tests/bench/run.py --only inbox          (as the third section of
                                              `make bench`)

A test user gets a spool of about 1 GiB and 100,000 messages written by
tests/tools/mkspool.py straight into /var/mail/USER (USER:mail, 0600), as
Postfix's local(8) would have left it.  Then, with labmail started here
on a free loopback port (as root: it forks its privileged helper and the
web process drops to nobody):

1. cold index: a fresh labmail process, logged in, times its first
   GET /inbox (page 1, 50 messages) end to end, against `grep -c '^From '`
   over the same file; grep runs twice first, so that the spool is in the
   page cache for both (the second grep is the one timed);
2. warm index: wrk -t2 -c16 on GET /inbox with the session cookie;
3. incremental: one message appended to the spool, the next GET /inbox
   times and the web process's /proc/PID/io (rchar) shows how many bytes
   it read, against a request when nothing was delivered;
4. a large message: one of about 40 MB (a 30 MB attachment in base64)
   appended, then its raw source and its attachment downloaded, timed
   and checked for size;
5. memory: VmRSS and VmHWM (the peak) of the web process after all of
   the above, the large message included;
6. peer: GNU Mailutils' `mail -H -f SPOOL` (a header summary of every
   message), its time and maximum RSS.

Everything is on 127.0.0.1 (labmail's --smtp points at a loopback port
that nothing listens on: the inbox never sends).  Figures are printed,
never asserted.  The test user and the spool are removed at the end,
whatever happens; every process started here is stopped by its pid.
"""

import argparse
import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True     # leave no __pycache__ in the checkout
import benchlib  # noqa: E402
from benchlib import (LOOPBACK, TOP, BenchError, Proc,  # noqa: E402
                      children_of, free_port, run_wrk)
import labtest  # noqa: E402

MKSPOOL = os.path.join(TOP, "tests", "tools", "mkspool.py")
MAIL = "mail"                   # GNU Mailutils (package mailutils)

# Targets from the issue; printed next to the figures, never enforced.
TARGET_COLD_RATIO = 1.5         # labmail cold first page / grep -c
TARGET_WARM_RPS = 1000.0
TARGET_RSS_MB = 64.0

PAGE_SIZE = 50                  # messages on an inbox page (route_inbox.c)


# ------------------------------------------------------------ /proc figures

def proc_io(pid):
    """/proc/PID/io as a dict (rchar, syscr, read_bytes...)."""
    out = {}
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key.strip()] = int(value)
    return out


def proc_status_kb(pid, *keys):
    """Values in kB of /proc/PID/status lines (VmRSS, VmHWM...)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keys:
                out[key] = int(value.split()[0])
    return out


def mb(kb):
    return kb / 1024.0


def secs(v):
    return "%.3f s" % v if v < 10 else "%.1f s" % v


# ----------------------------------------------------------------- labmail

class Labmail(Proc):
    """build/labmail (BINARY) on a free loopback port, stopped by its pid.

    Its state (session key) and its log are in tmp; the log is kept for
    the error message should labmail not start."""

    def __init__(self, binary, tmp):
        self.port = free_port()
        self.base = "http://%s:%d" % (LOOPBACK, self.port)
        self.state = tempfile.mkdtemp(prefix="inbox-state-", dir=tmp)
        # --smtp: a loopback port nobody listens on; the inbox never
        # sends, and labmail must never reach its default SMTP host.
        argv = [binary, "--listen", "%s:%d" % (LOOPBACK, self.port),
                "--smtp", "%s:%d" % (LOOPBACK, free_port()),
                "--state-dir", self.state]
        Proc.__init__(self, "labmail", argv, port=self.port,
                      log=os.path.join(tmp, "inbox-labmail.log"),
                      stop_timeout=60)
        # The pid we started is the web process (it drops to nobody);
        # the privileged helper is its child.
        self.pid = self.proc.pid

    def url(self, path):
        return self.base + path


def inbox_count(text):
    m = re.search(r'class="count">(\d+) messages', text)
    return int(m.group(1)) if m else None


def get_inbox(lab, browser):
    """GET /inbox end to end: (seconds, response); fails unless 200."""
    t0 = time.monotonic()
    r = browser.get("/inbox")
    elapsed = time.monotonic() - t0
    if r.status != 200:
        raise BenchError("GET /inbox answered %d; labmail's log:\n%s"
                         % (r.status, lab.tail()))
    return elapsed, r


LARGE_ATTACHMENT = 30 * 1024 * 1024     # bytes, before base64


def append_large_message(spool):
    """Append, as local(8) would, a message with a LARGE_ATTACHMENT-byte
    attachment in base64 lines of 76; its size in the spool (From_ line
    excluded) and the attachment's bytes."""
    data = bytes(range(256)) * (LARGE_ATTACHMENT // 256)
    b64 = base64.encodebytes(data)         # 76-character lines
    msg = (b"From: Big Sender <big@mail181.com>\n"
           b"To: root@mail181.com\n"
           b"Subject: a large attachment\n"
           b"Date: Sat, 28 Nov 2026 10:00:00 +0000\n"
           b"MIME-Version: 1.0\n"
           b"Content-Type: multipart/mixed; boundary=\"big-boundary\"\n\n"
           b"--big-boundary\nContent-Type: text/plain\n\nSee attached.\n"
           b"--big-boundary\nContent-Type: application/octet-stream\n"
           b"Content-Disposition: attachment; filename=\"big.bin\"\n"
           b"Content-Transfer-Encoding: base64\n\n" + b64 +
           b"--big-boundary--\n")
    with open(spool, "ab") as f:
        f.write(b"From big@mail181.com  Sat Nov 28 10:00:00 2026\n" + msg +
                b"\n")
    return len(msg) + 1, data


def get_large(lab, browser, path, want_len):
    """GET path, which must answer 200 with want_len bytes: seconds."""
    t0 = time.monotonic()
    r = browser.get(path)
    elapsed = time.monotonic() - t0
    if r.status != 200 or len(r.body) != want_len:
        raise BenchError("GET %s answered %d with %d bytes, expected %d; "
                         "labmail's log:\n%s" % (path, r.status, len(r.body),
                                                 want_len, lab.tail()))
    return elapsed, r


def login(lab, user):
    """A logged-in labtest.Browser and its session token."""
    b = labtest.Browser(lab.base)
    try:
        r = b.post("/login", {"user": user.name, "password": user.password,
                              "csrf_token": b.csrf("/login")})
    except (OSError, ValueError) as e:
        raise BenchError("login failed: %s" % e)
    token = b.cookie("labmail_session")
    if r.status != 303 or not token:
        raise BenchError("POST /login answered %d (expected 303 and a "
                         "session cookie); labmail's log:\n%s"
                         % (r.status, lab.tail()))
    return b, token


# --------------------------------------------------------------- the spool

def mkspool(path, messages, size_mb=None, seed=181, append=False,
            timeout=300):
    argv = [sys.executable, MKSPOOL, path, "--messages", str(messages),
            "--seed", str(seed)]
    if size_mb is not None:
        argv += ["--size-mb", str(size_mb)]
    if append:
        argv.append("--append")
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError("mkspool.py did not finish in %d s" % timeout)
    if p.returncode != 0:
        raise BenchError("mkspool.py failed (%d): %s\n%s" % (
            p.returncode, " ".join(argv), p.stdout.strip()))
    return p.stdout.strip()


def grep_from(spool):
    """`grep -c '^From ' SPOOL`: (seconds, count)."""
    argv = ["grep", "-c", "^From ", spool]
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, text=True,
                       env=dict(os.environ, LC_ALL="C"), timeout=300)
    elapsed = time.monotonic() - t0
    if p.returncode not in (0, 1):
        raise BenchError("grep failed (%d)" % p.returncode)
    return elapsed, int(p.stdout.strip() or 0)


# -------------------------------------------------------------------- peer

def run_mail(spool, timeout):
    """`mail -H -f SPOOL` > /dev/null: (seconds or None if it timed out,
    max RSS in kB, exit status).  The maximum RSS is that of this very
    process, from wait4(2)'s rusage."""
    errf = tempfile.TemporaryFile()
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen([MAIL, "-H", "-f", spool],
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errf,
                                start_new_session=True)
    except OSError as e:
        errf.close()
        raise BenchError("mail could not start: %s" % e)
    result = {}

    def reap():
        _, status, ru = os.wait4(proc.pid, 0)
        result["t"] = time.monotonic() - t0
        result["status"] = os.waitstatus_to_exitcode(status)
        result["rss"] = ru.ru_maxrss

    def kill():
        # Its own process group (start_new_session), made here.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        waiter.join(30)

    waiter = threading.Thread(target=reap, daemon=True)
    waiter.start()
    try:
        waiter.join(timeout)
    except BaseException:           # interrupted: leave no mail running
        kill()
        errf.close()
        raise
    timed_out = waiter.is_alive()
    if timed_out:
        kill()
    proc.returncode = result.get("status", -9)   # reaped by wait4 above
    errf.seek(0)
    err = errf.read().decode(errors="replace").strip()
    errf.close()
    return (None if timed_out else result["t"], result.get("rss"),
            proc.returncode, err)


# -------------------------------------------------------------- benchmark

def bench_inbox(binary, tmp, duration=8, messages=100000, size_mb=1024,
                mail_timeout=150, conns=16):
    """The inbox benchmark; returns the summary lines."""
    print("== 3. GET /inbox over a %d MiB spool of %d messages: cold and "
          "warm index, a new delivery, memory; against grep and mail -H"
          % (size_mb, messages))
    print("   labmail's log goes to a file in the benchmark's temporary "
          "folder.")
    if os.geteuid() != 0:
        raise BenchError("the inbox benchmark needs root (a test user, "
                         "PAM, /var/mail, labmail's privilege separation)")
    if shutil.which("wrk") is None:
        raise BenchError("missing: wrk")
    user = None
    lab = None
    try:
        user = labtest.TestUser()
        spool = user.spool

        # ---- the spool
        t0 = time.monotonic()
        said = mkspool(spool, messages, size_mb)
        gen = time.monotonic() - t0
        shutil.chown(spool, user.name, "mail")
        os.chmod(spool, 0o600)
        size = os.stat(spool).st_size
        # Write it out now, so that writeback does not run during the
        # timings; the pages stay in the page cache.
        t0 = time.monotonic()
        os.sync()
        synced = time.monotonic() - t0
        print("   spool %s: %s; made in %.1f s, synced in %.1f s"
              % (spool, said, gen, synced))

        # ---- 1. cold index against grep -c
        lab = Labmail(binary, tmp)
        helper = children_of(lab.pid)
        browser, token = login(lab, user)
        grep_t, grep_n = grep_from(spool)             # page cache warm-up
        grep_t2, grep_n2 = grep_from(spool)           # the one timed
        io0 = proc_io(lab.pid)
        cold_t, r = get_inbox(lab, browser)
        io1 = proc_io(lab.pid)
        count = inbox_count(r.text)
        cold_read = io1["rchar"] - io0["rchar"]
        ratio = cold_t / grep_t2 if grep_t2 else 0.0
        print("   cold index (a fresh labmail process, logged in; both "
              "after two greps, the spool in the page cache):")
        print("     grep -c '^From ' SPOOL  %9s  (%d; first run %s; "
              "LC_ALL=C)" % (secs(grep_t2), grep_n2, secs(grep_t)))
        print("     labmail GET /inbox      %9s  (page 1: %s messages "
              "counted, %d bytes of HTML; read %d bytes of %d)"
              % (secs(cold_t), count, len(r.body), cold_read, size))
        print("     ratio labmail/grep      %9.2f  (target <= %.1f)%s"
              % (ratio, TARGET_COLD_RATIO,
                 "" if ratio <= TARGET_COLD_RATIO else "  [above]"))
        if count != grep_n2:
            print("     NOTE: labmail counts %s messages, grep %d From "
                  "lines" % (count, grep_n2))
        again_t, _ = get_inbox(lab, browser)
        print("     the next GET /inbox (index warm): %.2f ms" % (
            again_t * 1000))

        # ---- 2. warm index under wrk
        url = lab.url("/inbox")
        res = run_wrk(url, conns, duration,
                      headers=["Cookie: labmail_session=" + token],
                      watch={"labmail": [lab.pid] + helper}, children=False,
                      secret=token)             # a live credential
        res["cpu"] = res["cpu"]["labmail"]
        print("   warm index: %s" % res["shown"])
        print("     %.0f req/s (target >= %.0f)%s; %d requests in %.2f s, "
              "%d non-2xx, %s" % (
                  res["rps"], TARGET_WARM_RPS,
                  "" if res["rps"] >= TARGET_WARM_RPS else " [below]",
                  res["requests"], res["seconds"], res["non2xx"],
                  res["sockerr_text"] or "no socket errors"))
        print("     latency avg %.2f ms, max %.2f ms; labmail + helper CPU "
              "%.0f us/request (%.2f cores)" % (
                  res["lat_avg"] or 0, res["lat_max"] or 0,
                  res["cpu"] * 1e6 / max(res["requests"], 1),
                  res["cpu"] / res["seconds"] if res["seconds"] else 0))

        # ---- 3. one delivery, read incrementally
        io0 = proc_io(lab.pid)
        idle_t, _ = get_inbox(lab, browser)
        io1 = proc_io(lab.pid)
        idle_read = io1["rchar"] - io0["rchar"]
        before = os.stat(spool).st_size
        mkspool(spool, 1, seed=182, append=True, timeout=60)
        st = os.stat(spool)
        delivered = st.st_size - before
        if (st.st_uid, st.st_mode & 0o777) != (user.uid, 0o600):
            raise BenchError("the append changed the spool's owner or mode")
        io0 = proc_io(lab.pid)
        inc_t, r = get_inbox(lab, browser)
        io1 = proc_io(lab.pid)
        inc_read = io1["rchar"] - io0["rchar"]
        inc_calls = io1["syscr"] - io0["syscr"]
        inc_disk = io1["read_bytes"] - io0["read_bytes"]
        new_count = inbox_count(r.text)
        print("   one new message appended (mkspool.py --append "
              "--messages 1), then GET /inbox:")
        print("     %.2f ms; %s messages now; read %d bytes for a delivery "
              "of %d bytes (%d read calls, %d bytes from disk)" % (
                  inc_t * 1000, new_count, inc_read, delivered, inc_calls,
                  inc_disk))
        print("     (rchar of the web process: what it read with read/"
              "pread, the spool and its 8-byte eventfd wake-ups; sockets "
              "are read with recv and not counted; a GET /inbox with "
              "nothing new read %d bytes, %.2f ms)" % (idle_read,
                                                       idle_t * 1000))

        # ---- 4. a large message: raw source and attachment
        raw_len, attachment = append_large_message(spool)
        _, r = get_inbox(lab, browser)
        n = inbox_count(r.text)
        raw_t, _ = get_large(lab, browser, "/inbox/%d/raw" % n, raw_len)
        part_t, r = get_large(lab, browser, "/inbox/%d/part/2" % n,
                              len(attachment))
        if r.body != attachment:
            raise BenchError("the large attachment came back altered")
        print("   a message of %.1f MB appended (a %.0f MB attachment in "
              "base64): raw source in %.2f s, attachment (decoded, "
              "identical) in %.2f s" % (raw_len / 1048576.0,
                                         len(attachment) / 1048576.0,
                                         raw_t, part_t))

        # ---- 5. memory of the web process
        mem = proc_status_kb(lab.pid, "VmRSS", "VmHWM")
        hmem = {}
        if helper:
            try:
                hmem = proc_status_kb(helper[0], "VmRSS", "VmHWM")
            except OSError:
                pass
        top_mb = mb(max(mem.get("VmRSS", 0), mem.get("VmHWM", 0)))
        print("   memory of the web process (pid %d) after all of the "
              "above: VmRSS %.1f MB, VmHWM %.1f MB (target < %.0f MB)%s"
              % (lab.pid, mb(mem.get("VmRSS", 0)), mb(mem.get("VmHWM", 0)),
                 TARGET_RSS_MB, "" if top_mb < TARGET_RSS_MB
                 else "  [above]"))
        if hmem:
            print("     privileged helper (pid %d): VmRSS %.1f MB, "
                  "VmHWM %.1f MB" % (helper[0], mb(hmem["VmRSS"]),
                                     mb(hmem["VmHWM"])))
        lab_rc = lab.stop()
        if lab_rc not in (0, None):
            print("   note: labmail exited with status %d" % lab_rc)

        # ---- 6. peer: mail -H
        mail_line = "mail -H: not run (no `mail` here: package mailutils)"
        if shutil.which(MAIL) is None:
            print("   " + mail_line)
        else:
            mail_line = peer_mail(spool, cold_t, mem, mail_timeout)

        return [
            "inbox cold: labmail first page %s, grep -c %s, ratio %.2f "
            "(target <= %.1f)%s" % (
                secs(cold_t), secs(grep_t2), ratio, TARGET_COLD_RATIO,
                "" if ratio <= TARGET_COLD_RATIO else " [above]"),
            "inbox warm: %.0f req/s (target >= %.0f)%s, %d non-2xx, "
            "c=%d" % (res["rps"], TARGET_WARM_RPS,
                      "" if res["rps"] >= TARGET_WARM_RPS else " [below]",
                      res["non2xx"], conns),
            "inbox new mail: read %d bytes for a delivery of %d bytes "
            "(%d with nothing new), %.1f ms" % (
                inc_read, delivered, idle_read, inc_t * 1000),
            "inbox memory: VmRSS %.1f MB, VmHWM %.1f MB (target < %.0f MB)"
            "%s" % (mb(mem.get("VmRSS", 0)), mb(mem.get("VmHWM", 0)),
                    TARGET_RSS_MB,
                    "" if top_mb < TARGET_RSS_MB else " [above]"),
            mail_line,
        ]
    finally:
        if lab is not None:
            lab.stop()
        if user is not None:
            user.remove()               # userdel, and the spool
            for leftover in (user.spool + ".lock",):
                try:
                    os.unlink(leftover)
                except FileNotFoundError:
                    pass


def peer_mail(spool, cold_t, mem, timeout):
    """mail -H -f on the same spool: once as found (Mailutils then adds
    its X-IMAPbase/X-UID headers and rewrites the spool), and once more
    if that changed the file and time allows (read only)."""
    print("   peer: mail -H -f SPOOL > /dev/null (GNU Mailutils), timeout "
          "%d s; max RSS from wait4(2)" % timeout)
    size0 = os.stat(spool).st_size
    t, rss, status, err = run_mail(spool, timeout)
    size1 = os.stat(spool).st_size
    rewrote = size1 != size0
    runs = [("first open", t, rss, status, err)]
    if t is not None and rewrote and t < timeout / 2:
        t2, rss2, status2, err2 = run_mail(spool, timeout - t)
        runs.append(("second open", t2, rss2, status2, err2))
    lab_rss = mem.get("VmHWM", 0)
    shown = []
    for name, t, rss, status, err in runs:
        when = ("> %d s (stopped)" % timeout) if t is None else secs(t)
        ratio = ("labmail cold first page / mail -H = %.3f" % (cold_t / t)
                 if t else "")
        print("     %-11s %14s  max RSS %7.1f MB  %s%s" % (
            name, when, mb(rss or 0), ratio,
            "  (exit %d: %s)" % (status, err[-200:]) if status and
            t is not None else ""))
        shown.append("%s %s" % (when, name))
    if rewrote:
        print("     the first open rewrote the spool: %d -> %d bytes "
              "(Mailutils adds X-IMAPbase/X-UID headers); the second "
              "only reads" % (size0, size1))
    print("     labmail: cold first page %s, VmHWM %.1f MB (web process)"
          % (secs(cold_t), mb(lab_rss)))
    print()
    first = runs[0]
    return ("inbox peer: mail -H %s; max RSS %.0f MB vs labmail %.1f MB; "
            "labmail cold first page %s" % (
                ", ".join(shown), mb(first[2] or 0), mb(lab_rss),
                secs(cold_t)))


# -------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--duration", type=int, default=8,
                    help="seconds of the wrk run (default 8)")
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--mail-timeout", type=int, default=150,
                    help="seconds mail -H may take (default 150)")
    args = ap.parse_args()
    try:
        binary = benchlib.find_binary(args.build)
    except BenchError as e:
        print("bench: %s" % e, file=sys.stderr)
        return 1
    return benchlib.run_main(
        lambda tmp: bench_inbox(binary, tmp, args.duration, args.messages,
                                args.size_mb, args.mail_timeout),
        "127.0.0.1")


if __name__ == "__main__":
    sys.exit(main())
