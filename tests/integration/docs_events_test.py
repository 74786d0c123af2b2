#!/usr/bin/python3
"""Test that every event type in src/events/event_record.h has its section in docs/events.md,
and that the doc describes no type the code does not emit (names are the contract).
"""
import re
import sys

root = sys.argv[1]
code = open(f"{root}/src/events/event_record.h").read()
declared = set(re.findall(r'return "([a-z_]+)";', code)) - {"unknown"}
doc = open(f"{root}/docs/events.md").read()
documented = set(re.findall(r"^## `([a-z_]+)`", doc, re.M))
for n in sorted(declared - documented):
    print("not documented:", n)
for n in sorted(documented - declared):
    print("documented but not in the code:", n)
print(f"{len(declared)} event types, {len(declared - documented)} undocumented")
sys.exit(1 if declared != documented or not declared else 0)
