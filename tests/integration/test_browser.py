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
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import labtest  # noqa: E402

BROWSER_DIR = os.path.join(labtest.TOP, "tests", "browser")
SCRIPT = os.path.join(BROWSER_DIR, "send.mjs")
CHROMIUM = "/usr/bin/chromium"
NODE = shutil.which("node")
NODE_TIMEOUT = 240   # seconds for the whole script


def skip_reason():
    if not labtest.is_root():
        return "needs root (private Postfix and a test user)"
    if NODE is None:
        return "node is not installed"
    if not os.access(CHROMIUM, os.X_OK):
        return "%s is not installed" % CHROMIUM
    if shutil.which("postfix") is None:
        return "postfix is not installed"
    return None


@unittest.skipIf(skip_reason() is not None, skip_reason() or "")
class BrowserTest(unittest.TestCase):

    def setUp(self):
        if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules",
                                          "playwright-core")):
            self.fail("playwright-core is not installed: run "
                      "`npm install --no-audit --no-fund` in tests/browser")
        self.postfix = labtest.Postfix()
        self.addCleanup(self.postfix.stop)
        self.user = labtest.TestUser()
        self.addCleanup(self.user.remove)
        self.labmail = labtest.Labmail(smtp_port=self.postfix.port)
        self.addCleanup(self.labmail.cleanup)
        self.shots = os.path.abspath(
            os.environ.get("LABMAIL_SCREENSHOTS") or
            os.path.join(labtest.BUILD, "screenshots"))
        os.makedirs(self.shots, exist_ok=True)

    def run_script(self, recipient):
        argv = [NODE, SCRIPT, self.labmail.base, recipient, self.shots]
        try:
            proc = subprocess.run(argv, cwd=BROWSER_DIR, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True,
                                  timeout=NODE_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            out = e.stdout or ""
            if isinstance(out, bytes):
                out = out.decode("utf-8", "replace")
            self.fail("send.mjs did not finish in %ds:\n%s\nlabmail's log:\n%s"
                      % (NODE_TIMEOUT, out, self.labmail_log()))
        print("\n--- send.mjs ---\n" + proc.stdout.rstrip() +
              "\n--- screenshots in %s ---" % self.shots)
        self.assertEqual(proc.returncode, 0,
                         "send.mjs exited with %d:\n%s\nlabmail's log:\n%s"
                         % (proc.returncode, proc.stdout, self.labmail_log()))
        sent = [line for line in proc.stdout.splitlines()
                if line.startswith("sent: ")]
        self.assertEqual(len(sent), 1, "send.mjs printed no 'sent:' line")
        return json.loads(sent[0][len("sent: "):])

    def labmail_log(self):
        try:
            return self.labmail.output()
        except (OSError, ValueError):
            return "(no log)"

    def test_guide_and_send(self):
        recipient = "%s@%s" % (self.user.name, labtest.DOMAIN)
        sent = self.run_script(recipient)

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
