"""labtest - what the integration tests share: real servers on loopback.

Every server here is started by the test that needs it, on 127.0.0.1,
and stopped by pid: labmail itself, a private Postfix instance that
delivers locally only, smtp-sink, and the fault-injecting faultsmtp.py.
Test users are created with useradd/chpasswd and removed afterwards.
Nothing here ever connects outside the loopback network.
"""

import http.cookiejar
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LABMAIL_BUILD", os.path.join(TOP, "build"))
LABMAIL = os.path.join(BUILD, "labmail")
PYTHON = "/usr/bin/python3"
FAULTSMTP = os.path.join(TOP, "tests", "tools", "faultsmtp.py")
LOOPBACK = "127.0.0.1"
DOMAIN = "mail181.com"


def free_port():
    """A TCP port on loopback that nobody listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=15.0):
    """Wait until something accepts on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %d" % proc.returncode)
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


def wait_unix(path, proc=None, timeout=15.0):
    """Wait until something accepts on the Unix socket path."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %d" % proc.returncode)
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %s" % path)


def stop_process(proc, timeout=60):
    """SIGTERM to this pid only, SIGKILL if it lingers; the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def count_connections(port):
    """Established TCP connections to 127.0.0.1:port, from /proc."""
    n = 0
    hexport = ":%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if local.endswith(hexport) and state == "01":
                n += 1
    return n


def check_sends_do_not_block(test, base, server, form, n, pages=("/guide",)):
    """With n sends hanging on the silent SMTP server, each with its
    connection open, the pages still answer; once the server is gone,
    every send gets 502.  No timing threshold: the proof is that no send
    has finished meanwhile."""
    token = Browser(base).csrf()
    statuses = []

    def send():
        statuses.append(Browser(base).post(
            "/send", dict(form, csrf_token=token),
            {"Cookie": "labmail_csrf=" + token}).status)

    threads = [threading.Thread(target=send) for _ in range(n)]
    for t in threads:
        t.start()
    # Wait until all n SMTP connections are open and waiting.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and count_connections(
            server.port) < n:
        time.sleep(0.05)
    test.assertGreaterEqual(count_connections(server.port), n)
    for page in pages:
        for _ in range(5):
            test.assertEqual(Browser(base).get(page).status, 200, page)
    test.assertEqual(statuses, [], "a hanging send finished early")
    server.stop()          # the sends now fail fast
    for t in threads:
        t.join(60)
    test.assertEqual(sorted(set(statuses)), [502])


def is_root():
    return os.geteuid() == 0


class Labmail:
    """build/labmail on a free loopback port, stopped with SIGTERM."""

    def __init__(self, *args, smtp_port=None, wrapper=(), timeout=15.0,
                 state_dir=None):
        self.port = free_port()
        self.smtp_port = smtp_port
        # The session key lives here; share it to keep sessions valid
        # across restarts.
        self.own_state = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="labmail-state-")
        self.base = "http://%s:%d" % (LOOPBACK, self.port)
        self.log = tempfile.NamedTemporaryFile(prefix="labmail-", suffix=".log",
                                               delete=False)
        argv = [LABMAIL, "--listen", "%s:%d" % (LOOPBACK, self.port),
                "--state-dir", self.state_dir]
        if smtp_port is not None:
            argv += ["--smtp", "%s:%d" % (LOOPBACK, smtp_port)]
        self.proc = subprocess.Popen(list(wrapper) + argv + list(args),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, timeout)

    def url(self, path):
        return self.base + path

    def stop(self):
        """SIGTERM; returns the exit status (0 for a clean shutdown)."""
        status = stop_process(self.proc)
        self.log.close()
        return status

    def output(self):
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def cleanup(self):
        """Stop; fail if labmail did not exit cleanly or a sanitizer spoke."""
        status = self.stop()
        out = self.output()
        os.unlink(self.log.name)
        if self.own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        for alarm in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if alarm in out:
                raise AssertionError("labmail: %s\n%s" % (alarm, out[-4000:]))
        if status != 0:
            raise AssertionError("labmail exited with %d\n%s" %
                                 (status, out[-4000:]))


class FaultSMTP:
    """tests/tools/faultsmtp.py in one of its modes."""

    def __init__(self, mode, save_dir=None):
        argv = [PYTHON, FAULTSMTP, "--port", "0", "--mode", mode]
        if save_dir is not None:
            argv += ["--save", save_dir]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "ready":
            self.stop()
            raise RuntimeError("faultsmtp did not start: %r" % line)
        self.port = int(line[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()


class SmtpSink:
    """Postfix's smtp-sink on a free loopback port."""

    def __init__(self, *options):
        self.port = free_port()
        # As root, smtp-sink wants a user to run as (-u).
        user = ["-u", "nobody"] if is_root() else []
        self.proc = subprocess.Popen(
            ["smtp-sink", *user, *options, "%s:%d" % (LOOPBACK, self.port), "256"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Postfix:
    """A private Postfix instance: loopback only, local delivery only.

    It has its own configuration and queue under a temporary folder and
    delivers to /var/mail/USER with local(8), as the lab's server does.
    Mail for any other domain bounces (default_transport = error).
    """

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="labmail-postfix-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        queue = os.path.join(self.dir, "queue")
        data = os.path.join(self.dir, "data")
        os.makedirs(queue)
        os.makedirs(data)
        shutil.chown(data, "postfix")
        self.maillog = os.path.join(self.dir, "maillog")
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = smtp181.{DOMAIN}
mydestination = {DOMAIN}, localhost
mynetworks = 127.0.0.0/8
default_transport = error
relay_transport = error
alias_maps =
alias_database =
maillog_file = {self.maillog}
maillog_file_prefixes = {self.dir}
smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
""")
        with open("/etc/postfix/master.cf") as f:
            master = f.read().splitlines()
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            for line in master:
                if line.startswith("smtp ") and " inet " in line:
                    line = "%s:%d inet n - n - - smtpd" % (LOOPBACK, self.port)
                f.write(line + "\n")
        subprocess.run(["postfix", "-c", self.dir, "start"], check=True)
        wait_port(self.port)

    def stop(self):
        subprocess.run(["postfix", "-c", self.dir, "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


class TestUser:
    """A local Unix user with a password and an empty spool."""

    def __init__(self):
        self.name = "lmt" + secrets.token_hex(4)
        self.password = secrets.token_urlsafe(12)
        subprocess.run(["useradd", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", self.name], check=True)
        subprocess.run(["chpasswd"], input="%s:%s\n" % (self.name, self.password),
                       text=True, check=True)
        self.uid = pwd.getpwnam(self.name).pw_uid
        self.spool = "/var/mail/" + self.name

    def wait_mail(self, count=1, timeout=20.0):
        """The spool once it holds count messages (From_ lines)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.spool, "rb") as f:
                    data = f.read()
                if data.count(b"\nFrom ") + data.startswith(b"From ") >= count:
                    return data
            except FileNotFoundError:
                pass
            time.sleep(0.1)
        raise AssertionError("no mail in %s after %gs" % (self.spool, timeout))

    def remove(self):
        subprocess.run(["userdel", self.name], stderr=subprocess.DEVNULL)
        try:
            os.unlink(self.spool)
        except FileNotFoundError:
            pass


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self.text = body.decode("utf-8", errors="replace")


class Browser:
    """A tiny HTTP client with a cookie jar that does not follow redirects."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), self._NoRedirect())

    def request(self, method, path, data=None, headers=None):
        body = None
        hdrs = dict(headers or {})
        if isinstance(data, dict):
            body = urllib.parse.urlencode(data).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif data is not None:
            body = data
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=hdrs)
        try:
            with self.opener.open(req, timeout=120) as r:
                return Response(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, e.headers, e.read())

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post(self, path, data, headers=None):
        return self.request("POST", path, data, headers)

    def cookie(self, name):
        for c in self.jar:
            if c.name == name:
                return c.value
        return None

    def csrf(self, path="/send"):
        """Load a form page and return its CSRF token."""
        r = self.get(path)
        marker = 'name="csrf_token" value="'
        start = r.text.index(marker) + len(marker)
        return r.text[start:r.text.index('"', start)]
