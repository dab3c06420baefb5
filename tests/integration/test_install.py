"""make install and make uninstall into a DESTDIR; logging options.

make runs from the top of the checkout on the build that exists (it is
told not to rebuild labmail), with PREFIX=/usr/local.  The installed
binary is then run from the DESTDIR: its compiled-in share directory is
the real /usr/local/share/labmail, so --data-dir points it at the
DESTDIR's copy.  Everything listens on loopback only and --smtp names a
loopback port where nothing listens.
"""

import http.client
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import labtest

PREFIX = "/usr/local"
BINDIR = PREFIX + "/sbin"
UNITDIR = PREFIX + "/lib/systemd/system"
MANDIR = PREFIX + "/share/man"
CONF = "/etc/labmail/labmail.conf"
UNITS = ("labmail.service", "labmail-fcgi.service", "labmail-fcgi.socket")


def compiled_datadir():
    """The share directory built into the binary (its --help says it)."""
    out = subprocess.run([labtest.LABMAIL, "--help"], capture_output=True,
                         text=True, check=True).stdout
    return re.search(r"else (/[^)]*)\)", out).group(1)


def make(*args):
    """make ARGS from the top, on the existing build; output on failure."""
    env = dict(os.environ)
    # Not the variables of a make check that runs us (PREFIX=...).
    for var in ("MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "MAKELEVEL"):
        env.pop(var, None)
    build = labtest.BUILD
    argv = ["make", "--no-print-directory", "-o", build + "/labmail",
            "B=" + build, "PREFIX=" + PREFIX, "DATADIR=" + compiled_datadir(),
            *args]
    p = subprocess.run(argv, cwd=labtest.TOP, env=env, capture_output=True,
                       text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (" ".join(argv),
                             p.returncode, p.stdout, p.stderr))
    return p


def files_under(top):
    """Every non-directory under top, as paths relative to it."""
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        for name in filenames + [d for d in dirnames
                                 if os.path.islink(os.path.join(dirpath, d))]:
            found.append(os.path.relpath(os.path.join(dirpath, name), top))
    return sorted(found)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


class Running:
    """A labmail binary on a free loopback port, stopped with SIGTERM.

    stderr goes to a file; env and a wrapper command (unshare) may be
    given.  labtest.Labmail always runs build/labmail, hence this.
    """

    def __init__(self, binary, *args, env=None, wrapper=()):
        self.port = labtest.free_port()
        self.state = tempfile.mkdtemp(prefix="labmail-state-")
        self.log = tempfile.NamedTemporaryFile(prefix="labmail-", suffix=".log",
                                               delete=False)
        st = os.fstat(self.log.fileno())
        self.journal_stream = "%d:%d" % (st.st_dev, st.st_ino)
        argv = [binary, "--listen", "%s:%d" % (labtest.LOOPBACK, self.port),
                "--smtp", "%s:1" % labtest.LOOPBACK, "--state-dir", self.state,
                *args]
        self.proc = subprocess.Popen(
            [*wrapper, *argv], stdout=self.log, stderr=subprocess.STDOUT,
            env=env(self) if callable(env) else env)
        labtest.wait_port(self.port, self.proc)
        self.base = "http://%s:%d" % (labtest.LOOPBACK, self.port)

    def get(self, path):
        return labtest.Browser(self.base).get(path)

    def stop(self):
        labtest.stop_process(self.proc)
        self.log.close()
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            self.output = f.read()
        os.unlink(self.log.name)
        shutil.rmtree(self.state, ignore_errors=True)
        return self.proc.returncode


class Install(unittest.TestCase):
    """One make install into a DESTDIR, looked at from every side."""

    @classmethod
    def setUpClass(cls):
        cls.dest = tempfile.mkdtemp(prefix="labmail-destdir-")
        make("install", "DESTDIR=" + cls.dest)
        cls.datadir = compiled_datadir()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dest, ignore_errors=True)

    def path(self, p):
        return self.dest + p

    def test_files_and_modes(self):
        want = {
            BINDIR + "/labmail": 0o755,
            MANDIR + "/man8/labmail.8": 0o644,
            MANDIR + "/man5/labmail.conf.5": 0o644,
            "/etc/pam.d/labmail": 0o644,
            CONF: 0o644,
            self.datadir + "/web/guide/en.md": 0o644,
            self.datadir + "/web/guide/fr.md": 0o644,
            self.datadir + "/web/templates/layout.html": 0o644,
            self.datadir + "/static/style.css": 0o644,
        }
        for unit in UNITS:
            want[UNITDIR + "/" + unit] = 0o644
        for p, m in want.items():
            self.assertTrue(os.path.isfile(self.path(p)), p)
            self.assertEqual(oct(mode(self.path(p))), oct(m), p)
        # Every file of web/ and static/, readable by all.
        for sub in ("web", "static"):
            for f in files_under(os.path.join(labtest.TOP, sub)):
                inst = self.path(os.path.join(self.datadir, sub, f))
                self.assertTrue(os.path.exists(inst), inst)
                self.assertTrue(mode(inst) & 0o004, inst)
        # The same files as the checkout's.
        for src, inst in (("web/labmail.conf", CONF),
                          ("web/pam/labmail", "/etc/pam.d/labmail"),
                          ("src/labmail.conf.5",
                           MANDIR + "/man5/labmail.conf.5")):
            with open(os.path.join(labtest.TOP, src), "rb") as a, \
                    open(self.path(inst), "rb") as b:
                self.assertEqual(a.read(), b.read(), inst)
        # The state directory is labmail's own to make.
        self.assertFalse(os.path.exists(self.path("/var/lib/labmail")))

    def test_units_name_the_installed_paths(self):
        with open(self.path(UNITDIR + "/labmail.service")) as f:
            service = f.read()
        self.assertIn("\nExecStart=%s/labmail --config %s\n" % (BINDIR, CONF),
                      service)
        for key in ("ProtectSystem=strict", "StateDirectory=labmail",
                    "NoNewPrivileges=yes", "PrivateTmp=yes",
                    "MemoryDenyWriteExecute=yes",
                    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"):
            self.assertIn("\n%s\n" % key, service)
        caps = re.search(r"\nCapabilityBoundingSet=(.*)\n", service).group(1)
        self.assertNotIn("CAP_DAC_OVERRIDE", caps)
        self.assertNotIn("CAP_SYS_ADMIN", caps)
        with open(self.path(UNITDIR + "/labmail-fcgi.service")) as f:
            fcgi = f.read()
        self.assertIn("\nExecStart=%s/labmail --config %s --fastcgi\n" %
                      (BINDIR, CONF), fcgi)
        self.assertIn("\nStandardInput=socket\n", fcgi)
        # What labmail prints must not go down the FastCGI socket.
        self.assertIn("\nStandardOutput=journal\n", fcgi)
        for unit in UNITS:
            with open(self.path(UNITDIR + "/" + unit)) as f:
                self.assertNotRegex(f.read(), r"@[A-Z]+@", unit)

    @unittest.skipUnless(shutil.which("systemd-analyze"),
                         "no systemd-analyze")
    def test_check_install(self):
        """systemd-analyze verify, the config, the man pages."""
        p = make("check-install", "DESTDIR=" + self.dest)
        self.assertIn("units verified", p.stdout)

    def test_installed_binary_checks_installed_config(self):
        p = subprocess.run(
            [self.path(BINDIR + "/labmail"), "--config", self.path(CONF),
             "--data-dir", self.path(self.datadir), "--check-config"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertIn("\n[labmail]\n", p.stdout)
        # The sample sets nothing: all is default or derived.
        self.assertIn("# default\ngroup = 181\n", p.stdout)
        self.assertIn("# derived from group 181\nsmtp-addr = 192.168.0.81\n",
                      p.stdout)
        self.assertIn("\ndata-dir = %s\n" % self.path(self.datadir), p.stdout)

    def test_installed_binary_serves(self):
        lm = Running(self.path(BINDIR + "/labmail"),
                     "--config", self.path(CONF),
                     "--data-dir", self.path(self.datadir))
        try:
            r = lm.get("/guide")
            css = lm.get("/static/style.css")
        finally:
            status = lm.stop()
        self.assertEqual(r.status, 200, lm.output)
        self.assertIn("mail181.com", r.text)
        self.assertEqual(css.status, 200)
        self.assertEqual(status, 0, lm.output)
        self.assertIn(self.path(self.datadir), lm.output)


class Uninstall(unittest.TestCase):
    """make uninstall takes away what make install put, and no more."""

    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix="labmail-destdir-")
        self.addCleanup(shutil.rmtree, self.dest, True)

    def test_leaves_no_file(self):
        make("install", "DESTDIR=" + self.dest)
        self.assertGreater(len(files_under(self.dest)), 10)
        make("uninstall", "DESTDIR=" + self.dest)
        self.assertEqual(files_under(self.dest), [])

    def test_leaves_what_it_did_not_install(self):
        other = self.dest + MANDIR + "/man8/other.8"
        os.makedirs(os.path.dirname(other))
        with open(other, "w") as f:
            f.write(".Dd\n")
        make("install", "DESTDIR=" + self.dest)
        make("uninstall", "DESTDIR=" + self.dest)
        self.assertEqual(files_under(self.dest),
                         [os.path.relpath(other, self.dest)])

    def test_changed_config_is_kept(self):
        make("install", "DESTDIR=" + self.dest)
        conf = self.dest + CONF
        with open(conf, "a") as f:
            f.write("group = 142\n")
        # A second install does not overwrite it...
        p = make("install", "DESTDIR=" + self.dest)
        self.assertIn("keeping", p.stdout)
        with open(conf) as f:
            self.assertTrue(f.read().endswith("group = 142\n"))
        # ...and uninstall leaves it, saying so.
        p = make("uninstall", "DESTDIR=" + self.dest)
        self.assertIn("keeping %s (changed)" % conf, p.stdout)
        self.assertEqual(files_under(self.dest),
                         [os.path.relpath(conf, self.dest)])


class CheckConfig(unittest.TestCase):
    """--check-config prints the values in force, derived ones marked."""

    def run_labmail(self, *args):
        return subprocess.run([labtest.LABMAIL, *args], capture_output=True,
                              text=True, timeout=30)

    def test_marks_derived_and_default_values(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("[labmail]\ngroup = 142\n")
            f.flush()
            p = self.run_labmail("--config", f.name, "--smtp",
                                 "127.0.0.1:2525", "--check-config")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
        # Given (file, command line): no mark.
        self.assertIn("\ngroup = 142\n", out)
        self.assertNotIn("# default\ngroup", out)
        self.assertIn("\nsmtp = 127.0.0.1:2525\n", out)
        self.assertNotIn("# derived from group 142\nsmtp =", out)
        # Derived from the group, and defaults.
        self.assertIn("# derived from group 142\ndomain = mail142.com\n", out)
        self.assertIn("# derived from group 142\nsmtp-addr = 192.168.0.42\n",
                      out)
        self.assertIn("# default\nlisten = 127.0.0.1:8080\n", out)
        self.assertIn("# default\nlog-level = info\n", out)
        # Every option of --help, in its order.
        help_text = self.run_labmail("--help").stdout
        options = [o for o in re.findall(r"^\s+--([a-z-]+)", help_text, re.M)
                   if o not in ("help", "config", "version")]
        keys = re.findall(r"^#?([a-z-]+) =", out, re.M)
        self.assertEqual(keys, options)

    def test_output_is_a_config_file(self):
        p = self.run_labmail("--group", "150", "--listen", "[::1]:8081",
                             "--check-config")
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write(p.stdout)
            f.flush()
            q = self.run_labmail("--config", f.name, "--check-config")
        self.assertEqual(q.returncode, 0, q.stderr)
        strip = lambda s: [line for line in s.splitlines()
                           if not line.startswith("# ")]
        self.assertEqual(strip(p.stdout), strip(q.stdout))
        self.assertNotIn("# derived", q.stdout)

    def test_bad_config_is_one_line_and_status_2(self):
        p = self.run_labmail("--log-level", "loud", "--check-config")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, "")
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn("log-level", p.stderr)


ACCESS_GUIDE = '"GET /guide'
# One access line: the whole line, nothing before it.
CLF = (r'^\S+ \S+ \S+ \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} '
       r'[+-]\d{4}\] "[A-Z]+ \S+ HTTP/\d\.\d" \d{3} (\d+|-) '
       r'"([^"\\]|\\.)*" "([^"\\]|\\.)*"$')


class Logging(unittest.TestCase):
    """--log-level, --syslog, and lines for journald."""

    def serve(self, *args, env=None, wrapper=()):
        lm = Running(labtest.LABMAIL, *args, env=env, wrapper=wrapper)
        try:
            self.assertEqual(lm.get("/guide").status, 200)
            time.sleep(0.2)
        finally:
            status = lm.stop()
        self.assertEqual(status, 0, lm.output)
        for alarm in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            self.assertNotIn(alarm, lm.output)
        return lm.output

    def test_info_logs_requests(self):
        out = self.serve()
        self.assertIn(ACCESS_GUIDE, out)
        self.assertIn("labmail: serving http://", out)

    def test_peer_data_is_escaped_in_access_lines(self):
        """A quote cannot end a field early, a control or non-ASCII byte
        is shown as an escape: the line still parses as Combined Log
        Format, with the peer's bytes readable."""
        lm = Running(labtest.LABMAIL)
        try:
            conn = http.client.HTTPConnection(labtest.LOOPBACK, lm.port,
                                              timeout=10)
            conn.putrequest("GET", '/guide?q="x"', skip_accept_encoding=True)
            conn.putheader("Referer", "http://r/\u00e9".encode())
            conn.putheader("User-Agent", 'a" "b\\c\td')
            conn.endheaders()
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            size = len(r.read())
            conn.close()
            time.sleep(0.2)
        finally:
            self.assertEqual(lm.stop(), 0, lm.output)
        lines = [x for x in lm.output.splitlines() if ACCESS_GUIDE in x]
        self.assertEqual(len(lines), 1, lm.output)
        self.assertRegex(lines[0], CLF)
        self.assertTrue(lines[0].endswith(
            '"GET /guide?q=\\"x\\" HTTP/1.1" 200 %d "http://r/\\xc3\\xa9" '
            '"a\\" \\"b\\\\c\\td"' % size), lines[0])

    def test_log_level_error_hides_access_and_info_lines(self):
        out = self.serve("--log-level", "error")
        self.assertNotIn(ACCESS_GUIDE, out)
        self.assertNotIn("serving", out)
        self.assertNotIn("shutting down", out)

    def test_log_level_warning_hides_access_lines(self):
        self.assertNotIn(ACCESS_GUIDE, self.serve("--log-level", "warning"))

    def test_journal_stream_gets_priorities(self):
        """Under systemd, lines carry <priority> instead of "labmail: "."""
        def env(lm):
            e = dict(os.environ)
            e["JOURNAL_STREAM"] = lm.journal_stream
            return e
        out = self.serve(env=env)
        self.assertRegex(out, r"(?m)^<6>serving http://")
        self.assertRegex(out, r"(?m)^<6>\S+ - - \[.*" + ACCESS_GUIDE)
        self.assertNotIn("labmail: ", out)

    def test_journal_stream_of_another_file_is_ignored(self):
        env = dict(os.environ, JOURNAL_STREAM="1:1")
        out = self.serve(env=env)
        self.assertIn("labmail: serving http://", out)
        self.assertNotRegex(out, r"(?m)^<\d>")

    def test_access_line_is_combined_log_format(self):
        """%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"."""
        lm = Running(labtest.LABMAIL)
        try:
            r = labtest.Browser(lm.base).get(
                "/guide?lang=en", {"User-Agent": 'tester "quoted" \\ 1',
                                   "Referer": "http://x/"})
            self.assertEqual(r.status, 200)
            time.sleep(0.2)
        finally:
            lm.stop()
        line = [l for l in lm.output.splitlines() if "/guide?" in l]
        self.assertEqual(len(line), 1, lm.output)
        self.assertRegex(line[0], CLF)
        self.assertIn('"GET /guide?lang=en HTTP/1.1" 200 ', line[0])
        self.assertTrue(line[0].endswith(
            '"http://x/" "tester \\"quoted\\" \\\\ 1"'), line[0])

    def test_syslog_fatal_still_on_stderr(self):
        """Whoever starts labmail sees why it stopped, syslog or not."""
        with socket.socket() as taken:
            taken.bind((labtest.LOOPBACK, 0))
            taken.listen()
            state = tempfile.mkdtemp(prefix="labmail-state-")
            self.addCleanup(shutil.rmtree, state, True)
            p = subprocess.run(
                [labtest.LABMAIL, "--syslog", "--listen", "%s:%d" %
                 taken.getsockname(), "--smtp", "127.0.0.1:1",
                 "--state-dir", state],
                capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stderr, r"^labmail: fatal: .*\n$")

    def test_syslog(self):
        """--syslog: nothing on stderr, lines to /dev/log (daemon.info).

        As root, labmail runs in a private mount namespace whose /dev
        holds a few devices and a /dev/log socket of the test's own, so
        the lines can be read without a syslog daemon and without
        touching the real /dev/log.  Otherwise only stderr is checked.
        """
        if not (labtest.is_root() and shutil.which("unshare")):
            out = self.serve("--syslog")
            self.assertNotIn(ACCESS_GUIDE, out)
            self.assertNotIn("serving", out)
            self.skipTest("needs root and unshare to read the syslog lines")
        dev = tempfile.mkdtemp(prefix="labmail-dev-")
        self.addCleanup(shutil.rmtree, dev, True)
        log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(log.close)
        log.bind(os.path.join(dev, "log"))
        os.chmod(os.path.join(dev, "log"), 0o666)
        script = ('set -e; d="$1"; shift; '
                  'for n in null zero full random urandom; do '
                  ': > "$d/$n"; mount --bind "/dev/$n" "$d/$n"; done; '
                  'mount --rbind "$d" /dev; exec "$@"')
        out = self.serve("--syslog", wrapper=(
            "unshare", "--mount", "--propagation", "private",
            "sh", "-c", script, "sh", dev))
        self.assertNotIn(ACCESS_GUIDE, out)
        self.assertNotIn("serving", out)
        log.setblocking(False)
        lines = []
        while True:
            try:
                lines.append(log.recv(65536).decode("utf-8", "replace"))
            except BlockingIOError:
                break
        text = "\n".join(lines)
        # <30>: facility daemon (3) * 8 + info (6); ident and pid.
        self.assertRegex(text, r"<30>.*labmail\[\d+\]: serving http://")
        self.assertRegex(text, r"<30>.*labmail\[\d+\]: \S+ - - \[.*" +
                         ACCESS_GUIDE)
        self.assertNotIn("labmail: labmail", text)


if __name__ == "__main__":
    unittest.main()
