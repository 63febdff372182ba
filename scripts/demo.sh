#!/usr/bin/env bash
# The main job end to end on loopback: run a tracker, share a 256 MiB random file through it,
# download it with a second mt and compare the bytes; then the same without any tracker, the
# two mt processes finding each other on this host; then a magnet link with no tracker and no
# peer, found through a local DHT node alone; then damage a byte and watch verify catch it. Everything runs in a fresh temporary folder that is removed afterwards, every
# process it starts is stopped by its pid, and nothing listens anywhere but 127.0.0.1, so it
# can be run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

MT=$PWD/target/release/mt
[ -x "$MT" ] || { echo "demo: $MT is missing; run 'make demo' or 'cargo build --release'" >&2; exit 2; }

WORK=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$WORK"
# Same-host discovery looks here; the tracker steps give each process a folder of its own.
export MT_RUNTIME_DIR="$WORK/runtime"

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '$ %s\n' "$*"; "$@"; }
fail() { echo "demo: $*" >&2; exit 1; }

# wait_for FILE PATTERN PID WHAT: until a line of FILE matches PATTERN (120 s at most), as
# long as process PID is alive; prints the line.
wait_for() {
    local file=$1 pattern=$2 pid=$3 what=$4
    for _ in $(seq 1200); do
        if grep -m1 -- "$pattern" "$file" 2> /dev/null; then return 0; fi
        kill -0 "$pid" 2> /dev/null || { cat "$file" >&2; fail "$what stopped early"; }
        sleep 0.1
    done
    fail "no $what after 120 s"
}

# field NAME LINE: the value of "NAME" in a one-line JSON object.
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" <<< "$2"; }

# throughput LINE: "N MiB in S s (R MiB/s)" from an `mt get --json` done line.
throughput() {
    awk -v bytes="$(field downloaded "$1")" -v secs="$(field elapsed "$1")" 'BEGIN {
        printf "%.0f MiB in %.2f s (%.0f MiB/s)\n", bytes / 1048576, secs, bytes / 1048576 / secs }'
}

step "1. Make a 256 MiB file of random bytes in $WORK"
head -c $((256 * 1024 * 1024)) /dev/urandom > video.bin
ls -l video.bin

step "2. mt tracker: a BitTorrent tracker (HTTP and UDP) on free loopback ports"
printf '$ %s\n' "$MT tracker --http 127.0.0.1:0 --udp 127.0.0.1:0 --interval 5 --json &"
MT_RUNTIME_DIR="$WORK/runtime-tracker" \
    "$MT" tracker --http 127.0.0.1:0 --udp 127.0.0.1:0 --interval 5 --json > tracker.log 2>&1 &
pids+=($!)
urls=$(wait_for tracker.log '"http"' "$!" "tracker announce urls")
HTTP_URL=$(field http "$urls")
echo "serving $HTTP_URL and $(field udp "$urls")"

step "3. mt create: hash video.bin into video.bin.torrent, announcing to that tracker"
run "$MT" create -p 256K -t "$HTTP_URL" video.bin

step "4. mt show: what the torrent holds"
run "$MT" show video.bin.torrent

step "5. mt seed: verify the data and serve it, announcing to the tracker"
printf '$ %s\n' "$MT seed video.bin.torrent video.bin --bind 127.0.0.1 -p 0 --no-dht --no-lsd --json &"
MT_RUNTIME_DIR="$WORK/runtime-seed" \
    "$MT" seed video.bin.torrent video.bin --bind 127.0.0.1 -p 0 --no-dht --no-lsd --json > seed.log 2>&1 &
seed_pid=$!
pids+=("$seed_pid")
wait_for seed.log '"event":"seeding"' "$seed_pid" "seeding line"

step "6. mt get: download into download/, learning of the seed only from the tracker"
mkdir download
printf '$ %s\n' "$MT get video.bin.torrent download --bind 127.0.0.1 -p 0 --no-dht --no-lsd --timeout 120 --json"
if ! MT_RUNTIME_DIR="$WORK/runtime-get" "$MT" get video.bin.torrent download \
    --bind 127.0.0.1 -p 0 --no-dht --no-lsd --timeout 120 --json > get.log 2>&1; then
    cat get.log >&2
    fail "mt get did not complete"
fi
grep -m1 -E '"event":"tracker","peers":[1-9]' get.log || grep -m1 '"event":"tracker' get.log
done_line=$(grep -m1 '"event":"done"' get.log)
echo "downloaded $(throughput "$done_line")"
run cmp video.bin download/video.bin
echo "the copy is byte-identical"
kill "$seed_pid"
wait "$seed_pid" 2> /dev/null || true

step "7. Without a tracker: mt seed and mt get find each other on this host"
head -c $((64 * 1024 * 1024)) /dev/urandom > photos.bin
run "$MT" create photos.bin photos.torrent
printf '$ %s\n' "$MT seed photos.torrent photos.bin --bind 127.0.0.1 -p 0 --no-dht --no-lsd --json &"
"$MT" seed photos.torrent photos.bin --bind 127.0.0.1 -p 0 --no-dht --no-lsd --json > seed2.log 2>&1 &
seed_pid=$!
pids+=("$seed_pid")
wait_for seed2.log '"event":"seeding"' "$seed_pid" "seeding line"
run "$MT" get photos.torrent copy.bin --bind 127.0.0.1 -p 0 --no-dht --no-lsd --timeout 120
run cmp photos.bin copy.bin
echo "the copy is byte-identical"
kill "$seed_pid"
wait "$seed_pid" 2> /dev/null || true

step "8. Through the DHT alone: a local mt dht node, a trackerless seed, a bare magnet link"
printf '$ %s\n' "$MT dht --bind 127.0.0.1 -p 0 --no-bootstrap --json &"
MT_STATE_DIR="$WORK/state-dht" MT_RUNTIME_DIR="$WORK/runtime-dht" \
    "$MT" dht --bind 127.0.0.1 -p 0 --no-bootstrap --json > dht.log 2>&1 &
dht_pid=$!
pids+=("$dht_pid")
DHT_ADDR=$(field addr "$(wait_for dht.log '"event":"listening"' "$dht_pid" "dht listening line")")
echo "bootstrap node on $DHT_ADDR"
head -c $((16 * 1024 * 1024)) /dev/urandom > music.bin
run "$MT" create music.bin music.torrent
MAGNET="magnet:?xt=urn:btih:$("$MT" show music.torrent --json | sed -n 's/.*"info_hash":"\([0-9a-f]*\)".*/\1/p')"
printf '$ %s\n' "$MT seed music.torrent music.bin --bind 127.0.0.1 -p 0 --dht-bootstrap $DHT_ADDR --no-lsd --json &"
MT_STATE_DIR="$WORK/state-seed" MT_RUNTIME_DIR="$WORK/runtime-seed3" \
    "$MT" seed music.torrent music.bin --bind 127.0.0.1 -p 0 --dht-bootstrap "$DHT_ADDR" \
    --no-lsd --json > seed3.log 2>&1 &
seed_pid=$!
pids+=("$seed_pid")
wait_for seed3.log '"event":"seeding"' "$seed_pid" "seeding line"
# Each process has its own runtime folder, so the same-host registry cannot help: the magnet
# link names only the info hash, and the seed is found through the DHT.
printf '$ %s\n' "$MT get '$MAGNET' music-copy.bin --bind 127.0.0.1 -p 0 --dht-bootstrap $DHT_ADDR --no-lsd"
MT_STATE_DIR="$WORK/state-get" MT_RUNTIME_DIR="$WORK/runtime-get3" \
    "$MT" get "$MAGNET" music-copy.bin --bind 127.0.0.1 -p 0 --dht-bootstrap "$DHT_ADDR" \
    --no-lsd --timeout 120 || fail "mt get of the bare magnet link did not complete"
run cmp music.bin music-copy.bin
echo "the copy is byte-identical"
kill "$seed_pid" "$dht_pid"
wait "$seed_pid" "$dht_pid" 2> /dev/null || true

OFFSET=$((32 * 1024 * 1024))
step "9. Flip one byte of the copy (offset $OFFSET) and mt verify it (exit code 1 expected)"
old=$(od -An -tu1 -j "$OFFSET" -N1 copy.bin | tr -d ' ')
printf "$(printf '\\%03o' $((old ^ 255)))" | dd of=copy.bin bs=1 seek="$OFFSET" conv=notrunc status=none
set +e
run "$MT" verify photos.torrent copy.bin
code=$?
set -e
echo "exit code: $code"
[ "$code" -eq 1 ] || fail "expected exit code 1 from verify of damaged data, got $code"

step "Done. Every process is stopped and $WORK is removed on exit."
