"""labmail's FastCGI and CGI front end, spoken to directly.

test_frontends.py runs labmail behind real web servers, which send only
well-formed requests.  Here a small FastCGI client of our own sends what
a broken or hostile peer could (anyone who can reach a TCP FastCGI port
on the machine): a body cut short, a connection that never speaks, a
forged REMOTE_ADDR, a SCRIPT_NAME holding a line end.  CGI gets a short
standard input.

Everything listens on 127.0.0.1; every process is stopped by its pid.
"""

import os
import pwd
import re
import resource
import shutil
import socket
import stat
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import labtest

# FastCGI record types (the FastCGI 1.0 specification, section 8).
BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6
RESPONDER = 1


def record(kind, body, request_id=1):
    return struct.pack(">BBHHBx", 1, kind, request_id, len(body), 0) + body


def name_value(name, value):
    """One FastCGI name-value pair, lengths under 128 or on 4 bytes."""
    out = b""
    for item in (name, value):
        n = len(item)
        out += bytes([n]) if n < 128 else struct.pack(">I", n | 1 << 31)
    return out + name + value


def request_bytes(params, body=b"", keep=False):
    """A whole request: BEGIN_REQUEST, PARAMS, STDIN, each stream ended
    by an empty record."""
    pairs = b"".join(name_value(k.encode(), v.encode())
                     for k, v in params.items())
    return (record(BEGIN_REQUEST, struct.pack(">HB5x", RESPONDER,
                                              1 if keep else 0)) +
            record(PARAMS, pairs) + record(PARAMS, b"") +
            (record(STDIN, body) if body else b"") + record(STDIN, b""))


def read_reply(sock):
    """The STDOUT bytes of one reply, up to its END_REQUEST."""
    out = b""
    buf = b""
    while True:
        while len(buf) < 8:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before END_REQUEST")
            buf += chunk
        _, kind, _, length, padding = struct.unpack(">BBHHBx", buf[:8])
        while len(buf) < 8 + length + padding:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed inside a record")
            buf += chunk
        body, buf = buf[8:8 + length], buf[8 + length + padding:]
        if kind == STDOUT:
            out += body
        elif kind == END_REQUEST:
            return out


def parse(reply):
    """(status, {lower-case header: value}, body) of a CGI reply."""
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(headers["status"].split()[0]), headers, body


def params(path="/guide", method="GET", **extra):
    p = {"REQUEST_METHOD": method, "SCRIPT_NAME": "/labmail",
         "PATH_INFO": path, "REQUEST_URI": "/labmail" + path,
         "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1"}
    p.update(extra)
    return p


class LabmailFcgi:
    """build/labmail --fastcgi on a loopback TCP port."""

    def __init__(self, wrapper=(), listener=None):
        """listener: a listening socket to pass as standard input, as
        systemd and spawn-fcgi do; else labmail makes its own."""
        self.tmp = tempfile.mkdtemp(prefix="labmail-fcgi-wire-")
        self.log = os.path.join(self.tmp, "labmail.log")
        self.final_output = None
        if listener is not None:
            self.port = listener.getsockname()[1]
            where = "--fastcgi"
        else:
            self.port = labtest.free_port()
            where = "--fastcgi=%s:%d" % (labtest.LOOPBACK, self.port)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                list(wrapper) + [labtest.LABMAIL, where, "--smtp", "%s:%d" % (
                    labtest.LOOPBACK, labtest.free_port()),
                    "--state-dir", self.tmp],
                stdin=listener.fileno() if listener else subprocess.DEVNULL,
                stdout=log, stderr=log)
        labtest.wait_port(self.port, self.proc)

    def connect(self, timeout=10):
        return socket.create_connection((labtest.LOOPBACK, self.port),
                                        timeout=timeout)

    def ask(self, p, body=b"", raw=None, timeout=10):
        """Send one request (or raw bytes) on a new connection."""
        with self.connect(timeout) as s:
            s.sendall(raw if raw is not None else request_bytes(p, body))
            return parse(read_reply(s))

    def output(self):
        if self.final_output is not None:
            return self.final_output
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self):
        """Stop labmail, keep its log text, remove its folder."""
        status = labtest.stop_process(self.proc)
        out = self.output()
        self.final_output = out
        shutil.rmtree(self.tmp, True)
        for alarm in ("AddressSanitizer", "runtime error:"):
            if alarm in out:
                raise AssertionError("labmail: %s\n%s" % (alarm, out[-3000:]))
        if status != 0:
            raise AssertionError("labmail exited with %d\n%s" % (
                status, out[-3000:]))


class FastcgiWire(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.lm = LabmailFcgi()

    @classmethod
    def tearDownClass(cls):
        cls.lm.stop()

    def test_guide(self):
        status, headers, body = self.lm.ask(params())
        self.assertEqual(status, 200)
        self.assertEqual(int(headers["content-length"]), len(body))
        self.assertIn(b'href="/labmail/send"', body)

    def test_http_and_https_pages_are_cached_apart(self):
        """The guide is cached once for HTTP and once for HTTPS: HSTS
        comes over HTTPS only, once, whichever was asked first."""
        for https in (True, False, True, False):
            p = params("/guide", SCRIPT_NAME="/hsts",
                       REQUEST_URI="/hsts/guide")
            if https:
                p["HTTPS"] = "on"
            with self.lm.connect() as s:
                s.sendall(request_bytes(p))
                reply = read_reply(s)
            self.assertTrue(reply.startswith(b"Status: 200"), reply[:80])
            head = reply.split(b"\r\n\r\n", 1)[0].lower()
            self.assertEqual(head.count(b"\nstrict-transport-security:"),
                             1 if https else 0, head)

    def test_body_cut_short_is_refused(self):
        """The peer said 400 bytes and sent 300: no page runs on it."""
        form = b"from=a%40b.c&to=root%40mail181.com&subject=x&body=" + \
            b"y" * 400
        p = params("/send", "POST",
                   CONTENT_TYPE="application/x-www-form-urlencoded",
                   CONTENT_LENGTH=str(len(form)))
        status, _, _ = self.lm.ask(p, form[:300])
        self.assertEqual(status, 400)
        status, _, _ = self.lm.ask(p, form)      # whole: 403, no CSRF token
        self.assertEqual(status, 403)

    def test_a_silent_connection_keeps_nobody_waiting(self):
        silent = [self.lm.connect() for _ in range(8)]
        try:
            t0 = time.monotonic()
            status, _, _ = self.lm.ask(params(), timeout=10)
            self.assertEqual(status, 200)
            self.assertLess(time.monotonic() - t0, 10)
        finally:
            for s in silent:
                s.close()

    def test_kept_connection(self):
        """FCGI_KEEP_CONN: several requests on one connection."""
        with self.lm.connect() as s:
            for path in ("/guide", "/", "/send"):
                s.sendall(request_bytes(params(path), keep=True))
                self.assertEqual(parse(read_reply(s))[0], 200, path)

    def test_kept_connection_input_ending_late(self):
        """The end of a request's input (its empty STDIN record) may
        come after the body: labmail reads it before the next request
        of a kept connection, which is then answered (libfcgi would take
        it for the next request's start, and drop the connection)."""
        form = b"csrf_token=x"
        whole = request_bytes(params(
            "/send", "POST", CONTENT_LENGTH=str(len(form)),
            CONTENT_TYPE="application/x-www-form-urlencoded"), form,
            keep=True)
        end = record(STDIN, b"")
        with self.lm.connect() as s:
            s.sendall(whole[:-len(end)])
            time.sleep(0.3)     # the body alone, read and answered first
            s.sendall(end)
            self.assertEqual(parse(read_reply(s))[0], 403)
            s.sendall(request_bytes(params("/guide"), keep=True))
            self.assertEqual(parse(read_reply(s))[0], 200)

    def test_remote_addr_must_be_an_address(self):
        forged = '127.0.0.1 - - [x] "GET /forged HTTP/1.1" 200 1\nfake'
        self.lm.ask(params("/guide", REQUEST_URI="/labmail/guide?peer=1",
                           REMOTE_ADDR=forged))
        self.lm.ask(params("/guide", REQUEST_URI="/labmail/guide?peer=2",
                           REMOTE_ADDR="::1%x " + forged))
        self.lm.ask(params("/guide", REQUEST_URI="/labmail/guide?peer=3",
                           REMOTE_ADDR="127.0.0.5"))
        self.lm.ask(params("/guide", REQUEST_URI="/labmail/guide?peer=4",
                           REMOTE_ADDR="0:0::1"))
        for _ in range(50):
            lines = self.lm.output().splitlines()
            mine = [line for line in lines if "/labmail/guide?peer=" in line]
            if len(mine) == 4:
                break
            time.sleep(0.1)
        self.assertTrue(mine[0].startswith('- - - ['), mine[0])
        self.assertTrue(mine[1].startswith('- - - ['), mine[1])
        self.assertTrue(mine[2].startswith('127.0.0.5 - - ['), mine[2])
        self.assertTrue(mine[3].startswith('::1 - - ['), mine[3])
        self.assertFalse(any(line.startswith("fake") for line in lines))

    def test_too_many_variables(self):
        """CGI variables over 16 KiB together: 431, as standalone
        labmail answers header fields over that."""
        status, _, _ = self.lm.ask(params(HTTP_COOKIE="a=" + "b" * 8000))
        self.assertEqual(status, 200)
        status, _, _ = self.lm.ask(params(HTTP_COOKIE="a=" + "b" * 17000))
        self.assertEqual(status, 431)

    def test_line_end_in_script_name(self):
        status, headers, _ = self.lm.ask(params(
            "/guide", SCRIPT_NAME="/labmail\r\nX-Injected: 1"))
        self.assertEqual(status, 400)
        self.assertNotIn("x-injected", headers)

    def test_more_prefixes_than_cached_pages(self):
        """The guide is cached per prefix, 64 pages at most (app.h):
        past that it is rendered each time, still with its own links."""
        for i in list(range(70)) + [3, 69]:
            status, _, body = self.lm.ask(params(
                "/guide", SCRIPT_NAME="/p%d" % i))
            self.assertEqual(status, 200)
            self.assertIn(b'href="/p%d/send"' % i, body)

    def test_not_modified_has_no_length(self):
        """RFC 9110 8.6: a 304 tells no Content-Length (it would have to
        be the 200's)."""
        status, headers, _ = self.lm.ask(params("/static/style.css"))
        self.assertEqual(status, 200)
        status, headers, body = self.lm.ask(params(
            "/static/style.css", HTTP_IF_NONE_MATCH=headers["etag"]))
        self.assertEqual(status, 304)
        self.assertNotIn("content-length", headers)
        self.assertEqual(body, b"")


class OutOfDescriptors(unittest.TestCase):

    def test_accepting_resumes(self):
        """With more connections than it has descriptors, labmail waits
        and accepts again once some close: it never stops serving."""
        lm = LabmailFcgi(wrapper=("prlimit", "--nofile=64"))
        self.addCleanup(lm.stop)
        conns = [lm.connect() for _ in range(100)]
        time.sleep(0.5)
        for s in conns:
            s.close()
        status, _, _ = lm.ask(params(), timeout=10)
        self.assertEqual(status, 200)
        self.assertIn("cannot accept a connection", lm.output())


def c_define(header, name):
    """The integer value of #define name in src/header."""
    with open(os.path.join(labtest.TOP, "src", header)) as f:
        m = re.search(r"^#define\s+%s\s+(\d+)\b" % name, f.read(), re.M)
    if m is None:
        raise AssertionError("no #define %s in src/%s" % (name, header))
    return int(m.group(1))


def answer_or_none(lm):
    """One request on a new connection: its (status, headers, body), or
    None if labmail closed the connection without an answer."""
    try:
        with lm.connect() as s:
            s.sendall(request_bytes(params()))
            return parse(read_reply(s))
    except ConnectionError:         # closed, reset, broken pipe
        return None


def soft_fd_limit(pid):
    """The soft limit on open files of process pid."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no open-files limit for %d" % pid)


class ConnectionLimit(unittest.TestCase):

    def setUp(self):
        """Room for the test's own connections, whatever the shell's
        limit (limits are per process: labmail's are set apart)."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < 4096:
            self.skipTest("the hard limit on open files is below 4096")
        want = 4096
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE,
                            (soft, hard))

    def test_soft_limit_is_raised(self):
        """labmail raises its soft limit on open files to the hard one
        (at most 65536), never lowers it: the usual 1024 would run out
        before its connection limits."""
        cases = [("1024:4096", 4096)]
        # Past the test's own hard limit only with CAP_SYS_RESOURCE.
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard == resource.RLIM_INFINITY or hard >= 100000:
            cases += [("1024:100000", 65536), ("70000:100000", 70000)]
        for limits, want in cases:
            lm = LabmailFcgi(wrapper=("prlimit", "--nofile=" + limits))
            try:
                # Answered: labmail is past its start-up, limit set.
                self.assertEqual(lm.ask(params())[0], 200)
                self.assertEqual(soft_fd_limit(lm.proc.pid), want, limits)
            finally:
                lm.stop()

    def test_past_the_limit_new_connections_are_closed(self):
        """A thread per connection, so at most FRONT_FCGI_CONNS_MAX at
        once: past it, a new connection is closed unanswered; when one
        ends, new ones are served again."""
        limit = c_define("front_fcgi.h", "FRONT_FCGI_CONNS_MAX")
        lm = LabmailFcgi(wrapper=("prlimit", "--nofile=4096"))
        self.addCleanup(lm.stop)
        # Silent: each holds its thread, waiting for a first request.
        conns = [lm.connect() for _ in range(limit)]
        self.addCleanup(lambda: [s.close() for s in conns])
        answer = answer_or_none(lm)
        self.assertIsNone(answer and answer[0],     # the status, if any
                          "connection %d was served" % (limit + 1))
        self.assertIn("%d connections open" % limit, lm.output())
        conns.pop().close()
        for _ in range(50):         # until labmail has seen it close
            answer = answer_or_none(lm)
            if answer is not None:
                break
            time.sleep(0.1)
        self.assertIsNotNone(answer)
        self.assertEqual(answer[0], 200)


class UnixSocket(unittest.TestCase):
    """--fastcgi=PATH: the socket is made aside with its mode and owner,
    then moved into place; a stale socket is replaced, any other file is
    not, and nothing is left behind."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="labmail-fcgi-sock-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.state = tempfile.mkdtemp(prefix="labmail-fcgi-state-")
        self.addCleanup(shutil.rmtree, self.state, True)
        self.log = os.path.join(self.state, "labmail.log")

    def start(self, path, *args):
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(
                [labtest.LABMAIL, "--fastcgi=" + path, *args,
                 "--smtp", "%s:%d" % (labtest.LOOPBACK, labtest.free_port()),
                 "--state-dir", self.state],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.addCleanup(labtest.stop_process, proc)
        return proc

    def output(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def ask(self, path, proc):
        """A request over the socket, once labmail listens on it."""
        labtest.wait_unix(path, proc)
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(path)
            s.sendall(request_bytes(params()))
            return parse(read_reply(s))

    def test_made_whole_and_stale_one_replaced(self):
        path = os.path.join(self.dir, "fcgi.sock")
        # Giving a file away takes root; else the owner stays ours.
        owner = pwd.getpwnam("nobody" if labtest.is_root() else
                             pwd.getpwuid(os.geteuid()).pw_name)
        for run in range(2):        # the second finds the first's socket
            proc = self.start(path, "--socket-mode=0660",
                              "--socket-owner=" + owner.pw_name)
            self.assertEqual(self.ask(path, proc)[0], 200)
            st = os.lstat(path)
            self.assertTrue(stat.S_ISSOCK(st.st_mode))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
            self.assertEqual((st.st_uid, st.st_gid),
                             (owner.pw_uid, owner.pw_gid))
            self.assertEqual(os.listdir(self.dir), ["fcgi.sock"], run)
            self.assertEqual(labtest.stop_process(proc), 0, self.output())
        for alarm in ("AddressSanitizer", "runtime error:"):
            self.assertNotIn(alarm, self.output())

    def test_longest_path(self):
        """A path as long as a socket address takes (107 bytes) works:
        the folder it is made in first is not named by path."""
        sub = os.path.join(self.dir, "d" * (100 - len(self.dir)))
        os.mkdir(sub)
        path = os.path.join(sub, "s" * (107 - len(sub) - 1))
        self.assertEqual(len(path), 107)
        proc = self.start(path)
        self.assertEqual(self.ask(path, proc)[0], 200)
        self.assertEqual(os.listdir(sub), [os.path.basename(path)])

    def test_another_file_stays(self):
        path = os.path.join(self.dir, "fcgi.sock")
        with open(path, "w") as f:
            f.write("not a socket\n")
        proc = self.start(path)
        self.assertNotEqual(proc.wait(timeout=30), 0)
        self.assertIn("cannot listen on %s: File exists" % path,
                      self.output())
        with open(path) as f:
            self.assertEqual(f.read(), "not a socket\n")
        self.assertEqual(os.listdir(self.dir), ["fcgi.sock"])

    def test_no_folder(self):
        path = os.path.join(self.dir, "missing", "fcgi.sock")
        proc = self.start(path)
        self.assertNotEqual(proc.wait(timeout=30), 0)
        self.assertIn("cannot listen on %s: No such file or directory"
                      % path, self.output())
        self.assertEqual(os.listdir(self.dir), [])

    def test_a_folder_is_no_socket_path(self):
        """A path that names a folder is refused, not taken as the
        folder's last component."""
        os.mkdir(os.path.join(self.dir, "sub"))
        for path in (self.dir + "/sub/", self.dir + "/sub/.."):
            proc = self.start(path)
            self.assertNotEqual(proc.wait(timeout=30), 0, path)
            self.assertIn("%s: a socket path names a file, not a folder"
                          % path, self.output())
        self.assertEqual(os.listdir(self.dir), ["sub"])
        self.assertEqual(os.listdir(self.dir + "/sub"), [])


class Stopping(unittest.TestCase):

    def test_a_trickling_client_cannot_hold_the_stop(self):
        """A peer that sends a byte now and then, mid-request: labmail
        still stops (its connections are shut down after a grace
        period)."""
        lm = LabmailFcgi()
        whole = request_bytes(params())
        s = lm.connect()
        s.sendall(whole[:20])
        stop = threading.Event()

        def trickle():
            for b in whole[20:-1]:
                if stop.wait(0.5):
                    return
                try:
                    s.send(bytes([b]))
                except OSError:
                    return
        t = threading.Thread(target=trickle)
        t.start()
        try:
            time.sleep(1)
            lm.proc.terminate()
            lm.proc.wait(timeout=60)
        finally:
            stop.set()
            t.join()
            s.close()
            if lm.proc.poll() is None:      # it did not stop: fail,
                lm.proc.kill()              # but leave nothing behind
        lm.stop()       # the exit status and the log

    def test_a_shared_socket_outlives_labmail(self):
        """The listening socket passed as standard input (systemd,
        spawn-fcgi) is not shut down when labmail stops: the next
        labmail on it serves."""
        listener = socket.socket()
        listener.bind((labtest.LOOPBACK, 0))
        listener.listen(16)
        self.addCleanup(listener.close)
        first = LabmailFcgi(listener=listener)
        self.addCleanup(lambda: first.proc.poll() is None and
                        first.proc.kill())
        self.assertEqual(first.ask(params())[0], 200)
        first.stop()
        second = LabmailFcgi(listener=listener)
        self.addCleanup(second.stop)
        self.assertEqual(second.ask(params())[0], 200)


class CgiShortBody(unittest.TestCase):

    def test_body_cut_short_is_refused(self):
        """Standard input that ends before CONTENT_LENGTH: 400."""
        tmp = tempfile.mkdtemp(prefix="labmail-cgi-short-")
        self.addCleanup(shutil.rmtree, tmp, True)
        conf = os.path.join(tmp, "labmail.conf")
        with open(conf, "w") as f:
            f.write("[labmail]\nsmtp = %s:%d\nstate-dir = %s\n" % (
                labtest.LOOPBACK, labtest.free_port(), tmp))
        form = b"from=a%40b.c&to=root%40mail181.com&body=" + b"y" * 400
        env = dict(os.environ, GATEWAY_INTERFACE="CGI/1.1",
                   LABMAIL_CONFIG=conf, REQUEST_METHOD="POST",
                   SCRIPT_NAME="/labmail", PATH_INFO="/send",
                   SERVER_PROTOCOL="HTTP/1.1", REMOTE_ADDR="127.0.0.1",
                   CONTENT_TYPE="application/x-www-form-urlencoded",
                   CONTENT_LENGTH=str(len(form)))
        p = subprocess.run([labtest.LABMAIL], input=form[:300], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
        self.assertTrue(p.stdout.startswith(b"Status: 400 "), p.stdout[:200])


class CgiMissingConfig(unittest.TestCase):

    def test_missing_config_named_by_the_environment_is_an_error(self):
        """LABMAIL_CONFIG naming no file stops the run (status 2, the
        file named), as a missing --config does: the lab's defaults
        would send to 192.168.0.81 instead of the server meant."""
        missing = os.path.join(tempfile.gettempdir(),
                               "labmail-no-such-dir", "labmail.conf")
        env = dict(os.environ, GATEWAY_INTERFACE="CGI/1.1",
                   LABMAIL_CONFIG=missing, REQUEST_METHOD="GET",
                   SCRIPT_NAME="/labmail", PATH_INFO="/guide",
                   SERVER_PROTOCOL="HTTP/1.1", REMOTE_ADDR="127.0.0.1")
        p = subprocess.run([labtest.LABMAIL], stdin=subprocess.DEVNULL,
                           env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 2, p.stdout[:200])
        self.assertEqual(p.stdout, b"")
        self.assertIn(missing, p.stderr.decode())
        # Empty, it is as if unset: the page is served.
        env["LABMAIL_CONFIG"] = ""
        p = subprocess.run([labtest.LABMAIL], stdin=subprocess.DEVNULL,
                           env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr[-500:])
        self.assertTrue(p.stdout.startswith(b"Status: 200 "), p.stdout[:80])


if __name__ == "__main__":
    unittest.main()
