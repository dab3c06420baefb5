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
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import labtest  # noqa: E402
from integration import browser_support  # noqa: E402
from integration.test_inbox import message, write_spool  # noqa: E402

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
HOSTILE_FILE = "<img src=x onerror=window.__pwned=7>.txt"
ORDINARY_SUBJECT = "Lab meeting on Thursday"
ORDINARY_FROM = "Leia Organa <leia@rebels.univ>"
ORDINARY_TEXT = ("Hi,\n\nThe lab meeting moves to Thursday, 14:00, room B12.\n"
                 "Bring your Postfix logs.\n\nLeia\n")


def hostile():
    """Text and HTML as alternatives, then an attachment whose name is
    markup too (the inbox marks the message as having one)."""
    headers = ("MIME-Version: 1.0\n"
               "Content-Type: multipart/mixed; boundary=\"=-m1xed\"\n")
    body = ("--=-m1xed\n"
            "Content-Type: multipart/alternative; boundary=\"=-b0und\"\n\n"
            "--=-b0und\n"
            "Content-Type: text/plain; charset=utf-8\n\n%s\n"
            "--=-b0und\n"
            "Content-Type: text/html; charset=utf-8\n\n%s\n"
            "--=-b0und--\n"
            "--=-m1xed\n"
            "Content-Type: text/plain; name=\"%s\"\n"
            "Content-Disposition: attachment; filename=\"%s\"\n\n"
            "notes\n"
            "--=-m1xed--" % (HOSTILE_TEXT, HOSTILE_HTML, HOSTILE_FILE,
                             HOSTILE_FILE))
    return message("mallory@darkside.univ", HOSTILE_SUBJECT, body,
                   date="Sat Nov 28 04:36:21 2026", headers=headers,
                   from_header=HOSTILE_FROM)


def ordinary():
    return message("leia@rebels.univ", ORDINARY_SUBJECT, ORDINARY_TEXT,
                   date="Sat Nov 28 09:12:45 2026",
                   headers="MIME-Version: 1.0\n"
                   "Content-Type: text/plain; charset=utf-8\n",
                   from_header=ORDINARY_FROM)


@browser_support.needs("a test user, PAM and /var/mail")
class BrowserInboxTest(browser_support.BrowserScript, unittest.TestCase):

    SCRIPT = "inbox.mjs"

    def setUp(self):
        super().setUp()
        # Oldest first: the hostile message is /inbox/1, the ordinary /inbox/2.
        write_spool(self.user, hostile() + ordinary())
        # Nothing listens on the SMTP port: this test sends no mail.
        self.start_labmail(labtest.free_port())

    def test_login_inbox_hostile_message_logout(self):
        spool_before = os.stat(self.user.spool)
        env = dict(os.environ, LABMAIL_PASSWORD=self.user.password)
        out = self.run_script(self.user.name, env=env)
        self.assertIn("ok: all", out.splitlines())
        # Reading never writes the spool.
        after = os.stat(self.user.spool)
        self.assertEqual((after.st_size, after.st_mtime_ns),
                         (spool_before.st_size, spool_before.st_mtime_ns),
                         "the spool changed while it was only read")


if __name__ == "__main__":
    unittest.main()
