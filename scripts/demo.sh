#!/usr/bin/env bash
# A two-minute tour of mt's storage commands on a 64 MiB random file: create a torrent, show
# it, verify the data, then damage one byte and watch verify catch it. Runs in a fresh
# temporary folder that is removed afterwards, so it can be run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

MT=$PWD/target/release/mt
[ -x "$MT" ] || { echo "demo: $MT is missing; run 'make demo' or 'cargo build --release'" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

OFFSET=$((32 * 1024 * 1024))
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "1. Make a 64 MiB file of random bytes"
head -c $((64 * 1024 * 1024)) /dev/urandom > video.bin
ls -l video.bin

step "2. mt create: hash it into video.bin.torrent (256 KiB pieces, one tracker)"
run "$MT" create -p 256K -t http://tracker.example/announce video.bin

step "3. mt show: what the torrent holds (name, info hash, pieces, trackers, files)"
run "$MT" show video.bin.torrent

step "4. mt verify: every piece of the data matches (exit code 0)"
run "$MT" verify video.bin.torrent video.bin
echo "exit code: 0"

step "5. Flip one byte in the middle of the file (offset $OFFSET, inside piece 128)"
old=$(od -An -tu1 -j "$OFFSET" -N1 video.bin | tr -d ' ')
new=$((old ^ 255))
printf "$(printf '\\%03o' "$new")" | dd of=video.bin bs=1 seek="$OFFSET" conv=notrunc status=none
echo "byte $OFFSET was $old, is now $(od -An -tu1 -j "$OFFSET" -N1 video.bin | tr -d ' ')"

step "6. mt verify again: one bad piece, the damaged file is named (exit code 1 expected)"
set +e
run "$MT" verify video.bin.torrent video.bin
code=$?
set -e
echo "exit code: $code"
if [ "$code" -ne 1 ]; then
    echo "demo: expected exit code 1 from verify of damaged data, got $code" >&2
    exit 1
fi

step "Done: the damage was caught. The temporary folder $WORK is removed on exit."
