"""The browser test of the inbox: login, list, a hostile message, logout.

A test user is made and its spool written here (a hostile message, then
an ordinary one); labmail is started on loopback (its --smtp points at a
free loopback port where nothing listens: no mail is sent).  Then
tests/browser/inbox.mjs drives Debian's /usr/bin/chromium through
playwright-core: the login form in place of the inbox, the list newest
first, the hostile message inert (literal text, a sandboxed frame, no
script run, no remote image asked for, no form submitted), the session
still valid afterwards, and the "Log out" button.

Needs root (useradd, PAM, /var/mail), node, /usr/bin/chromium, and
`npm install --no-audit --no-fund` run in tests/browser (the Makefile
does it).  Screenshots go to $LABMAIL_SCREENSHOTS, else BUILD/screenshots.
"""

import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import labtest  # noqa: E402
from integration.test_inbox import message, write_spool  # noqa: E402

BROWSER_DIR = os.path.join(labtest.TOP, "tests", "browser")
SCRIPT = os.path.join(BROWSER_DIR, "inbox.mjs")
CHROMIUM = "/usr/bin/chromium"
NODE = shutil.which("node")
NODE_TIMEOUT = 240   # seconds for the whole script

# These strings must match the constants at the top of inbox.mjs.
HOSTILE_SUBJECT = '<img src=x onerror="window.__pwned=1">'
HOSTILE_FROM = '"<script>window.__pwned=2</script>" <mallory@darkside.univ>'
HOSTILE_TEXT = ("Hello,\n"
                "\n"
                "<script>window.__pwned=3</script>\n"
                '<a href="javascript:window.__pwned=5">click here</a>\n'
                "or paste javascript:window.__pwned=5 in the address bar.\n")
HOSTILE_HTML = (
    "<!DOCTYPE html>\n"
    "<html><head><title>hostile</title>\n"
    "<script>parent.__pwned=4; window.__pwned=4</script>\n"
    "</head>\n"
    "<body onload=\"parent.__pwned=6; window.__pwned=6\">\n"
    "<p>Hostile HTML part</p>\n"
    '<img src="http://127.0.0.2:9/t.png" alt="remote image">\n'
    '<form id="f" action="/logout" method="post">'
    '<input type="hidden" name="csrf_token" value="x">'
    "<button>Log out</button></form>\n"
    "<script>document.getElementById('f').submit()</script>\n"
    "</body></html>\n")
ORDINARY_SUBJECT = "Lab meeting on Thursday"
ORDINARY_FROM = "Leia Organa <leia@rebels.univ>"
ORDINARY_TEXT = ("Hi,\n\nThe lab meeting moves to Thursday, 14:00, room B12.\n"
                 "Bring your Postfix logs.\n\nLeia\n")


def hostile():
    headers = ("MIME-Version: 1.0\n"
               "Content-Type: multipart/alternative; boundary=\"=-b0und\"\n")
    body = ("--=-b0und\n"
            "Content-Type: text/plain; charset=utf-8\n\n%s\n"
            "--=-b0und\n"
            "Content-Type: text/html; charset=utf-8\n\n%s\n"
            "--=-b0und--" % (HOSTILE_TEXT, HOSTILE_HTML))
    return message("mallory@darkside.univ", HOSTILE_SUBJECT, body,
                   date="Sat Nov 28 04:36:21 2026", headers=headers,
                   from_header=HOSTILE_FROM)


def ordinary():
    return message("leia@rebels.univ", ORDINARY_SUBJECT, ORDINARY_TEXT,
                   date="Sat Nov 28 09:12:45 2026",
                   headers="MIME-Version: 1.0\n"
                   "Content-Type: text/plain; charset=utf-8\n",
                   from_header=ORDINARY_FROM)


def skip_reason():
    if not labtest.is_root():
        return "needs root (a test user, PAM and /var/mail)"
    if NODE is None:
        return "node is not installed"
    if not os.access(CHROMIUM, os.X_OK):
        return "%s is not installed" % CHROMIUM
    return None


@unittest.skipIf(skip_reason() is not None, skip_reason() or "")
class BrowserInboxTest(unittest.TestCase):

    def setUp(self):
        if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules",
                                          "playwright-core")):
            self.fail("playwright-core is not installed: run "
                      "`npm install --no-audit --no-fund` in tests/browser")
        self.user = labtest.TestUser()
        self.addCleanup(self.user.remove)
        # Oldest first: the hostile message is /inbox/1, the ordinary /inbox/2.
        write_spool(self.user, hostile() + ordinary())
        # Nothing listens on the SMTP port: this test sends no mail.
        self.labmail = labtest.Labmail(smtp_port=labtest.free_port())
        self.addCleanup(self.labmail.cleanup)
        self.shots = os.path.abspath(
            os.environ.get("LABMAIL_SCREENSHOTS") or
            os.path.join(labtest.BUILD, "screenshots"))
        os.makedirs(self.shots, exist_ok=True)

    def labmail_log(self):
        try:
            return self.labmail.output()
        except (OSError, ValueError):
            return "(no log)"

    def test_login_inbox_hostile_message_logout(self):
        spool_before = os.stat(self.user.spool)
        argv = [NODE, SCRIPT, self.labmail.base, self.user.name, self.shots]
        env = dict(os.environ, LABMAIL_PASSWORD=self.user.password)
        try:
            proc = subprocess.run(argv, cwd=BROWSER_DIR, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, env=env,
                                  stderr=subprocess.STDOUT, text=True,
                                  timeout=NODE_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            out = e.stdout or ""
            if isinstance(out, bytes):
                out = out.decode("utf-8", "replace")
            self.fail("inbox.mjs did not finish in %ds:\n%s\nlabmail's log:\n%s"
                      % (NODE_TIMEOUT, out, self.labmail_log()))
        print("\n--- inbox.mjs ---\n" + proc.stdout.rstrip() +
              "\n--- screenshots in %s ---" % self.shots)
        self.assertEqual(proc.returncode, 0,
                         "inbox.mjs exited with %d:\n%s\nlabmail's log:\n%s"
                         % (proc.returncode, proc.stdout, self.labmail_log()))
        self.assertIn("ok: all", proc.stdout.splitlines())
        # Reading never writes the spool.
        after = os.stat(self.user.spool)
        self.assertEqual((after.st_size, after.st_mtime_ns),
                         (spool_before.st_size, spool_before.st_mtime_ns),
                         "the spool changed while it was only read")


if __name__ == "__main__":
    unittest.main()
