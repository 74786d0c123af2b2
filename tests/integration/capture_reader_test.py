#!/usr/bin/python3
"""Our classic-pcap reader against libpcap, frame by frame (drivers/capture_reader.cc).

usage: capture_reader_test.py CAPTURE_DUMP SMTPGUARD GENERATED_DIR CORPUS_DIR

GENERATED_DIR holds the files of tests/gen/make_capture_files.py: every flavour of classic pcap
and broken files (cut inside a header or a frame, a captured length beyond 262,144 bytes or
beyond what is left of the file, beyond the snapshot length, zero-length records). For each
file, and for every capture of the corpus (../shared/corpus, required: a missing corpus fails),
capture_dump reads it with our reader and with libpcap: the frames (timestamp, wire length,
captured length, a hash of the bytes) and the outcome (end of file or an error) must be the
same, and classic files must have been read by ours. Then smtpguard replays each generated file:
never a crash, an error exit with "stopped there" for the broken ones, every frame counted
otherwise.
"""
import json
import os
import subprocess
import sys
import tempfile

OWN = {  # name: (frames, ends in an error)
    "le_micro": (42, False), "be_micro": (42, False), "le_nano": (42, False),
    "be_nano": (42, False), "many": (6001, False), "caplen_over_snaplen": (42, False),
    "snaplen_zero": (42, False), "caplen_huge": (2, True), "caplen_past_end": (5, True),
    "truncated_header": (6, True), "truncated_frame": (5, True), "header_only": (0, False),
    "raw_ip": (41, False), "linux_sll": (41, False),
}
LIBPCAP = {"version_2_2": (42, False)}
UNOPENABLE = ["short_file", "linktype_80211"]


def dump(tool, path, libpcap):
    args = [tool] + (["--libpcap"] if libpcap else []) + [path]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"{args}: exit {r.returncode}: {r.stderr}")
    lines = r.stdout.splitlines()
    return lines[0], lines[1:-1], lines[-1] if len(lines) > 1 else ""


def compare(tool, path, failures):
    """Our reader's and libpcap's reading of path; returns ours (open line, frames, outcome)."""
    own = dump(tool, path, False)
    ref = dump(tool, path, True)
    name = os.path.basename(path)
    if own[0].startswith("open error") != ref[0].startswith("open error"):
        failures.append(f"{name}: opened by one reader only: {own[0]!r} / {ref[0]!r}")
    if own[1] != ref[1]:
        diff = next((i for i, (a, b) in enumerate(zip(own[1], ref[1])) if a != b),
                    min(len(own[1]), len(ref[1])))
        failures.append(f"{name}: frames differ from #{diff} ({len(own[1])} ours, "
                        f"{len(ref[1])} libpcap's): {own[1][diff:diff + 1]} / "
                        f"{ref[1][diff:diff + 1]}")
    if own[2].startswith("error") != ref[2].startswith("error"):
        failures.append(f"{name}: outcome {own[2]!r}, libpcap's {ref[2]!r}")
    return own


def main():
    tool, smtpguard, gen_dir, corpus = sys.argv[1:5]
    failures = []
    outputs = {}
    for name, (frames, error) in {**OWN, **LIBPCAP}.items():
        path = os.path.join(gen_dir, name + ".pcap")
        opened, got, outcome = compare(tool, path, failures)
        outputs[name] = got
        want = "open own" if name in OWN else "open libpcap"
        if opened != want:
            failures.append(f"{name}: {opened!r}, expected {want!r}")
        if len(got) != frames:
            failures.append(f"{name}: {len(got)} frames, expected {frames}")
        if outcome.startswith("error") != error:
            failures.append(f"{name}: ends with {outcome!r}, expected "
                            f"{'an error' if error else 'end'}")
    for name in UNOPENABLE:
        opened, _, _ = compare(tool, os.path.join(gen_dir, name + ".pcap"), failures)
        if not opened.startswith("open error"):
            failures.append(f"{name}: {opened!r}, expected an open error")
    # The same frames in every byte order and timestamp precision.
    for name in ("be_micro", "le_nano", "be_nano"):
        if outputs[name] != outputs["le_micro"]:
            failures.append(f"{name}: not the frames of le_micro")
    if not any(line.split()[2] == "0" for line in outputs["le_micro"]):
        failures.append("le_micro: the zero-length record is missing")
    if any(int(line.split()[2]) > 100 for line in outputs["caplen_over_snaplen"]):
        failures.append("caplen_over_snaplen: a frame longer than the snapshot length")
    if max(int(line.split()[2]) for line in outputs["many"]) != 200000:
        failures.append("many: the 200,000-byte frame is missing")

    # Replay: never a crash; broken files stop with an error, after counting what was read.
    with tempfile.TemporaryDirectory() as tmp:
        for name, (frames, error) in {**OWN, **LIBPCAP}.items():
            stats = os.path.join(tmp, name + ".json")
            r = subprocess.run([smtpguard, "replay", os.path.join(gen_dir, name + ".pcap"),
                                "--events", "/dev/null", "--stats", stats, "--no-summary"],
                               capture_output=True, text=True, timeout=120)
            if r.returncode != (1 if error else 0):
                failures.append(f"replay {name}: exit {r.returncode}: {r.stderr.strip()}")
                continue
            if error and "stopped there" not in r.stderr:
                failures.append(f"replay {name}: no 'stopped there' in {r.stderr.strip()!r}")
            rx = json.load(open(stats))["packets.rx"]
            if rx != frames:
                failures.append(f"replay {name}: packets.rx {rx}, expected {frames}")

    # The corpus: real captures from other tools, required.
    if not os.path.isfile(os.path.join(corpus, "expected.json")):
        failures.append(f"corpus not found at {corpus} (no expected.json): it is required")
    else:
        caps = sorted(os.path.join(d, f) for d, _, fs in os.walk(corpus) for f in fs
                      if f.endswith((".pcap", ".pcapng", ".cap")))
        own = sum(compare(tool, c, failures)[0] == "open own" for c in caps)
        print(f"corpus: {len(caps)} captures, {own} read by our reader")
        if not caps or own == 0:
            failures.append("corpus: no classic pcap read by our reader")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
