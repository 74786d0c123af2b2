#!/usr/bin/env bash
# smtpguard replay against ndpiReader on the same captures, in one run. Each tool reads two
# captures, the shipped sample replayed N and 2N times (written by smtpguard --write, new
# connections each pass); the marginal rate (N*276 frames / (t_2N - t_N)) cancels start-up
# (EAL, pools; nDPI's set-up) so the ratio compares per-packet work.
#
#   tools/compare_ndpi.sh [BUILD_DIR] [N]
set -euo pipefail
build=${1:-build}
n=${2:-2000}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sg="$build/src/app/smtpguard"
for k in 1 2; do
  "$sg" replay samples/sample.pcap --loop $((k * n)) --write "$tmp/x$k.pcap" --stats /dev/null \
    --no-summary
done
now() { date +%s.%N; }
wall() {  # best of 3 wall-clock runs of "$@"
  local best=999999 t0 t1
  for _ in 1 2 3; do
    t0=$(now); "$@" > /dev/null 2>&1; t1=$(now)
    best=$(awk -v a="$t0" -v b="$t1" -v m="$best" 'BEGIN { d = b - a; print (d < m ? d : m) }')
  done
  echo "$best"
}
sg1=$(wall "$sg" replay "$tmp/x1.pcap" --policy policy/examples/isp-port25.toml \
  --events /dev/null --stats /dev/null --no-summary)
sg2=$(wall "$sg" replay "$tmp/x2.pcap" --policy policy/examples/isp-port25.toml \
  --events /dev/null --stats /dev/null --no-summary)
nd1=$(wall ndpiReader -i "$tmp/x1.pcap" -q)
nd2=$(wall ndpiReader -i "$tmp/x2.pcap" -q)
awk -v f=$((276 * n)) -v s1="$sg1" -v s2="$sg2" -v d1="$nd1" -v d2="$nd2" -v n="$n" 'BEGIN {
  s = f / (s2 - s1); d = f / (d2 - d1)
  printf "captures: samples/sample.pcap x %d and x %d (%d frames apart)\n", n, 2 * n, f
  printf "  smtpguard replay (isp-port25, events): %5.2f s / %5.2f s  marginal %6.2f Mpps\n", s1, s2, s / 1e6
  printf "  ndpiReader -i -q                     : %5.2f s / %5.2f s  marginal %6.2f Mpps\n", d1, d2, d / 1e6
  printf "  smtpguard / ndpiReader per-packet throughput: %.2fx\n", s / d
}'
