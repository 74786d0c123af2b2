#!/usr/bin/python3
"""Test the rule for the ground truth itself: pointed at a corpus that does not exist, each test
that reads ../shared/corpus fails (exit 1) when CI is set and non-empty, and skips (exit 77,
with the reason printed) when it is not. A CI run without the corpus must never go green.

usage: corpus_missing_test.py SMTPGUARD SOURCE_ROOT
"""
import os
import subprocess
import sys
import tempfile

binary, root = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
failures = []
with tempfile.TemporaryDirectory() as tmp:
    absent = os.path.join(tmp, "no-corpus")
    tests = {
        "corpus_test.py": [binary, absent],
        "corpus_policies_test.py": [binary, absent, root],
    }
    for script, args in tests.items():
        for ci, want in (("1", 1), ("true", 1), ("", 77), (None, 77)):
            env = {k: v for k, v in os.environ.items() if k != "CI"}
            if ci is not None:
                env["CI"] = ci
            p = subprocess.run([sys.executable, os.path.join(here, script), *args], env=env,
                               capture_output=True, text=True, timeout=60)
            what = f"{script} with CI={ci!r}" if ci is not None else f"{script} without CI"
            ok = p.returncode == want and "corpus not found" in p.stdout
            print(("ok   " if ok else "FAIL ") + f"{what}: exit {p.returncode} (want {want})")
            if not ok:
                failures.append(what)
                print(p.stdout + p.stderr)
sys.exit(1 if failures else 0)
