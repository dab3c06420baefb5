"""STARTTLS to the SMTP server, end to end: labmail -> a real Postfix.

A throwaway CA and a server certificate for 127.0.0.1 are made with
openssl (which Postfix's Debian package brings along through ssl-cert)
in the private Postfix's folder; that Postfix offers STARTTLS and notes
TLS in its Received header.  The mail must arrive only when labmail's
TLS settings allow it, and the page must say what happened.
"""

import html
import os
import re
import shutil
import smtplib
import subprocess
import tempfile
import time
import unittest

import labtest

FORM = {
    "from": "darth@starwars.univ",
    "subject": "TP SMTP over TLS",
    "body": "NAME1, NAME2, secret, 181\n",
}

# What the private Postfix adds to its main.cf to offer STARTTLS.
TLS_MAIN_CF = """
smtpd_tls_cert_file = {dir}/server.pem
smtpd_tls_key_file = {dir}/server.key
smtpd_tls_security_level = may
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
"""


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_pki(folder):
    """A CA (ca.pem) and a server certificate it signed for 127.0.0.1
    (server.pem, server.key), valid for a day."""
    ca_key = os.path.join(folder, "ca.key")
    ca = os.path.join(folder, "ca.pem")
    key = os.path.join(folder, "server.key")
    csr = os.path.join(folder, "server.csr")
    ext = os.path.join(folder, "server.ext")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1",
            "-subj", "/CN=labmail test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", *ec, "-keyout", key, "-out", csr,
            "-subj", "/CN=smtp181.%s" % labtest.DOMAIN)
    with open(ext, "w") as f:
        f.write("basicConstraints = critical, CA:FALSE\n"
                "keyUsage = critical, digitalSignature\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectAltName = IP:127.0.0.1, DNS:smtp181.%s\n"
                % labtest.DOMAIN)
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
            "-CAcreateserial", "-days", "1", "-out",
            os.path.join(folder, "server.pem"), "-extfile", ext)
    os.chmod(ca_key, 0o600)
    os.chmod(key, 0o600)
    # Root's alone: labmail reads it before it drops its privileges.
    os.chmod(ca, 0o600)
    return ca


class TlsPostfix:
    """labtest.Postfix, reloaded with a certificate and STARTTLS on."""

    def __init__(self):
        self.postfix = labtest.Postfix()
        self.port = self.postfix.port
        self.dir = self.postfix.dir
        try:
            self.ca = make_pki(self.dir)
            with open(os.path.join(self.dir, "main.cf"), "a") as f:
                f.write(TLS_MAIN_CF.format(dir=self.dir))
            subprocess.run(["postfix", "-c", self.dir, "reload"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.wait_starttls()
        except BaseException:
            self.postfix.stop()
            raise

    def wait_starttls(self, timeout=15.0):
        """Wait until the reloaded smtpd offers STARTTLS."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with smtplib.SMTP(labtest.LOOPBACK, self.port, timeout=5) as s:
                s.ehlo()
                if s.has_extn("starttls"):
                    return
            time.sleep(0.2)
        raise RuntimeError("the test Postfix does not offer STARTTLS")

    def stop(self):
        self.postfix.stop()


# How the note where TLS started ends, by what became of the certificate.
VERIFIED = "certificate verified for 127\\.0\\.0\\.1"
NO_TRUST = ("certificate NOT trusted for 127\\.0\\.0\\.1: no trusted "
            "certificates to check it against \\(cannot load the system's "
            "trusted certificates: .*\\); going on encrypted")
# GnuTLS's system trust store on Debian (ca-certificates).
TRUST_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
UNTRUSTED = ("certificate NOT trusted for 127\\.0\\.0\\.1: The certificate "
             "is NOT trusted\\. The certificate issuer is unknown; going on "
             "encrypted")
INSECURE = "certificate NOT verified \\(--smtp-insecure\\)"


LOCK = '<img class="icon lock" src="/static/lock.svg" alt="(TLS)">'


def transcript(page):
    """The transcript rows: (kind, inside TLS, text), text unescaped.
    A row is inside TLS by its class, and its lock must say the same."""
    rows = re.findall(r'<tr class="(client|server|data|note)( tls)?">'
                      r'(.*?)<code>(.*?)</code>', page, re.S)
    for kind, tls, cells, text in rows:
        if (LOCK in cells) != bool(tls):
            raise AssertionError("lock and class disagree: %r" % cells)
    return [(k, bool(t), html.unescape(text)) for k, t, _, text in rows]


def tls_key_shown(page):
    """Whether the legend explains the lock (shown only after STARTTLS)."""
    m = re.search(r'what the server answered<span( hidden)?> \xb7\n'
                  + re.escape(LOCK) + ' inside TLS, after STARTTLS</span>',
                  page)
    if m is None:
        raise AssertionError("no legend in the page")
    return m.group(1) is None


def commands(rows):
    return [text for kind, _, text in rows if kind == "client"]


@unittest.skipUnless(labtest.is_root(), "needs root for Postfix and useradd")
def without_trust_store(case):
    """A wrapper that runs labmail seeing no trusted certificates, as on
    a machine without the ca-certificates package: in a mount namespace
    of its own, where GnuTLS's bundle is /dev/null.  Nothing to wrap on
    a machine that has no bundle; the test is skipped where a mount
    namespace cannot be made (a container without CAP_SYS_ADMIN)."""
    if not os.path.exists(TRUST_BUNDLE):
        return ()
    probe = subprocess.run(["unshare", "--mount", "--propagation",
                            "private", "true"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    if probe.returncode != 0:
        case.skipTest("no mount namespace can be made here")
    return ("unshare", "--mount", "--propagation", "private", "sh", "-c",
            "mount --bind /dev/null %s && exec \"$0\" \"$@\""
            % TRUST_BUNDLE)


class StartTlsToPostfix(unittest.TestCase):
    """labmail -> STARTTLS -> Postfix -> the user's spool."""

    @classmethod
    def setUpClass(cls):
        cls.postfix = TlsPostfix()
        cls.users = []

    @classmethod
    def tearDownClass(cls):
        cls.postfix.stop()
        for u in cls.users:
            u.remove()

    def user(self):
        u = labtest.TestUser()
        self.users.append(u)
        return u

    def send(self, *labmail_args, to, wrapper=()):
        lm = labtest.Labmail(*labmail_args, smtp_port=self.postfix.port,
                             wrapper=wrapper)
        self.addCleanup(lm.cleanup)
        b = labtest.Browser(lm.base)
        data = dict(FORM, to="%s@%s" % (to.name, labtest.DOMAIN),
                    csrf_token=b.csrf())
        r = b.post("/send", data)
        return r, html.unescape(r.text), transcript(r.text)

    def assert_tls_dialogue(self, page, note_end):
        """EHLO, STARTTLS, EHLO again; the note where TLS started ends
        with note_end (a regular expression); the legend explains the
        locks."""
        rows = transcript(page)
        cmds = commands(rows)
        self.assertEqual(cmds[:2], ["EHLO [127.0.0.1]", "STARTTLS"], cmds)
        self.assertEqual(cmds[2], "EHLO [127.0.0.1]", cmds)
        notes = [i for i, (kind, _, text) in enumerate(rows)
                 if kind == "note" and text.startswith("TLS started: ")]
        self.assertEqual(len(notes), 1, rows)
        note = rows[notes[0]][2]
        self.assertRegex(note, r"^TLS started: \(TLS1\.[23]\)-")
        self.assertRegex(note, " \u2014 " + note_end + "$")
        # Lines before the note in clear, every line after it in TLS.
        self.assertTrue(all(not tls for _, tls, _ in rows[:notes[0] + 1]))
        self.assertTrue(all(tls for _, tls, _ in rows[notes[0] + 1:]))
        # The 220 to STARTTLS came in clear.
        self.assertTrue(rows[notes[0] - 1][2].startswith("220 "), rows)
        self.assertTrue(tls_key_shown(page))

    def assert_received_with_tls(self, spool):
        self.assertRegex(spool, rb"\(using TLSv1\.[23] with cipher ")

    def test_verified_against_ca_file(self):
        u = self.user()
        r, text, rows = self.send("--smtp-ca", self.postfix.ca, to=u)
        self.assertEqual(r.status, 200, text)
        self.assertIn("Mail queued", text)
        self.assert_tls_dialogue(r.text, VERIFIED)
        self.assertIn("The server's certificate was verified.", text)
        self.assertNotIn("the server's certificate was not checked", text)
        self.assert_received_with_tls(u.wait_mail())

    def test_required_against_ca_file(self):
        u = self.user()
        r, text, rows = self.send("--smtp-tls=required", "--smtp-ca",
                                  self.postfix.ca, to=u)
        self.assertEqual(r.status, 200, text)
        self.assert_tls_dialogue(r.text, VERIFIED)
        self.assert_received_with_tls(u.wait_mail())

    def test_untrusted_certificate_by_default(self):
        """The defaults (auto, the system's store) against a certificate
        of an unknown CA, as a lab server's self-signed one: the mail
        goes encrypted, and the page says why the certificate is not
        trusted and how to trust it."""
        if not os.path.exists(TRUST_BUNDLE):
            self.skipTest("no system trust store here: the cases "
                          "without one cover it")
        u = self.user()
        r, text, rows = self.send(to=u)
        self.assertEqual(r.status, 200, text)
        self.assertIn("Mail queued", text)
        self.assert_tls_dialogue(r.text, UNTRUSTED)
        self.assertRegex(r.text, r'<p class="warning" id="tls-warning">'
                         r"Warning: the server&#39;s certificate did not "
                         r"check out, so a man in the middle could have "
                         r"read and changed this mail, which went "
                         r"encrypted all the same \(--smtp-tls=auto\)\. "
                         r"Why: &quot;The certificate is NOT trusted\. The "
                         r"certificate issuer is unknown&quot;\.")
        self.assertIn("gives it with --smtp-ca", text)
        self.assertNotIn("The server's certificate was verified", text)
        self.assert_received_with_tls(u.wait_mail())

    def test_no_trust_store_goes_encrypted(self):
        """auto with no trusted certificates to check against: the mail
        still goes encrypted, and the page says the certificate could
        not be checked, and why."""
        u = self.user()
        r, text, rows = self.send(to=u, wrapper=without_trust_store(self))
        self.assertEqual(r.status, 200, text)
        self.assertIn("Mail queued", text)
        self.assert_tls_dialogue(r.text, NO_TRUST)
        self.assertIn("Why: \"no trusted certificates to "
                      "check it against (cannot load the system's "
                      "trusted certificates", text)
        self.assert_received_with_tls(u.wait_mail())

    def test_no_trust_store_required_refuses(self):
        """required with no trusted certificates: nothing is sent."""
        u = self.user()
        r, text, rows = self.send("--smtp-tls=required", to=u,
                                  wrapper=without_trust_store(self))
        self.assertEqual(r.status, 502, text)
        self.assertIn("cannot load the system's trusted certificates",
                      text)
        # Found before STARTTLS was asked for: QUIT in clear.
        self.assertEqual(commands(rows), ["EHLO [127.0.0.1]", "QUIT"])
        time.sleep(1)
        self.assertFalse(os.path.exists(u.spool), "a mail arrived")

    def test_required_refuses_an_untrusted_certificate(self):
        u = self.user()
        r, text, rows = self.send("--smtp-tls=required", to=u)
        self.assertEqual(r.status, 502, text)
        self.assertIn("No TLS with the SMTP server", text)
        self.assertIn("the server's certificate was not accepted for "
                      "127.0.0.1", text)
        self.assertIn("The certificate issuer is unknown. TLS to the "
                      "server is set with --smtp-tls", text)
        # Nothing after STARTTLS but QUIT, inside TLS (RFC 3207 4.1).
        self.assertEqual(commands(rows),
                         ["EHLO [127.0.0.1]", "STARTTLS", "QUIT"])
        self.assertEqual([text for _, tls, text in rows if tls],
                         ["QUIT", "221 2.0.0 Bye"])
        time.sleep(1)
        self.assertFalse(os.path.exists(u.spool), "a mail arrived")

    def test_insecure_sends_and_warns(self):
        u = self.user()
        r, text, rows = self.send("--smtp-insecure", to=u)
        self.assertEqual(r.status, 200, text)
        self.assert_tls_dialogue(r.text, INSECURE)
        self.assertRegex(r.text, r'<p class="warning" id="tls-warning">'
                         r"Warning: the server&#39;s certificate was not "
                         r"checked")
        self.assert_received_with_tls(u.wait_mail())

    @unittest.skipIf(shutil.which("valgrind") is None, "valgrind not installed")
    @unittest.skipIf(labtest.BUILD.endswith("-san"), "sanitizer build")
    def test_no_leak_under_valgrind(self):
        """GnuTLS sessions and credentials freed, on success and failure."""
        from integration.test_valgrind import VALGRIND
        u = self.user()
        hide = without_trust_store(self)
        for args, status, wrapper in (
                (["--smtp-ca", self.postfix.ca], 200, ()), ([], 200, ()),
                (["--smtp-tls=required"], 502, ()),
                (["--smtp-insecure"], 200, ()),
                ([], 200, hide), (["--smtp-tls=required"], 502, hide)):
            lm = labtest.Labmail(*args, smtp_port=self.postfix.port,
                                 wrapper=(*wrapper, *VALGRIND), timeout=120)
            b = labtest.Browser(lm.base)
            data = dict(FORM, to="%s@%s" % (u.name, labtest.DOMAIN),
                        csrf_token=b.csrf())
            self.assertEqual(b.post("/send", data).status, status,
                             (args, wrapper))
            lm.cleanup()    # fails if valgrind found anything (status 99)
        u.wait_mail(4)

    def test_tls_off(self):
        u = self.user()
        r, text, rows = self.send("--smtp-tls=off", "--smtp-ca",
                                  self.postfix.ca, to=u)
        self.assertEqual(r.status, 200, text)
        self.assertNotIn("STARTTLS", commands(rows))
        self.assertIn("the server offers STARTTLS; not used, as TLS is off",
                      [t for k, _, t in rows if k == "note"])
        self.assertFalse(any(tls for _, tls, _ in rows))
        self.assertFalse(tls_key_shown(r.text))
        self.assertIn("The dialogue was not encrypted", text)
        spool = u.wait_mail()
        self.assertNotIn(b"(using TLS", spool)


class BadCaFile(unittest.TestCase):
    """A CA file that cannot be used stops the start-up, in one line
    that names it, rather than failing every send later."""

    def test_missing_and_empty(self):
        tmp = tempfile.mkdtemp(prefix="labmail-ca-")
        self.addCleanup(shutil.rmtree, tmp)
        empty = os.path.join(tmp, "empty.pem")
        open(empty, "w").close()
        for ca, says in ((os.path.join(tmp, "missing.pem"), "missing.pem"),
                         (empty, "no certificate in the CA file " + empty)):
            p = subprocess.run(
                [labtest.LABMAIL, "--listen", "127.0.0.1:%d" %
                 labtest.free_port(), "--smtp", "127.0.0.1:%d" %
                 labtest.free_port(), "--state-dir", tmp, "--smtp-ca", ca],
                capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 1, p.stderr)
            lines = p.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, p.stderr)
            self.assertIn(says, lines[0])
        # Not used with TLS off: no reason to refuse to start.
        lm = labtest.Labmail("--smtp-tls=off", "--smtp-ca", empty,
                             smtp_port=labtest.free_port())
        self.addCleanup(lm.cleanup)
        self.assertEqual(labtest.Browser(lm.base).get("/").status, 200)


class StartTlsRequired(unittest.TestCase):
    """--smtp-tls=required and a server without STARTTLS: nothing sent."""

    def test_required_without_starttls(self):
        saved = tempfile.mkdtemp(prefix="labmail-tls-")
        self.addCleanup(shutil.rmtree, saved)
        server = labtest.FaultSMTP("ok", save_dir=saved)
        self.addCleanup(server.stop)
        lm = labtest.Labmail("--smtp-tls=required", smtp_port=server.port)
        self.addCleanup(lm.cleanup)
        b = labtest.Browser(lm.base)
        r = b.post("/send", dict(FORM, to="root@%s" % labtest.DOMAIN,
                                 csrf_token=b.csrf()))
        text = html.unescape(r.text)
        self.assertEqual(r.status, 502, text)
        self.assertIn("No TLS with the SMTP server", text)
        self.assertIn("Nothing was sent: the server does not offer "
                      "STARTTLS, and TLS is required.", text)
        rows = transcript(r.text)
        self.assertEqual(commands(rows), ["EHLO [127.0.0.1]", "QUIT"])
        # The form comes back as typed, for a retry.
        self.assertIn('value="root@mail181.com"', r.text)
        self.assertEqual(os.listdir(saved), [])


if __name__ == "__main__":
    unittest.main()
