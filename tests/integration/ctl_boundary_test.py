#!/usr/bin/python3
"""smtpguardctl links the policy compiler, never the fast path (docs/architecture.md): no
symbol that a fast-path library defines (packet parsing, flows, SMTP, TLS, the worker) and no
DPDK symbol may appear in the binary. The fast-path symbols are read from the libraries
themselves, so a function added to them later is covered too. And the pipeline receives
compiled snapshots only: libsg_pipeline.a calls no policy loader or compiler function.

usage: ctl_boundary_test.py SMTPGUARDCTL FASTPATH_LIB...
"""
import subprocess
import sys


def defined_text(path):
    """Names of the functions `path` defines (nm type T: strong, in the text section)."""
    out = subprocess.run(["nm", "--defined-only", path], check=True, capture_output=True,
                         text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "T":
            names.add(parts[2])
    return names


def main():
    ctl, libs = sys.argv[1], sys.argv[2:]
    out = subprocess.run(["nm", ctl], check=True, capture_output=True, text=True).stdout
    ctl_symbols = {line.split()[-1] for line in out.splitlines() if line.split()}
    failures = 0
    for lib in libs:
        fast = defined_text(lib)
        leaked = sorted(fast & ctl_symbols)
        name = lib.rsplit("/", 1)[-1]
        if leaked:
            failures += 1
            demangled = subprocess.run(["c++filt", *leaked[:5]], capture_output=True,
                                       text=True).stdout.split("\n")
            print(f"FAIL smtpguardctl links {len(leaked)} symbols of {name}: "
                  + "; ".join(d for d in demangled if d))
        else:
            print(f"ok   nothing of {name} ({len(fast)} functions) in smtpguardctl")
    for lib in libs:
        if not lib.endswith("libsg_pipeline.a"):
            continue
        undefined = subprocess.run(["nm", "-C", "--undefined-only", lib], check=True,
                                   capture_output=True, text=True).stdout
        loading = sorted({line.split(" U ")[-1].strip() for line in undefined.splitlines()
                          if "smtpguard::loadPolicy" in line or "smtpguard::compilePolicy" in line})
        if loading:
            failures += 1
            print(f"FAIL the pipeline loads or compiles policy files: {loading[:3]}")
        else:
            print("ok   the pipeline calls no policy loader or compiler")
    dpdk = sorted(s for s in ctl_symbols if s.startswith("rte_"))
    if dpdk:
        failures += 1
        print(f"FAIL smtpguardctl links DPDK: {dpdk[:5]}")
    else:
        print("ok   no DPDK symbol in smtpguardctl")
    print(f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
