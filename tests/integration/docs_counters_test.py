#!/usr/bin/python3
"""Test that every counter declared in src/stats/counters.h is documented in docs/counters.md,
and that the doc names no counter the code does not have (names are the contract).
"""
import re
import sys

root = sys.argv[1]
code = open(f"{root}/src/stats/counters.h").read()
declared = set(re.findall(r'X\(k\w+,\s*"([^"]+)"\)', code))
doc = open(f"{root}/docs/counters.md").read()
documented = set(re.findall(r"^\| `([a-z0-9_.<>A-Z-]+)`", doc, re.M))
mechs = re.search(r"`smtp.auth.plaintext.<MECHANISM>` \| [^|]*: (.*) \|", doc)
for m in re.findall(r"`([A-Z0-9-]+)`", mechs.group(1) if mechs else ""):
    documented.add(f"smtp.auth.plaintext.{m}")
families = {"flows.port.<N>", "policy.rule.<name>", "policy.shadow.<name>",
            "smtp.auth.plaintext.<MECHANISM>"}
missing = sorted(declared - documented)
unknown = sorted(documented - declared - families)
for n in missing:
    print("not documented:", n)
for n in unknown:
    print("documented but not in the code:", n)
print(f"{len(declared)} counters declared, {len(missing)} undocumented, {len(unknown)} unknown")
sys.exit(1 if missing or unknown or not declared else 0)
