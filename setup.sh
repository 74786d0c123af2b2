#!/usr/bin/env bash
# The one set-up step for a fresh Debian 12 machine. Idempotent: each stage skips what is done.
#
#   ./setup.sh demo    install, build, run smtpguard on the shipped sample with the default policy
#   ./setup.sh test    install, build, run the whole test suite (plain and ASan+UBSan builds)
#   ./setup.sh deps    only install the Debian packages
#   ./setup.sh build   only install and build (build/)
set -euo pipefail
cd "$(dirname "$0")"

# Build and run-time packages, then what the tests use (scapy generators, real SMTP peers,
# tshark and ndpiReader as independent oracles, clang for libFuzzer; dpdk-dev for
# dpdk-telemetry.py and dpdk-testpmd, tmux for the terminal views, prometheus and logrotate for
# the operations tests; Postfix with Cyrus SASL as the real MTA of tests/e2e, and the Perl TLS
# module swaks needs for STARTTLS), then the manual pages (scdoc), the Debian package and its
# install test in a clean Debian 12 root (debhelper, dpkg-dev, debootstrap; systemd-analyze and
# man to check the unit and the pages), then the exports: libfixbuf (IPFIX) with Debian's nfdump
# as the test's collector, hiredis (the Redis event sink) with redis-server as its peer, and
# matplotlib for the benchmark plot.
PACKAGES=(
  libdpdk-dev dpdk libhyperscan-dev libtoml11-dev libssl-dev libpcap-dev
  googletest libgtest-dev meson ninja-build pkg-config g++ git libsystemd-dev
  python3-scapy tshark swaks python3-aiosmtpd libndpi-bin iproute2 ethtool openssl
  clang libclang-rt-14-dev clang-format
  nlohmann-json3-dev tmux dpdk-dev postfix sasl2-bin libsasl2-modules libnet-ssleay-perl
  prometheus logrotate
  scdoc systemd man-db debhelper dpkg-dev debootstrap
  libfixbuf-dev nfdump libhiredis-dev redis-server python3-matplotlib
  strace
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    as_root apt-get update -q
    # tshark asks whether non-root users may capture; answer for it.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | as_root debconf-set-selections
    # Postfix: no system mail service ("No configuration": no main.cf, nothing listening);
    # tests/e2e run private instances, each with its own config and queue directory.
    printf '%s\n' "postfix postfix/main_mailer_type select No configuration" \
      "postfix postfix/mailname string smtpguard-e2e.test" | as_root debconf-set-selections
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

# build DIR [meson options...]
build() {
  local dir=$1
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@"
  fi
  meson compile -C "$dir"
}

# Runs one build's suite; prints meson's summary and leaves testlog.json for the count.
run_suite() {
  local dir=$1
  shift
  meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || true
}

case "${1:-}" in
  deps)
    deps
    ;;
  build)
    deps
    build build
    ;;
  demo)
    deps
    build build
    ./build/src/app/smtpguard replay samples/sample.pcap \
      --policy policy/examples/isp-port25.toml --events - --stats -
    ;;
  test)
    deps
    build build
    build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
    run_suite build
    # The end-to-end suite (real Postfix, swaks, smtplib and openssl through smtpguard inline)
    # runs in the plain build only: it adds a minute under ASan and no code path the other
    # live suites do not take, and CI has 25 minutes.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_suite build-asan --no-suite e2e
    /usr/bin/python3 tools/test_summary.py build/meson-logs/testlog.json \
      build-asan/meson-logs/testlog.json
    ;;
  *)
    echo "usage: $0 demo|test|deps|build" >&2
    exit 2
    ;;
esac
