"""No leaks and no memory errors under valgrind, on the real paths.

labmail runs under memcheck while it serves every page and sends mails
that succeed and fail; the cmocka programs and the fuzz targets' replays
(over their corpus) run under it too.  A definite leak or any memory
error makes valgrind exit 99.
"""

import glob
import os
import shutil
import subprocess
import unittest

import labtest

VALGRIND = ["valgrind", "--quiet", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--error-exitcode=99",
            "--num-callers=30"]


@unittest.skipIf(shutil.which("valgrind") is None, "valgrind not installed")
@unittest.skipIf(labtest.BUILD.endswith("-san"), "sanitizer build")
class Valgrind(unittest.TestCase):

    def test_labmail_session(self):
        server = labtest.FaultSMTP("ok")
        self.addCleanup(server.stop)
        refusing = labtest.FaultSMTP("rcpt550")
        self.addCleanup(refusing.stop)
        lm = labtest.Labmail(smtp_port=server.port, wrapper=VALGRIND,
                             timeout=120)
        b = labtest.Browser(lm.base)
        for path in ("/", "/guide", "/guide?lang=en", "/guide/network.svg",
                     "/static/style.css", "/nope"):
            self.assertIn(b.get(path).status, (200, 404), path)
        token = b.csrf()
        form = {"from": "Élodie <darth@starwars.univ>",
                "to": "root@mail181.com, a@b.c", "cc": "x@y.z",
                "subject": "été ✓", "body": "a\n.\nb\n", "csrf_token": token}
        self.assertEqual(b.post("/send", form).status, 200)
        self.assertEqual(b.post("/send", dict(form, to="bad")).status, 400)
        self.assertEqual(b.post("/send", dict(form, csrf_token="x")).status,
                         403)
        lm.cleanup()    # fails if valgrind found anything (status 99)

    def test_unit_programs(self):
        progs = sorted(glob.glob(os.path.join(labtest.BUILD, "test_*")))
        self.assertTrue(progs, "no unit test programs in " + labtest.BUILD)
        for prog in progs:
            with self.subTest(prog=os.path.basename(prog)):
                p = subprocess.run(VALGRIND + [prog], capture_output=True,
                                   text=True, timeout=600, cwd=labtest.TOP)
                self.assertEqual(p.returncode, 0, p.stderr[-6000:])

    def test_fuzz_replays(self):
        progs = sorted(glob.glob(os.path.join(labtest.BUILD, "replay_*")))
        self.assertTrue(progs, "no fuzz replay programs in " + labtest.BUILD)
        for prog in progs:
            name = os.path.basename(prog)[len("replay_"):]
            corpus = os.path.join(labtest.TOP, "tests", "fuzz", "corpus",
                                  name)
            with self.subTest(prog=name):
                p = subprocess.run(VALGRIND + [prog, corpus],
                                   capture_output=True, text=True,
                                   timeout=600, cwd=labtest.TOP)
                self.assertEqual(p.returncode, 0, p.stderr[-6000:])
