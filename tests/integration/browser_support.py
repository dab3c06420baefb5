"""What the browser tests (test_browser, test_browser_inbox) share.

Each runs one script of tests/browser under node, which drives Debian's
/usr/bin/chromium through playwright-core.  They need root, node,
/usr/bin/chromium, and `npm install --no-audit --no-fund` run in
tests/browser (the Makefile does it).  Screenshots go to
$LABMAIL_SCREENSHOTS, else BUILD/screenshots.

Not a test module (its name does not start with test_).
"""

import os
import shutil
import subprocess
import unittest

import labtest

BROWSER_DIR = os.path.join(labtest.TOP, "tests", "browser")
CHROMIUM = "/usr/bin/chromium"
NODE = shutil.which("node")
NODE_TIMEOUT = 240   # seconds for the whole script


def skip_reason(root_why, commands=()):
    """Why the browser test cannot run here, or None.  root_why says what
    root is needed for; commands are further programs it needs on PATH."""
    if not labtest.is_root():
        return "needs root (%s)" % root_why
    if NODE is None:
        return "node is not installed"
    if not os.access(CHROMIUM, os.X_OK):
        return "%s is not installed" % CHROMIUM
    for command in commands:
        if shutil.which(command) is None:
            return "%s is not installed" % command
    return None


def needs(root_why, commands=()):
    """A class decorator: skip the test where skip_reason() says why."""
    reason = skip_reason(root_why, commands)
    return unittest.skipIf(reason is not None, reason or "")


class BrowserScript:
    """A mixin for a unittest.TestCase that sets self.labmail up and runs
    the script tests/browser/<SCRIPT> against it.  Its setUp, to be
    called first, fails unless playwright-core is installed, makes the
    test user self.user and the screenshot folder self.shots; the test's
    own setUp then calls start_labmail()."""

    SCRIPT = None   # the file name in tests/browser

    def setUp(self):
        self.require_playwright()
        self.user = labtest.TestUser()
        self.addCleanup(self.user.remove)
        self.make_screenshot_dir()

    def start_labmail(self, smtp_port):
        self.labmail = labtest.Labmail(smtp_port=smtp_port)
        self.addCleanup(self.labmail.cleanup)

    def require_playwright(self):
        if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules",
                                          "playwright-core")):
            self.fail("playwright-core is not installed: run "
                      "`npm install --no-audit --no-fund` in tests/browser")

    def make_screenshot_dir(self):
        self.shots = os.path.abspath(
            os.environ.get("LABMAIL_SCREENSHOTS") or
            os.path.join(labtest.BUILD, "screenshots"))
        os.makedirs(self.shots, exist_ok=True)

    def labmail_log(self):
        try:
            return self.labmail.output()
        except (OSError, ValueError):
            return "(no log)"

    def run_script(self, *args, env=None):
        """Run the script with BASE_URL, args and the screenshot folder;
        print its output; fail unless it exits 0.  Returns its output."""
        argv = [NODE, os.path.join(BROWSER_DIR, self.SCRIPT),
                self.labmail.base, *args, self.shots]
        try:
            proc = subprocess.run(argv, cwd=BROWSER_DIR, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, env=env,
                                  stderr=subprocess.STDOUT, text=True,
                                  timeout=NODE_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            out = e.stdout or ""
            if isinstance(out, bytes):
                out = out.decode("utf-8", "replace")
            self.fail("%s did not finish in %ds:\n%s\nlabmail's log:\n%s"
                      % (self.SCRIPT, NODE_TIMEOUT, out, self.labmail_log()))
        print("\n--- %s ---\n" % self.SCRIPT + proc.stdout.rstrip() +
              "\n--- screenshots in %s ---" % self.shots)
        self.assertEqual(proc.returncode, 0,
                         "%s exited with %d:\n%s\nlabmail's log:\n%s"
                         % (self.SCRIPT, proc.returncode, proc.stdout,
                            self.labmail_log()))
        return proc.stdout
