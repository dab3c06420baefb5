#!/usr/bin/python3
"""Run every test of labmail and print one summary line at the end.

    tests/run.py --build build            unit, integration, browser
    tests/run.py --build build --unit-only

Unit tests are the cmocka programs build/test_*, and build/replay_NAME,
each run over its fuzz corpus tests/fuzz/corpus/NAME (one test each);
integration and browser tests are the Python unittest modules
tests/integration/test_*.py.  The
last line is "N passed, N failed" (", N skipped" when some could not run
here, e.g. without root); the exit status is 1 if anything failed.
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_unit(build):
    """Run each cmocka program; count its tests from its own summary."""
    passed = failed = 0
    os.environ["LABMAIL_TOP"] = TOP
    for prog in sorted(glob.glob(os.path.join(build, "test_*"))):
        if not os.access(prog, os.X_OK) or prog.endswith(".o"):
            continue
        proc = subprocess.run([prog], stdout=subprocess.PIPE, cwd=TOP,
                              stderr=subprocess.STDOUT, text=True)
        sys.stdout.write(proc.stdout)
        ok = re.search(r"\[  PASSED  \] (\d+) test", proc.stdout)
        bad = re.search(r"\[  FAILED  \] (\d+) test", proc.stdout)
        n_ok = int(ok.group(1)) if ok else 0
        n_bad = int(bad.group(1)) if bad else 0
        if proc.returncode != 0 and n_bad == 0:
            n_bad = 1   # crashed before its summary
            print("%s: exit status %d" % (prog, proc.returncode))
        passed += n_ok
        failed += n_bad
    return passed, failed, 0


def run_replay(build):
    """Run each fuzz target over its corpus; one test per target."""
    passed = failed = 0
    for prog in sorted(glob.glob(os.path.join(build, "replay_*"))):
        name = os.path.basename(prog)[len("replay_"):]
        corpus = os.path.join(TOP, "tests", "fuzz", "corpus", name)
        proc = subprocess.run([prog, corpus], stdout=subprocess.PIPE,
                              cwd=TOP, stderr=subprocess.STDOUT, text=True)
        sys.stdout.write(proc.stdout)
        if proc.returncode == 0:
            passed += 1
        else:
            failed += 1
            print("%s: exit status %d" % (prog, proc.returncode))
    return passed, failed, 0


def run_python(build):
    """Run tests/integration/test_*.py with unittest."""
    os.environ["LABMAIL_BUILD"] = os.path.abspath(build)
    sys.path.insert(0, os.path.join(TOP, "tests"))
    loader = unittest.TestLoader()
    suite = loader.discover(os.path.join(TOP, "tests", "integration"),
                            top_level_dir=os.path.join(TOP, "tests"))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    bad = len(result.failures) + len(result.errors) + \
        len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    return result.testsRun - bad - skipped, bad, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--unit-only", action="store_true")
    args = ap.parse_args()

    totals = [0, 0, 0]
    parts = [run_unit, run_replay]
    if not args.unit_only:
        parts.append(run_python)
    for part in parts:
        for i, n in enumerate(part(args.build)):
            totals[i] += n
    summary = "%d passed, %d failed" % (totals[0], totals[1])
    if totals[2]:
        summary += ", %d skipped" % totals[2]
    print(summary)
    sys.exit(1 if totals[1] else 0)


if __name__ == "__main__":
    main()
