"""labmail behind real web servers, with the example configs of web/.

The same list of requests goes through every mode:

    standalone (HTTP)             labmail alone, libmicrohttpd
    standalone (HTTPS)            --tls-cert/--tls-key, certificate checked
    nginx + FastCGI (TCP)         web/nginx/labmail.conf + labmail-upstream.conf
    nginx + FastCGI (Unix)        the same, the upstream on a Unix socket
    lighttpd + CGI                web/lighttpd/labmail-cgi.conf
    lighttpd + FastCGI            web/lighttpd/labmail-fastcgi.conf
    Apache + CGI                  web/apache/labmail-cgi.conf (mod_cgid)
    Apache + mod_proxy_fcgi       web/apache/labmail-fcgi.conf

the guide in French and in English, a mail sent through a private
Postfix (its queue id shown), a login, the inbox, a message, its raw
source, an attachment, a 404 and a bad CSRF token (403).  Behind the web
servers labmail lives under /labmail/: every link, the login's redirect
and every cookie's Path must carry the prefix; under HTTPS every cookie
is Secure.  Once tokens, dates, queue ids, user names, ports and the
prefix are normalised away, every page must be the same, byte for byte,
as standalone labmail's, with the same status.

The example files are used as they are shipped: copied into a temporary
folder with only their example ports and paths replaced (127.0.0.1:9000,
/run/labmail/fcgi.sock, /usr/lib/cgi-bin/labmail, ...), and included
from a minimal top-level config written here, as an admin's
/etc/nginx/nginx.conf, lighttpd.conf or apache2.conf would include them.

CGI: the web servers run their CGI programs as www-data, so labmail is
installed set-uid root, as SqWebMail is (a copy of the binary, chown
root, chmod 4755).  Set-uid, labmail reads /etc/labmail/labmail.conf and
nothing else; the servers of the CGI modes therefore run in a private
mount namespace (unshare) where /etc is an overlay whose upper layer,
in a temporary folder, holds that file.  The real /etc is never
written.  LABMAIL_CONFIG, which the examples set, then names a decoy
(another group, an SMTP port on loopback where nothing listens): it
must be ignored.  Without the set-uid bit, the reverse: LABMAIL_CONFIG
is read, the /etc file is the decoy, and nobody can log in.  CGI
labmail's stderr (in the web server's logs) must hold no crash and no
sanitizer report; the set-uid copy, started by hand by an ordinary
user outside CGI, must not act on its arguments as root.

Also: FastCGI requests in flight do not wait for each other (sends to
a silent SMTP server hang while the guide answers), and labmail takes
its FastCGI socket on standard input (spawn-fcgi, or a socket passed
as systemd's socket units do).

Everything listens on 127.0.0.1 or on Unix sockets in temporary
folders; every process started here is stopped by its pid.
"""

import base64
import http.client
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest
import urllib.parse
import urllib.request

import labtest

WEB = os.path.join(labtest.TOP, "web")
PREFIX = "/labmail"
WEB_USER = "www-data"           # who Debian's web servers run as
NGINX = "/usr/sbin/nginx"
LIGHTTPD = "/usr/sbin/lighttpd"
APACHE = "/usr/sbin/apache2"
APACHE_MODULES = "/usr/lib/apache2/modules"
SPAWN_FCGI = "/usr/bin/spawn-fcgi"
UNSHARE = "/usr/bin/unshare"
FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"
DECOY_GROUP = 199               # what a decoy config says (must not show)

NEEDS_ROOT = unittest.skipUnless(
    labtest.is_root(), "needs root: Postfix, test users, PAM, set-uid CGI")

# Fields of the mail sent in every mode.
FORM = {
    "from": "darth@starwars.univ",
    "subject": "Through the front ends é",
    "body": "Line one\n.\nLast line, 181 ✓\n",
}

# The message already in each test user's spool: a text part in
# ISO-8859-1 and a binary attachment.
PAYLOAD = bytes(range(256)) * 4


def fixed_message():
    body = ("--XX\nContent-Type: text/plain; charset=iso-8859-1\n"
            "Content-Transfer-Encoding: quoted-printable\n\ncaf=E9 au lait\n"
            "--XX\nContent-Type: application/octet-stream; name=\"data.bin\"\n"
            "Content-Disposition: attachment; filename=\"data.bin\"\n"
            "Content-Transfer-Encoding: base64\n\n%s--XX--\n"
            % base64.encodebytes(PAYLOAD).decode())
    return ("From luke@rebels.univ  Sat Nov 28 04:36:21 2026\n"
            "Return-Path: <luke@rebels.univ>\nFrom: Luke <luke@rebels.univ>\n"
            "To: x@mail181.com\nSubject: with attachment\n"
            "Date: Sat, 28 Nov 2026 04:36:21 +0000\nMIME-Version: 1.0\n"
            "Content-Type: multipart/mixed; boundary=XX\n\n%s\n"
            % body).encode()


def write_spool(user):
    with open(user.spool, "wb") as f:
        f.write(fixed_message())
    shutil.chown(user.spool, user.name, "mail")
    os.chmod(user.spool, 0o600)


# ------------------------------------------------------------- processes

class Proc:
    """A server started here, its output in a log; stopped by its pid."""

    def __init__(self, name, argv, log_dir, stdin=None):
        self.name = name
        self.argv = argv
        self.log_path = os.path.join(log_dir, "%s.out" % name)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT)

    def output(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        return labtest.stop_process(self.proc)


def started(p, port=None, path=None):
    """Wait for p to listen; on failure stop it and say why."""
    try:
        if port is not None:
            labtest.wait_port(port, p.proc)
        else:
            labtest.wait_unix(path, p.proc)
    except RuntimeError as e:
        p.stop()
        raise RuntimeError("%s did not start (%s): %s\n%s" % (
            p.name, e, " ".join(p.argv), p.output()[-3000:]))
    return p


def mkdir(path, owner=None, mode=0o755):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)
    if owner is not None:
        shutil.chown(path, owner, owner)
    return path


def install_example(rel, dest, subs):
    """Copy web/REL into folder dest, replacing its example values.

    subs is a list of (literal in the file, value for this test); each
    literal must be in the file, so that an edit of the example that
    the test would not follow fails here rather than testing something
    else."""
    with open(os.path.join(WEB, rel), encoding="utf-8") as f:
        text = f.read()
    for old, new in subs:
        if old not in text:
            raise AssertionError("web/%s no longer holds %r" % (rel, old))
        text = text.replace(old, new)
    path = os.path.join(dest, os.path.basename(rel))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def web_user_ok():
    try:
        pwd.getpwnam(WEB_USER)
        return True
    except KeyError:
        return False


class LabmailFcgi:
    """build/labmail serving FastCGI: on TCP, on a Unix socket it makes,
    or on a listening socket handed over as standard input."""

    def __init__(self, tmp, where, smtp_port, *args, stdin_sock=None,
                 wrapper=()):
        self.state_dir = mkdir(os.path.join(tmp, "state-%s" % os.urandom(
            4).hex()), mode=0o700)
        argv = [labtest.LABMAIL, "--smtp", "%s:%d" % (labtest.LOOPBACK,
                                                      smtp_port),
                "--state-dir", self.state_dir]
        if stdin_sock is not None or wrapper:
            argv.append("--fastcgi")            # the socket is fd 0
        else:
            argv.append("--fastcgi=%s" % where)
        self.p = Proc("labmail-fcgi-%s" % os.urandom(3).hex(),
                      list(wrapper) + argv + list(args), tmp,
                      stdin=stdin_sock.fileno() if stdin_sock else None)
        if where.startswith("/"):
            started(self.p, path=where)
        else:
            started(self.p, port=int(where.rsplit(":", 1)[1]))

    def cleanup(self):
        """Stop; fail if labmail did not exit cleanly or a sanitizer
        spoke."""
        status = self.p.stop()
        out = self.p.output()
        for alarm in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if alarm in out:
                raise AssertionError("labmail: %s\n%s" % (alarm, out[-4000:]))
        if status != 0:
            raise AssertionError("labmail (FastCGI) exited with %d\n%s" %
                                 (status, out[-4000:]))


# ---------------------------------------------------------- web servers

NGINX_CONF = """\
# Generated by tests/integration/test_frontends.py: loopback only.
{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 512;
}}

http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
{extra_temp}
    include {upstream};
    server {{
        listen {addr}:{port};
        server_name localhost;
        root {dir}/www;
        include {site};
    }}
}}
"""


class Nginx:
    """nginx in the foreground with web/nginx/labmail-upstream.conf in
    its http context and labmail.conf in its site, the upstream pointed
    at labmail's FastCGI socket: ADDR:PORT, or the path of a Unix one."""

    def __init__(self, tmp, where):
        self.dir = mkdir(tempfile.mkdtemp(prefix="nginx-", dir=tmp))
        mkdir(os.path.join(self.dir, "www"))
        address = "unix:" + where if where.startswith("/") else where
        upstream = os.path.basename(install_example(
            "nginx/labmail-upstream.conf", self.dir,
            [("server 127.0.0.1:9000;", "server %s;" % address),
             ("/var/lib/nginx/labmail-cache",
              os.path.join(self.dir, "cache"))]))
        site = os.path.basename(install_example("nginx/labmail.conf",
                                                self.dir, []))
        # The examples include Debian's fastcgi_params, as a site does.
        shutil.copy(FASTCGI_PARAMS, self.dir)
        self.port = labtest.free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        base = [NGINX, "-p", self.dir + "/", "-c", conf]

        def write(extra_temp):
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(
                    user="user %s;\n" % WEB_USER if labtest.is_root()
                    else "", dir=self.dir, addr=labtest.LOOPBACK,
                    port=self.port, upstream=upstream, site=site,
                    extra_temp=extra_temp))

        # uwsgi/scgi temp paths exist only if those modules are built in.
        write("    uwsgi_temp_path %s/uwsgi;\n    scgi_temp_path %s/scgi;\n"
              % (self.dir, self.dir))
        test = subprocess.run(base + ["-t"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        if test.returncode != 0 and "unknown directive" in test.stdout:
            write("")
            test = subprocess.run(base + ["-t"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        if test.returncode != 0:
            raise AssertionError("nginx -t refuses %s with web/nginx:\n%s"
                                 % (conf, test.stdout))
        self.p = started(Proc("nginx", base + ["-g", "daemon off;"],
                              self.dir), port=self.port)
        self.base = "http://%s:%d%s" % (labtest.LOOPBACK, self.port, PREFIX)

    def stop(self):
        self.p.stop()


LIGHTTPD_CONF = """\
# Generated by tests/integration/test_frontends.py: loopback only.
# The modules of Debian's lighttpd.conf; the example adds its own.
server.modules = ( "mod_indexfile", "mod_access", "mod_alias",
                   "mod_redirect" )
server.document-root = "{dir}/www"
server.bind = "{addr}"
server.port = {port}
server.username = "{user}"
server.groupname = "{user}"
server.errorlog = "{dir}/log/error.log"
server.upload-dirs = ( "{dir}/upload" )
include "{example}"
"""

APACHE_CONF = """\
# Generated by tests/integration/test_frontends.py: loopback only.
ServerRoot "{dir}"
ServerName localhost
Listen {addr}:{port}
PidFile "{dir}/run/httpd.pid"
DefaultRuntimeDir "{dir}/run"
Mutex file:{dir}/run default
ErrorLog "{dir}/error.log"
LogLevel warn
User {user}
Group {user}
LoadModule mpm_event_module {mods}/mod_mpm_event.so
LoadModule authz_core_module {mods}/mod_authz_core.so
{modules}
DocumentRoot "{dir}/www"
# As Debian's apache2.conf: nothing is served unless allowed.
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "{dir}/www">
    Require all granted
</Directory>
{extra}
Include "{example}"
"""

# Debian's modules for each Apache example (a2enmod ... in its comments).
APACHE_MODULE_SETS = {
    "cgi": ("alias", "env", "cgid"),
    "fcgi": ("proxy", "proxy_fcgi"),
}


def in_etc_overlay(upper, work, argv):
    """argv run in a private mount namespace whose /etc is an overlay of
    the real one with upper on top: files put in upper show in /etc
    there, and nothing is written to the real /etc."""
    return [UNSHARE, "--mount", "--propagation", "private", "--",
            "/bin/sh", "-ec",
            'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,'
            'workdir=$2" /etc; shift 2; exec "$@"', "sh", upper, work] + argv


class WebServer:
    """lighttpd or Apache in the foreground, including one example;
    optionally in a namespace with an /etc overlay (etc_upper)."""

    def __init__(self, kind, tmp, example, subs, etc_upper=None):
        self.dir = mkdir(tempfile.mkdtemp(prefix="%s-" % kind, dir=tmp))
        mkdir(os.path.join(self.dir, "www"))
        self.port = labtest.free_port()
        path = install_example(example, self.dir, subs)
        fmt = dict(dir=self.dir, addr=labtest.LOOPBACK, port=self.port,
                   user=WEB_USER, example=path)
        conf = os.path.join(self.dir, "%s.conf" % kind)
        if kind == "lighttpd":
            owner = WEB_USER if labtest.is_root() else None
            mkdir(os.path.join(self.dir, "log"), owner)
            mkdir(os.path.join(self.dir, "upload"), owner)
            text = LIGHTTPD_CONF.format(**fmt)
            argv = [LIGHTTPD, "-D", "-f", conf]
            check = [LIGHTTPD, "-tt", "-f", conf]
        else:
            mkdir(os.path.join(self.dir, "run"))
            mods = APACHE_MODULE_SETS[
                "cgi" if example.endswith("/labmail-cgi.conf") else "fcgi"]
            text = APACHE_CONF.format(
                mods=APACHE_MODULES,
                modules="\n".join("LoadModule %s_module %s/mod_%s.so" % (
                    m, APACHE_MODULES, m) for m in mods),
                extra='ScriptSock "%s/run/cgisock"' % self.dir
                if "cgid" in mods else "", **fmt)
            argv = [APACHE, "-f", conf, "-DFOREGROUND"]
            check = [APACHE, "-t", "-f", conf]
        with open(conf, "w") as f:
            f.write(text)
        test = subprocess.run(check, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        if test.returncode != 0:
            raise AssertionError("%s refuses %s with web/%s:\n%s" % (
                kind, conf, example, test.stdout))
        if etc_upper is not None:
            work = mkdir(os.path.join(self.dir, "etc-work"), mode=0o700)
            argv = in_etc_overlay(etc_upper, work, argv)
        self.p = started(Proc(kind, argv, self.dir), port=self.port)
        self.base = "http://%s:%d%s" % (labtest.LOOPBACK, self.port, PREFIX)

    def stop(self):
        self.p.stop()

    def error_log(self):
        """The server's error log and its own output: CGI programs'
        stderr goes to the first (Apache) or the second (lighttpd)."""
        log = self.p.output()
        for name in ("log/error.log", "error.log"):
            try:
                with open(os.path.join(self.dir, name),
                          errors="replace") as f:
                    log += f.read()
            except OSError:
                pass
        return log

    # What each server logs when a CGI program dies (lighttpd names the
    # signal; Apache's mod_cgid only sees a missing response).  Apache's
    # "AH00052: child pid N exit signal ..." is about its own processes,
    # not the CGI: its event MPM now and then crashes in a child that is
    # stopping (main thread in apr_os_sock_get, about 1 stop in 25 here).
    CGI_DEATHS = ("died with signal", "ended unexpectedly",
                  "End of script output before headers")

    def check_cgi_log(self):
        """Fail if a CGI labmail crashed or a sanitizer spoke."""
        log = self.error_log()
        for alarm in ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                      "labmail: fatal") + self.CGI_DEATHS:
            if alarm in log:
                raise AssertionError("CGI labmail: %s\n%s" % (alarm,
                                                              log[-4000:]))


# ---------------------------------------------------------- what we ask

class TLSBrowser(labtest.Browser):
    """labtest.Browser over HTTPS, checking the server's certificate."""

    def __init__(self, base, cafile):
        super().__init__(base)
        ctx = ssl.create_default_context(cafile=cafile)
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), self._NoRedirect(),
            urllib.request.HTTPSHandler(context=ctx))


def csrf_of(r):
    m = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    if m is None:
        raise AssertionError("no CSRF token in the page (%d):\n%s" % (
            r.status, r.text[:2000]))
    return m.group(1)


class Run:
    """The answers of one mode to the list, in order, with what is
    needed to normalise them."""

    def __init__(self, mode, prefix, https):
        self.mode = mode
        self.prefix = prefix
        self.https = https
        self.answers = {}       # name -> labtest.Response
        self.paths = {}         # name -> the path asked, with the prefix
        self.user = None
        self.qid = None

    def add(self, name, r, path):
        self.answers[name] = r
        self.paths[name] = self.prefix + path
        return r

    def get(self, b, name, path):
        return self.add(name, b.get(path), path)

    def post(self, b, name, path, data):
        return self.add(name, b.post(path, data), path)


# The answers every mode must give, by name (the list, in order).
EXPECTED = [
    ("home", 200), ("guide_fr", 200), ("guide_en", 200), ("send_form", 200),
    ("send", 200), ("login_form", 200), ("login", 303), ("inbox", 200),
    ("message", 200), ("message_sent", 200), ("raw", 200),
    ("attachment", 200), ("not_found", 404), ("bad_csrf", 403),
]
# Without logins (CGI not set-uid): the public part of the list.
PUBLIC = ("home", "guide_fr", "guide_en", "send_form", "send", "not_found",
          "bad_csrf")


def run_list(b, user, mode, prefix="", https=False, logins=True):
    """Ask the list of b (a Browser on the mode's base URL)."""
    run = Run(mode, prefix, https)
    run.user = user.name
    run.get(b, "home", "/")
    run.get(b, "guide_fr", "/guide?lang=fr")
    run.get(b, "guide_en", "/guide?lang=en")
    token = csrf_of(run.get(b, "send_form", "/send"))
    form = dict(FORM, to="%s@%s" % (user.name, labtest.DOMAIN),
                csrf_token=token)
    r = run.post(b, "send", "/send", form)
    m = re.search(r'id="queue-id">([0-9A-Za-z]+)<', r.text)
    if r.status != 200 or m is None:
        raise AssertionError("%s: the send got %d without a queue id:\n%s"
                             % (mode, r.status, r.text[:3000]))
    run.qid = m.group(1)
    spool = user.wait_mail(2)
    if ("with ESMTP id %s" % run.qid).encode() not in spool:
        raise AssertionError("%s: queue id %s not in the delivered mail"
                             % (mode, run.qid))
    if logins:
        token = csrf_of(run.get(b, "login_form", "/login"))
        run.post(b, "login", "/login", {"user": user.name,
                                        "password": user.password,
                                        "csrf_token": token})
        run.get(b, "inbox", "/inbox")
        run.get(b, "message", "/inbox/1")
        run.get(b, "message_sent", "/inbox/2")
        run.get(b, "raw", "/inbox/1/raw")
        run.get(b, "attachment", "/inbox/1/part/2")
    run.get(b, "not_found", "/no/such/page")
    run.post(b, "bad_csrf", "/send", dict(form, csrf_token="A" * 22))
    return run


# Dates as labmail, Postfix and the spool write them.
DATES = [
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), +\d{1,2} \w{3} \d{4} "
    r"\d\d:\d\d:\d\d [+-]\d{4}( \([A-Z]+\))?",                 # RFC 5322
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?",  # ISO
    r"\d{4}-\d\d-\d\d \d\d:\d\d( UTC)?",                       # shown
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}",
]


def normalise(run, text):
    """text with what differs between two runs of the list replaced."""
    text = re.sub(r'(name="csrf_token" value=")[^"]*"', r'\1CSRF"', text)
    if run.prefix:
        text = re.sub(r'="%s(/[^"]*)?"' % re.escape(run.prefix),
                      lambda m: '="%s"' % (m.group(1) or "/"), text)
    text = text.replace(run.user, "USER")
    if run.qid:
        text = text.replace(run.qid, "QID")
    for date in DATES:
        text = re.sub(date, "DATE", text)
    # The transcript's clock and the sizes that follow from the above.
    text = re.sub(r'<td class="t">[^<]*</td>', '<td class="t">T</td>', text)
    text = re.sub(r'<td class="size">[^<]*</td>', '<td class="size">S</td>',
                  text)
    text = re.sub(r"(127\.0\.0\.1\]?):\d+", r"\1:PORT", text)
    text = re.sub(r"(127\.0\.0\.1 port )\d+", r"\1PORT", text)
    # MAIL FROM's SIZE: the Date and Message-ID vary in length.
    text = re.sub(r"( SIZE=)\d+", r"\1N", text)
    # The Message-ID that labmail makes up: random by design.
    text = re.sub(r"(Message-I[Dd]:\s*(&lt;|<))[^&<>]*", r"\1ID", text)
    return text


LINK = re.compile(r'\b(?:href|src|action)="([^"]*)"')


class Checks:
    """What each mode checks of its own answers, then against the
    standalone ones."""

    def check_run(self, run, expected=EXPECTED):
        names = [n for n, _ in expected]
        self.assertEqual(list(run.answers), names, run.mode)
        for name, status in expected:
            r = run.answers[name]
            self.assertEqual(r.status, status, "%s %s:\n%s" % (
                run.mode, name, r.text[:3000]))
        a = run.answers
        self.assertIn("Mail queued", a["send"].text)
        if "login" in a:
            self.assertEqual(a["login"].headers["Location"],
                             run.prefix + "/inbox", run.mode)
            self.assertIn("with attachment", a["inbox"].text)
            self.assertIn(FORM["subject"], a["inbox"].text)
            self.assertIn("café au lait", a["message"].text)
            self.assertIn(run.qid, a["message_sent"].text)
            self.assertEqual(a["attachment"].body, PAYLOAD)
            self.assertTrue(a["raw"].headers["Content-Type"].startswith(
                "text/plain"))
        self.check_links(run)
        self.check_cookies(run)

    def check_links(self, run):
        """Every link is prefix + "/page": nothing points out of the
        prefix (which behind a web server would be another site)."""
        for name, r in run.answers.items():
            if not r.headers.get("Content-Type", "").startswith("text/html"):
                continue
            for link in LINK.findall(r.text):
                if link.startswith("#") or re.match(r"[a-z]+:", link):
                    continue
                # Where the browser goes: relative links from the page.
                url = urllib.parse.urlsplit(urllib.parse.urljoin(
                    run.paths[name], link)).path
                if run.prefix:
                    self.assertTrue(url.startswith(run.prefix + "/"),
                                    "%s %s: link %r (%s) outside %s/" % (
                                        run.mode, name, link, url,
                                        run.prefix))
                else:
                    self.assertFalse(url.startswith(PREFIX + "/"), link)

    def check_cookies(self, run):
        seen = set()
        for name, r in run.answers.items():
            for c in r.headers.get_all("Set-Cookie") or []:
                seen.add(c.split("=", 1)[0])
                attrs = [a.strip() for a in c.split(";")[1:]]
                self.assertIn("Path=%s/" % run.prefix, attrs,
                              "%s %s: %s" % (run.mode, name, c))
                self.assertIn("HttpOnly", attrs, c)
                self.assertIn("SameSite=Strict", attrs, c)
                self.assertEqual("Secure" in attrs, run.https,
                                 "%s %s: %s" % (run.mode, name, c))
        self.assertIn("labmail_csrf", seen, run.mode)
        if "login" in run.answers:
            self.assertIn("labmail_session", seen, run.mode)

    def compare(self, run, ref):
        """Same statuses, types and (normalised) bodies as standalone."""
        for name in run.answers:
            got, want = run.answers[name], ref.answers[name]
            what = "%s, %s, against standalone" % (run.mode, name)
            self.assertEqual(got.status, want.status, what)
            self.assertEqual(got.headers.get("Content-Type"),
                             want.headers.get("Content-Type"), what)
            for h in ("Content-Disposition", "Content-Language",
                      "Content-Security-Policy", "Cache-Control"):
                self.assertEqual(got.headers.get(h), want.headers.get(h),
                                 "%s: %s" % (what, h))
            if got.headers.get("Content-Type", "").startswith(
                    ("text/", "message/")):
                self.maxDiff = None
                self.assertEqual(normalise(run, got.text),
                                 normalise(ref, want.text), what)
            else:
                self.assertEqual(got.body, want.body, what)


# ---------------------------------------------------------------- shared

POSTFIX = None
_REFERENCE = None


def setUpModule():
    global POSTFIX
    if labtest.is_root():
        POSTFIX = labtest.Postfix()


def tearDownModule():
    if POSTFIX is not None:
        POSTFIX.stop()


def new_user(case):
    """A test user with the fixed message in its spool, removed at the
    end of the class."""
    user = labtest.TestUser()
    case.addClassCleanup(user.remove)
    write_spool(user)
    return user


def reference():
    """The list through standalone labmail over HTTP: what every other
    mode must answer."""
    global _REFERENCE
    if _REFERENCE is None:
        user = labtest.TestUser()
        try:
            write_spool(user)
            lm = labtest.Labmail(smtp_port=POSTFIX.port)
            try:
                run = run_list(labtest.Browser(lm.base), user, "standalone")
            finally:
                lm.cleanup()
        finally:
            user.remove()
        _REFERENCE = run
    return _REFERENCE


def tmpdir(case, prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)          # the web servers' user goes through it
    case.addClassCleanup(shutil.rmtree, d, True)
    return d


def need(*paths):
    missing = [p for p in paths if not (os.path.exists(p) if p.endswith(
        ".so") else os.access(p, os.X_OK))]
    if missing:
        raise unittest.SkipTest("not installed: %s" % ", ".join(missing))
    if labtest.is_root() and not web_user_ok():
        raise unittest.SkipTest("no %s user for the web servers" % WEB_USER)


# ------------------------------------------------------------ standalone

@NEEDS_ROOT
class Standalone(Checks, unittest.TestCase):

    def test_requests(self):
        self.check_run(reference())


@NEEDS_ROOT
class StandaloneHTTPS(Checks, unittest.TestCase):
    """--tls-cert/--tls-key; the client checks the certificate."""

    @classmethod
    def setUpClass(cls):
        need("/usr/bin/openssl")
        tmp = tmpdir(cls, "labmail-tls-")
        cls.cert = os.path.join(tmp, "cert.pem")
        cls.key = key = os.path.join(tmp, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", key, "-out", cls.cert, "-days", "2",
             "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,digitalSignature,keyCertSign"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.user = new_user(cls)
        cls.lm = labtest.Labmail("--tls-cert", cls.cert, "--tls-key", key,
                                 smtp_port=POSTFIX.port)
        cls.addClassCleanup(cls.lm.cleanup)
        cls.base = "https://%s:%d" % (labtest.LOOPBACK, cls.lm.port)

    def test_requests(self):
        ref = reference()
        run = run_list(TLSBrowser(self.base, self.cert), self.user,
                       "standalone HTTPS", https=True)
        self.check_run(run)
        self.assertIn("max-age=", run.answers["guide_en"].headers[
            "Strict-Transport-Security"])
        self.compare(run, ref)

    def test_cached_guide_keeps_its_headers(self):
        """The guide is rendered once, then served from the cache: the
        same page, each security header once, HSTS included."""
        # A labmail of its own: the first answer is surely the render.
        lm = labtest.Labmail("--tls-cert", self.cert, "--tls-key", self.key,
                             smtp_port=POSTFIX.port)
        self.addCleanup(lm.cleanup)
        browser = TLSBrowser("https://%s:%d" % (labtest.LOOPBACK, lm.port),
                             self.cert)
        first, again = (browser.get("/guide?lang=fr") for _ in range(2))
        for r in (first, again):
            self.assertEqual(r.status, 200)
            for name in ("Strict-Transport-Security",
                         "Content-Security-Policy", "Vary"):
                self.assertEqual(len(r.headers.get_all(name) or []), 1,
                                 name)
        self.assertEqual(first.text, again.text)
        self.assertEqual(first.headers["Content-Language"], "fr")

    def test_certificate_is_checked(self):
        """The client does check: another CA fails the handshake."""
        ctx = ssl.create_default_context()      # the system's CAs only
        with self.assertRaises(OSError):
            urllib.request.urlopen(self.base + "/guide", context=ctx,
                                   timeout=10)


# --------------------------------------------------------------- FastCGI

class Prefixed(Checks):
    """A mode under the prefix /labmail, behind self.server."""

    def test_no_slash(self):
        """/labmail alone reaches the home page, or a redirect to it."""
        r = labtest.Browser(self.server.base).get("")
        if r.status == 301:
            self.assertTrue(r.headers["Location"].endswith(PREFIX + "/"))
        else:
            self.assertEqual(r.status, 200)
            self.assertIn('href="%s/guide"' % PREFIX, r.text)


class FastcgiMode(Prefixed):
    """labmail --fastcgi behind a web server: the list, compared."""

    def test_requests(self):
        run = run_list(labtest.Browser(self.server.base), self.user,
                       self.mode, prefix=PREFIX)
        self.check_run(run)
        self.compare(run, reference())


@NEEDS_ROOT
class NginxFastcgiTCP(FastcgiMode, unittest.TestCase):
    mode = "nginx + FastCGI (TCP)"

    @classmethod
    def setUpClass(cls):
        need(NGINX)
        tmp = tmpdir(cls, "labmail-nginx-")
        cls.user = new_user(cls)
        where = "%s:%d" % (labtest.LOOPBACK, labtest.free_port())
        cls.lm = LabmailFcgi(tmp, where, POSTFIX.port)
        cls.addClassCleanup(cls.lm.cleanup)
        cls.server = Nginx(tmp, where)
        cls.addClassCleanup(cls.server.stop)


@NEEDS_ROOT
class NginxFastcgiUnix(FastcgiMode, unittest.TestCase):
    mode = "nginx + FastCGI (Unix socket)"

    @classmethod
    def setUpClass(cls):
        need(NGINX)
        tmp = tmpdir(cls, "labmail-nginx-")
        cls.user = new_user(cls)
        sock = os.path.join(mkdir(os.path.join(tmp, "run")), "fcgi.sock")
        # As the example's comments say; the labmail user is nobody here.
        cls.lm = LabmailFcgi(tmp, sock, POSTFIX.port,
                             "--socket-mode=0660",
                             "--socket-owner=nobody:%s" % WEB_USER)
        cls.addClassCleanup(cls.lm.cleanup)
        st = os.stat(sock)
        assert st.st_mode & 0o777 == 0o660, oct(st.st_mode)
        cls.server = Nginx(tmp, sock)
        cls.addClassCleanup(cls.server.stop)


@NEEDS_ROOT
class LighttpdFastcgi(FastcgiMode, unittest.TestCase):
    mode = "lighttpd + FastCGI"

    @classmethod
    def setUpClass(cls):
        need(LIGHTTPD)
        tmp = tmpdir(cls, "labmail-lighttpd-")
        cls.user = new_user(cls)
        port = labtest.free_port()
        cls.lm = LabmailFcgi(tmp, "%s:%d" % (labtest.LOOPBACK, port),
                             POSTFIX.port)
        cls.addClassCleanup(cls.lm.cleanup)
        cls.server = WebServer("lighttpd", tmp, "lighttpd/labmail-fastcgi.conf",
                               [('"port" => 9000', '"port" => %d' % port)])
        cls.addClassCleanup(cls.server.stop)


@NEEDS_ROOT
class ApacheProxyFcgi(FastcgiMode, unittest.TestCase):
    mode = "Apache + mod_proxy_fcgi"

    @classmethod
    def setUpClass(cls):
        need(APACHE, os.path.join(APACHE_MODULES, "mod_proxy_fcgi.so"))
        tmp = tmpdir(cls, "labmail-apache-")
        cls.user = new_user(cls)
        where = "%s:%d" % (labtest.LOOPBACK, labtest.free_port())
        cls.lm = LabmailFcgi(tmp, where, POSTFIX.port)
        cls.addClassCleanup(cls.lm.cleanup)
        cls.server = WebServer("apache", tmp, "apache/labmail-fcgi.conf",
                               [("127.0.0.1:9000", where)])
        cls.addClassCleanup(cls.server.stop)


# ------------------------------------------------------------------- CGI

def overlay_works(tmp):
    """None if a private mount namespace with an /etc overlay can be
    made here, else why not."""
    if not os.access(UNSHARE, os.X_OK):
        return "no %s (util-linux)" % UNSHARE
    upper = mkdir(os.path.join(tmp, "probe-upper"), mode=0o700)
    work = mkdir(os.path.join(tmp, "probe-work"), mode=0o700)
    with open(os.path.join(upper, "labmail-probe"), "w") as f:
        f.write("ok\n")
    p = subprocess.run(in_etc_overlay(upper, work, ["cat",
                                                    "/etc/labmail-probe"]),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if p.returncode != 0 or p.stdout != "ok\n":
        return ("cannot overlay /etc in a private mount namespace "
                "(unshare --mount; mount -t overlay): %s" % p.stdout.strip())
    if os.path.exists("/etc/labmail-probe"):
        raise AssertionError("the /etc overlay leaked into the real /etc")
    return None


def data_dir():
    """The web/ and static/ that build/labmail itself uses: those beside
    its build folder (the CGI copy is elsewhere, so it is told)."""
    top = os.path.dirname(os.path.dirname(labtest.LABMAIL))
    return top if os.path.isdir(os.path.join(top, "web", "guide")) \
        else labtest.TOP


def labmail_conf(path, smtp_port, state_dir, group=181):
    with open(path, "w") as f:
        f.write("# Generated by tests/integration/test_frontends.py\n"
                "[labmail]\ngroup = %d\nsmtp = %s:%d\nstate-dir = %s\n"
                "data-dir = %s\nsmtp-timeout = 30\n" % (
                    group, labtest.LOOPBACK, smtp_port, state_dir,
                    data_dir()))
    os.chmod(path, 0o644)


def post_raw(base, path, chunks, token):
    """POST the chunks to base + path, chunked (one chunk: with its
    length), with the CSRF cookie of token: (status, page)."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Cookie": "labmail_csrf=" + token}
    try:
        if len(chunks) == 1:
            conn.request("POST", u.path + path, chunks[0], headers)
        else:
            conn.request("POST", u.path + path, iter(chunks), headers,
                         encode_chunked=True)
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


class CgiMode(Prefixed):
    """labmail as the web server's CGI program.

    setuid: installed 4755 root as the examples say, reading
    /etc/labmail/labmail.conf (in the namespace's /etc overlay) while
    LABMAIL_CONFIG names a decoy.  Not set-uid: the reverse, and no
    logins."""

    kind = None                 # "lighttpd" or "apache"
    example = None
    setuid = True

    @classmethod
    def setUpClass(cls):
        need(cls.binary_needed(), UNSHARE)
        tmp = tmpdir(cls, "labmail-cgi-")
        why = overlay_works(tmp)
        if why:
            raise unittest.SkipTest(why)
        cls.user = new_user(cls)        # before the namespace's /etc
        cgi_dir = mkdir(os.path.join(tmp, "cgi-bin"))
        program = os.path.join(cgi_dir, "labmail")
        shutil.copy(labtest.LABMAIL, program)
        if cls.setuid:
            if os.statvfs(cgi_dir).f_flag & os.ST_NOSUID:
                raise unittest.SkipTest("%s is on a nosuid file system: "
                                        "no set-uid CGI" % cgi_dir)
            os.chown(program, 0, 0)
            os.chmod(program, 0o4755)
            state = mkdir(os.path.join(tmp, "state"), mode=0o700)
        else:
            os.chmod(program, 0o755)
            state = mkdir(os.path.join(tmp, "state"), WEB_USER, 0o700)
        # The real settings, and a decoy that must not be read.
        etc_upper = mkdir(os.path.join(tmp, "etc-upper"), mode=0o755)
        etc_file = os.path.join(mkdir(os.path.join(etc_upper, "labmail")),
                                "labmail.conf")
        env_file = os.path.join(tmp, "labmail-env.conf")
        real, decoy = (etc_file, env_file) if cls.setuid else \
            (env_file, etc_file)
        labmail_conf(real, POSTFIX.port, state)
        labmail_conf(decoy, labtest.free_port(), state, group=DECOY_GROUP)
        cls.server = WebServer(cls.kind, tmp, cls.example, [
            ("/usr/lib/cgi-bin/labmail", program),
            ("/etc/labmail/labmail.conf", env_file)], etc_upper=etc_upper)
        cls.addClassCleanup(cls.server.check_cgi_log)  # after the stop
        cls.addClassCleanup(cls.server.stop)

    @classmethod
    def binary_needed(cls):
        return LIGHTTPD if cls.kind == "lighttpd" else APACHE

    def test_requests(self):
        ref = reference()
        b = labtest.Browser(self.server.base)
        # Which settings file was read shows in the guide (the group).
        r = b.get("/guide?lang=en")
        self.assertEqual(r.status, 200, self.server.error_log()[-3000:])
        self.assertNotIn("mail%d.com" % DECOY_GROUP, r.text,
                         "%s read the decoy settings" % self.mode)
        if self.setuid:
            run = run_list(b, self.user, self.mode, prefix=PREFIX)
            self.check_run(run)
        else:
            run = run_list(b, self.user, self.mode, prefix=PREFIX,
                           logins=False)
            self.check_run(run, [e for e in EXPECTED if e[0] in PUBLIC])
            # Nobody can log in: the CGI runs as the web server's user.
            token = csrf_of(b.get("/login"))
            r = b.post("/login", {"user": self.user.name,
                                  "password": self.user.password,
                                  "csrf_token": token})
            self.assertIn(r.status, (401, 403), r.text[:2000])
            self.assertIsNone(b.cookie("labmail_session"))
        self.compare(run, ref)

    def test_chunked_and_too_large_bodies(self):
        """A form sent chunked (Apache gives it to a CGI program without
        CONTENT_LENGTH) is read; a body over labmail's 2 MiB gets its 413
        page (labmail reads and drops it: Apache loses an answer given
        while it still writes).  The mail goes to no account (550), so
        that the user's spool stays as test_requests expects it."""
        token = csrf_of(labtest.Browser(self.server.base).get("/send"))
        form = urllib.parse.urlencode(dict(
            FORM, to="nobody-here@" + labtest.DOMAIN,
            csrf_token=token)).encode()
        status, page = post_raw(self.server.base, "/send",
                                [form[:40], form[40:]], token)
        self.assertEqual(status, 502, page[:3000])
        self.assertIn("RCPT TO:&lt;nobody-here@", page)
        big = form + b"&pad=" + b"x" * (2 * 1024 * 1024)
        status, page = post_raw(self.server.base, "/send", [big], token)
        self.assertEqual(status, 413, page[:3000])


@NEEDS_ROOT
class LighttpdCgi(CgiMode, unittest.TestCase):
    mode = "lighttpd + CGI (set-uid)"
    kind = "lighttpd"
    example = "lighttpd/labmail-cgi.conf"


@NEEDS_ROOT
class ApacheCgi(CgiMode, unittest.TestCase):
    mode = "Apache + CGI (mod_cgid, set-uid)"
    kind = "apache"
    example = "apache/labmail-cgi.conf"


@NEEDS_ROOT
class LighttpdCgiNotSetuid(CgiMode, unittest.TestCase):
    mode = "lighttpd + CGI (not set-uid)"
    kind = "lighttpd"
    example = "lighttpd/labmail-cgi.conf"
    setuid = False


@NEEDS_ROOT
class ApacheCgiNotSetuid(CgiMode, unittest.TestCase):
    mode = "Apache + CGI (mod_cgid, not set-uid)"
    kind = "apache"
    example = "apache/labmail-cgi.conf"
    setuid = False


@NEEDS_ROOT
class LighttpdCgiThrottle(CgiMode, unittest.TestCase):
    """Failed logins through the set-uid CGI, with a state folder and a
    user of its own (a throttled user or address would fail the list).
    A helper lives for one CGI request: the counts must add up through
    the state folder, or the set-uid program is a password oracle."""
    mode = "lighttpd + CGI (set-uid), failed logins"
    kind = "lighttpd"
    example = "lighttpd/labmail-cgi.conf"
    test_requests = None

    def test_failed_logins_are_throttled(self):
        """As test_inbox.Throttling, through the CGI."""
        b = labtest.Browser(self.server.base)
        statuses = []
        for _ in range(6):
            token = csrf_of(b.get("/login"))
            statuses.append(b.post("/login", {
                "user": self.user.name, "password": "wrong",
                "csrf_token": token}).status)
        self.assertEqual(statuses[:4], [401] * 4)
        self.assertEqual(statuses[-1], 429, statuses)


@NEEDS_ROOT
class SetuidProgram(unittest.TestCase):
    """The set-uid copy that the CGI examples install can be started by
    any local user, with any arguments: outside CGI it must refuse them
    rather than act on them as root."""

    def test_no_root_file_through_the_arguments(self):
        tmp = tempfile.mkdtemp(prefix="labmail-suid-")
        self.addCleanup(shutil.rmtree, tmp, True)
        os.chmod(tmp, 0o755)
        if os.statvfs(tmp).f_flag & os.ST_NOSUID:
            self.skipTest("%s is on a nosuid file system" % tmp)
        program = os.path.join(tmp, "labmail")
        shutil.copy(labtest.LABMAIL, program)
        os.chown(program, 0, 0)
        os.chmod(program, 0o4755)
        with open("/etc/shadow") as f:
            secret = f.readline().split(":")[1]     # root's hash field
        env = {k: v for k, v in os.environ.items()
               if k != "GATEWAY_INTERFACE"}
        p = subprocess.run([program, "--config", "/etc/shadow",
                            "--check-config"], user="nobody",
                           group="nogroup", extra_groups=[], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertNotIn("root:", p.stdout)
        if len(secret) > 2:
            self.assertNotIn(secret, p.stdout)

    def test_no_uncounted_guess_under_a_file_size_limit(self):
        """A local user may start the set-uid CGI with limits of their
        choice.  Under a file size limit the failure counts could not be
        written, or only cut short: a wrong guess would go uncounted,
        and labmail would be a password oracle for every local account.
        Root cannot always lift a hard limit (CAP_SYS_RESOURCE), so
        under one no password is checked at all (503)."""
        tmp = tempfile.mkdtemp(prefix="labmail-suid-")
        self.addCleanup(shutil.rmtree, tmp, True)
        os.chmod(tmp, 0o755)
        why = overlay_works(tmp)
        if why:
            self.skipTest(why)
        if os.statvfs(tmp).f_flag & os.ST_NOSUID:
            self.skipTest("%s is on a nosuid file system" % tmp)
        victim = labtest.TestUser()
        self.addCleanup(victim.remove)
        program = os.path.join(tmp, "labmail")
        shutil.copy(labtest.LABMAIL, program)
        os.chown(program, 0, 0)
        os.chmod(program, 0o4755)
        upper = mkdir(os.path.join(tmp, "etc-upper"), mode=0o755)
        labmail_conf(os.path.join(mkdir(os.path.join(upper, "labmail")),
                                  "labmail.conf"),
                     labtest.free_port(),
                     mkdir(os.path.join(tmp, "state"), mode=0o700))
        work = mkdir(os.path.join(tmp, "etc-work"), mode=0o700)
        token = "T" * 22

        def login(user, password, *limit):
            """The status of a login by the caller nobody."""
            form = urllib.parse.urlencode({
                "user": user, "password": password,
                "csrf_token": token}).encode()
            env = dict(GATEWAY_INTERFACE="CGI/1.1", REQUEST_METHOD="POST",
                       SCRIPT_NAME="/labmail", PATH_INFO="/login",
                       SERVER_PROTOCOL="HTTP/1.1", REMOTE_ADDR="127.0.0.1",
                       CONTENT_TYPE="application/x-www-form-urlencoded",
                       CONTENT_LENGTH=str(len(form)),
                       HTTP_COOKIE="labmail_csrf=" + token,
                       PATH="/usr/sbin:/usr/bin:/sbin:/bin")
            argv = ["setpriv", "--reuid=nobody", "--regid=nogroup",
                    "--clear-groups", *limit, program]
            p = subprocess.run(in_etc_overlay(upper, work, argv),
                               input=form, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            if not p.stdout.startswith(b"Status: "):
                raise AssertionError(p)
            return int(p.stdout.split()[1])

        # Five wrong guesses block the name.
        self.assertEqual([login(victim.name, "wrong") for _ in range(5)],
                         [401] * 5)
        # Under a limit of 0 no write goes through, under 40 the counts
        # (the victim's block among them) would be cut short.
        for fsize in (0, 40):
            limit = ("prlimit", "--fsize=%d" % fsize)
            for user, password in (("nosuch", "x"),
                                   (victim.name, victim.password)):
                self.assertEqual(login(user, password, *limit), 503,
                                 (fsize, user))
        # The block still holds.
        self.assertEqual(login(victim.name, victim.password), 429)


# ------------------------------------------------- multipart forms

def multipart(fields, boundary="----labmailTestBoundary7MA4YW"):
    """fields as a multipart/form-data body: (content type, bytes)."""
    body = b""
    for name, value in fields.items():
        body += (b"--%s\r\nContent-Disposition: form-data; name=\"%s\""
                 b"\r\n\r\n%s\r\n" % (boundary.encode(), name.encode(),
                                      value.encode()))
    body += b"--%s--\r\n" % boundary.encode()
    return "multipart/form-data; boundary=" + boundary, body


class MultipartForms(unittest.TestCase):
    """A form sent as multipart/form-data (enctype="multipart/form-data",
    curl -F) is read the same in every mode: standalone, FastCGI and CGI
    all parse it with http_parse_form() (GMime)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="labmail-multipart-")
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.sink = labtest.SmtpSink()
        self.addCleanup(self.sink.stop)
        lm = labtest.Labmail(smtp_port=self.sink.port)
        self.addCleanup(lm.cleanup)
        self.standalone = lm.base
        self.token = labtest.Browser(lm.base).csrf()
        self.type, self.body = multipart(dict(
            FORM, to="root@mail181.com", cc="", csrf_token=self.token))

    def check_sent(self, mode, status, page):
        self.assertEqual(status, 200, "%s: %s" % (mode, page[:2000]))
        for want in ("MAIL FROM:&lt;darth@starwars.univ&gt;",
                     "RCPT TO:&lt;root@mail181.com&gt;", "Last line, 181"):
            self.assertIn(want, page, mode)

    def post(self, base):
        r = labtest.Browser(base).post("/send", self.body, {
            "Content-Type": self.type,
            "Cookie": "labmail_csrf=" + self.token})
        return r.status, r.text

    def test_standalone(self):
        self.check_sent("standalone", *self.post(self.standalone))

    def test_nginx_fastcgi(self):
        need(NGINX)
        where = "%s:%d" % (labtest.LOOPBACK, labtest.free_port())
        lm = LabmailFcgi(self.tmp, where, self.sink.port)
        self.addCleanup(lm.cleanup)
        ngx = Nginx(self.tmp, where)
        self.addCleanup(ngx.stop)
        self.check_sent("nginx + FastCGI", *self.post(ngx.base))

    def test_cgi(self):
        """labmail run as a CGI program: the variables and standard
        input a web server would give it."""
        conf = os.path.join(self.tmp, "labmail.conf")
        labmail_conf(conf, self.sink.port, mkdir(os.path.join(
            self.tmp, "state")))
        env = dict(os.environ, GATEWAY_INTERFACE="CGI/1.1",
                   LABMAIL_CONFIG=conf, REQUEST_METHOD="POST",
                   SCRIPT_NAME="/labmail", PATH_INFO="/send",
                   SERVER_PROTOCOL="HTTP/1.1", REMOTE_ADDR="127.0.0.1",
                   CONTENT_TYPE=self.type,
                   CONTENT_LENGTH=str(len(self.body)),
                   HTTP_COOKIE="labmail_csrf=" + self.token)
        p = subprocess.run([labtest.LABMAIL], input=self.body, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
        head, _, page = p.stdout.decode().partition("\r\n\r\n")
        status = int(head.split("\r\n")[0].split()[1])
        self.check_sent("CGI", status, page)


# ------------------------------------------------- FastCGI, concurrency

class NginxFastcgiConcurrency(unittest.TestCase):
    """Requests in flight through nginx do not wait for each other."""

    def test_guide_answers_while_10_sends_hang(self):
        need(NGINX)
        tmp = tempfile.mkdtemp(prefix="labmail-conc-")
        os.chmod(tmp, 0o755)
        self.addCleanup(shutil.rmtree, tmp, True)
        server = labtest.FaultSMTP("silent")
        self.addCleanup(server.stop)
        where = "%s:%d" % (labtest.LOOPBACK, labtest.free_port())
        lm = LabmailFcgi(tmp, where, server.port, "--smtp-timeout", "30")
        self.addCleanup(lm.cleanup)
        ngx = Nginx(tmp, where)
        self.addCleanup(ngx.stop)
        labtest.check_sends_do_not_block(
            self, ngx.base, server, dict(FORM, to="root@mail181.com"), 10)


# ------------------------------------------------- FastCGI, kept connections

class NginxFastcgiKeepAlive(unittest.TestCase):
    """With the examples' fastcgi_keep_conn, nginx sends request after
    request on one connection, and labmail still stops at once."""

    def test_one_connection_serves_every_request_and_stop_closes_it(self):
        need(NGINX)
        tmp = tempfile.mkdtemp(prefix="labmail-keep-")
        os.chmod(tmp, 0o755)
        self.addCleanup(shutil.rmtree, tmp, True)
        port = labtest.free_port()
        lm = LabmailFcgi(tmp, "%s:%d" % (labtest.LOOPBACK, port),
                         labtest.free_port())
        self.addCleanup(lm.p.stop)
        ngx = Nginx(tmp, "%s:%d" % (labtest.LOOPBACK, port))
        self.addCleanup(ngx.stop)
        b = labtest.Browser(ngx.base)
        pages = ["/guide?lang=en", "/send", "/guide?lang=fr", "/login",
                 "/no/such/page", "/"]
        statuses = [b.get(p).status for p in pages]
        self.assertEqual(statuses, [200, 200, 200, 200, 404, 200])
        # One nginx worker, one request at a time: one connection, open
        # between requests (without keep-alive there would be none).
        self.assertEqual(labtest.count_connections(port), 1)
        # labmail must not wait for nginx to close its idle connection
        # (upstream keepalive_timeout, 60 s): it closes it itself.
        status = labtest.stop_process(lm.p.proc, timeout=30)
        self.assertEqual(status, 0, lm.p.output()[-3000:])
        self.assertEqual(labtest.count_connections(port), 0)
        self.assertEqual(b.get("/send").status, 502)


class NginxFastcgiCache(unittest.TestCase):
    """The example's cache keeps the guide, per language, and nothing
    personal: with labmail stopped, nginx still serves the guide pages
    it has seen, and nothing else."""

    LANGS = (("fr-FR,fr;q=0.9", "fr"), ("en-GB,en;q=0.8", "en"))

    def test_guide_kept_per_language_forms_never(self):
        need(NGINX)
        tmp = tempfile.mkdtemp(prefix="labmail-cache-")
        os.chmod(tmp, 0o755)
        self.addCleanup(shutil.rmtree, tmp, True)
        where = "%s:%d" % (labtest.LOOPBACK, labtest.free_port())
        lm = LabmailFcgi(tmp, where, labtest.free_port())
        self.addCleanup(lm.p.stop)
        ngx = Nginx(tmp, where)
        self.addCleanup(ngx.stop)
        b = labtest.Browser(ngx.base)
        seen = {}
        for accept, lang in self.LANGS:
            r = b.get("/guide", {"Accept-Language": accept})
            self.assertEqual((r.status, r.headers["Content-Language"]),
                             (200, lang))
            self.assertEqual(r.headers["Cache-Control"], "public, max-age=60")
            seen[lang] = r.text
        self.assertNotEqual(seen["fr"], seen["en"])
        for path in ("/login", "/send", "/"):
            self.assertEqual(b.get(path).status, 200, path)
        self.assertEqual(labtest.stop_process(lm.p.proc), 0,
                         lm.p.output()[-3000:])
        # labmail is gone: what nginx still answers came from its cache.
        for accept, lang in self.LANGS:
            r = b.get("/guide", {"Accept-Language": accept})
            self.assertEqual(r.status, 200, lang)
            self.assertEqual(r.text, seen[lang], "wrong variant for " + lang)
        for path in ("/login", "/send", "/", "/guide?lang=en"):
            self.assertEqual(b.get(path).status, 502, path)


# ------------------------------------------------- socket on stdin

class SocketOnStdin(unittest.TestCase):
    """--fastcgi alone: the listening socket is standard input."""

    def setUp(self):
        need(NGINX)
        self.tmp = tempfile.mkdtemp(prefix="labmail-stdin-")
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        # What the guide must be: standalone labmail's.
        lm = labtest.Labmail(smtp_port=labtest.free_port())
        self.addCleanup(lm.cleanup)
        self.want = labtest.Browser(lm.base).get("/guide?lang=en")

    def check_guide(self, ngx):
        r = labtest.Browser(ngx.base).get("/guide?lang=en")
        self.assertEqual(r.status, 200)
        run = Run("stdin", PREFIX, False)
        run.user = "-"
        ref = Run("standalone", "", False)
        ref.user = "-"
        self.assertEqual(normalise(run, r.text), normalise(ref,
                                                           self.want.text))
        self.assertIn('href="%s/send"' % PREFIX, r.text)

    def test_spawn_fcgi(self):
        """spawn-fcgi makes the TCP socket and execs labmail on it."""
        need(SPAWN_FCGI)
        port = labtest.free_port()
        where = "%s:%d" % (labtest.LOOPBACK, port)
        lm = LabmailFcgi(self.tmp, where, labtest.free_port(),
                         wrapper=[SPAWN_FCGI, "-n", "-a", labtest.LOOPBACK,
                                  "-p", str(port), "--"])
        self.addCleanup(lm.cleanup)
        ngx = Nginx(self.tmp, where)
        self.addCleanup(ngx.stop)
        self.check_guide(ngx)

    def test_unix_socket_as_systemd_passes_it(self):
        """A Unix socket made by someone else (labmail-fcgi.socket)."""
        path = os.path.join(mkdir(os.path.join(self.tmp, "run")),
                            "labmail-fcgi.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        if labtest.is_root():
            shutil.chown(path, "root", WEB_USER)
            os.chmod(path, 0o660)
        sock.listen(128)
        try:
            lm = LabmailFcgi(self.tmp, path, labtest.free_port(),
                             stdin_sock=sock)
        finally:
            sock.close()        # labmail has it now
        self.addCleanup(lm.cleanup)
        ngx = Nginx(self.tmp, path)
        self.addCleanup(ngx.stop)
        self.check_guide(ngx)


if __name__ == "__main__":
    unittest.main()
