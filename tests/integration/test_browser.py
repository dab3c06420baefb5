"""The browser test: labmail's guide and send form in real Chromium.

A private Postfix (loopback only, local delivery only), a test user and
labmail with --smtp 127.0.0.1:<postfix> are started here; then
tests/browser/send.mjs drives Debian's /usr/bin/chromium through
playwright-core: the guide's table of contents, the send form through to
"Mail queued", and the form's XSS safety.  Last, the mail is looked for
in the user's spool, as Postfix's local(8) delivered it.

Needs root (Postfix, useradd), node, /usr/bin/chromium, and
`npm install --no-audit --no-fund` run in tests/browser (the Makefile
does it).  Screenshots go to $LABMAIL_SCREENSHOTS, else BUILD/screenshots.
"""

import email
import email.policy
import json
import mailbox
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import labtest  # noqa: E402
from integration import browser_support  # noqa: E402


@browser_support.needs("private Postfix and a test user", commands=("postfix",))
class BrowserTest(browser_support.BrowserScript, unittest.TestCase):

    SCRIPT = "send.mjs"

    def setUp(self):
        super().setUp()
        self.postfix = labtest.Postfix()
        self.addCleanup(self.postfix.stop)
        self.start_labmail(self.postfix.port)

    def run_send(self, recipient):
        out = self.run_script(recipient)
        sent = [line for line in out.splitlines()
                if line.startswith("sent: ")]
        self.assertEqual(len(sent), 1, "send.mjs printed no 'sent:' line")
        return json.loads(sent[0][len("sent: "):])

    def test_guide_and_send(self):
        recipient = "%s@%s" % (self.user.name, labtest.DOMAIN)
        sent = self.run_send(recipient)

        self.user.wait_mail(1)
        # The XSS case sent nothing; give a wrongly sent second mail a moment.
        time.sleep(1)
        box = mailbox.mbox(self.user.spool, create=False)
        try:
            raw = [m.as_bytes() for m in box]
        finally:
            box.close()
        self.assertEqual(len(raw), 1, "expected one mail in %s, found %d"
                         % (self.user.spool, len(raw)))
        msg = email.message_from_bytes(raw[0], policy=email.policy.default)

        self.assertEqual(str(msg["Subject"]), sent["subject"])
        self.assertEqual(msg["From"].addresses[0].addr_spec, sent["from"])
        self.assertIn(recipient, str(msg["To"]))
        # Postfix's own Received line names the queue id the page showed.
        received = " ".join(str(r) for r in msg.get_all("Received", []))
        self.assertIn("id " + sent["queue_id"], received,
                      "the queue id %s on the page is not in the "
                      "Received lines: %s" % (sent["queue_id"], received))
        # The "." and ".dot" lines arrive as typed (dot-stuffing both ways).
        body = msg.get_body(preferencelist=("plain",)).get_content()
        lines = body.replace("\r\n", "\n").rstrip("\n").split("\n")
        self.assertEqual(lines, sent["body"].split("\n"))


if __name__ == "__main__":
    unittest.main()
