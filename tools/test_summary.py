#!/usr/bin/env python3
"""Sums meson's testlog.json files into the closing line CI reads: `N passed, N failed`.

Skipped tests are reported as skipped, never as passed. Exits non-zero when anything failed or
when no test ran at all (an empty suite is a broken suite).
"""
import json
import sys


def main(paths):
    passed = failed = skipped = 0
    for path in paths:
        try:
            with open(path) as f:
                lines = [json.loads(l) for l in f if l.strip()]
        except OSError as e:
            print(f"test_summary: cannot read {path}: {e.strerror}")
            failed += 1
            continue
        for t in lines:
            result = t.get("result")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
                print(f"FAILED: {path}: {t.get('name')} ({result})")
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
