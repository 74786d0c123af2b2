#!/usr/bin/env bash
# Makes (once per machine) a clean Debian 12 root for the package install test:
# `debootstrap --variant=minbase bookworm` plus systemd (for systemd-analyze), with apt's
# package lists fetched. The root is never modified afterwards: each test run works on a
# copy (tests/package/package_test.py). Prints the root's path.
#
#   tests/package/debian_root.sh [CACHE_DIR]     default: /var/cache/smtpguard-test
set -euo pipefail
cache=${1:-${SMTPGUARD_ROOT_CACHE:-/var/cache/smtpguard-test}}
root=$cache/debian12-root
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -f "$root/.complete" ]; then
  rm -rf "$root" "$root.tmp"
  debootstrap --variant=minbase --include=systemd bookworm "$root.tmp" "$mirror" >&2
  chroot "$root.tmp" apt-get update -q >&2
  touch "$root.tmp/.complete"
  mv "$root.tmp" "$root"
fi
echo "$root"
