#!/usr/bin/env bash
# Swarm benchmark: one seed and one downloader on loopback, one 512 MiB random file with a
# warm page cache, 256 KiB pieces. Pairings: mt -> mt (mmap and pread on both sides),
# libtorrent -> libtorrent, libtorrent -> mt, mt -> libtorrent (over TCP, and with libtorrent's
# uTP on, its default: it dials uTP first and must fall back to TCP), and mt -> mt where the
# downloader knows no address and finds the seed through `mt tracker`, and libtorrent -> mt
# given only a magnet link (the metadata is fetched from the seed on every run). Best of 3
# runs each.
#
# Each run is timed from the downloader's start to its exit, with the seed already running and
# its data verified. The download is compared with the original after each run (not timed)
# and deleted before the next. Ratios are each pairing's speed over libtorrent -> libtorrent's:
# above 1 is faster. "private" is mt get's own peak anonymous memory (its `done` line); "rss"
# is peak resident memory from /usr/bin/time, which also counts mapped file pages.
#
# The data file is made once under bench-data/ (git-ignored) and kept between runs. The
# libtorrent pairings need python3-libtorrent for /usr/bin/python3 and are skipped without it.
# MT=path times another mt binary; SWARM_ONLY=regex times only the pairings whose name
# matches (libtorrent -> libtorrent, the reference, always runs when libtorrent is there).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh

MT=${MT:-$PWD/target/release/mt}
ONLY=${SWARM_ONLY:-}
LT=$PWD/tests/interop/lt_swarm.py
PY=/usr/bin/python3
DATA=bench-data/random-512MiB.bin
SIZE=$((512 * 1024 * 1024))
RUNS=3
LIMIT=300

[ -x "$MT" ] || { echo "swarm.sh: $MT is missing; run 'cargo build --release' first" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "swarm.sh: /usr/bin/time is missing (apt install time)" >&2; exit 2; }

random_file "$DATA" "$SIZE"

# Downloads go next to the data, on the same file system.
WORK=$(mktemp -d "$PWD/bench-data/swarm.XXXXXX")
SEED_PID=""
cleanup() {
    stop_seed
    [ -n "${TRACKER_PID:-}" ] && kill "$TRACKER_PID" 2> /dev/null && wait "$TRACKER_PID" 2> /dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Resume records stay in the bench's folder, not the user's state folder.
export MT_STATE_DIR=$WORK/state
NAME=$(basename "$DATA")
mkdir -p "$WORK/seed" "$WORK/seed-runtime" "$WORK/get-runtime"
chmod 700 "$WORK/seed-runtime" "$WORK/get-runtime"
ln "$DATA" "$WORK/seed/$NAME" 2> /dev/null || cp "$DATA" "$WORK/seed/$NAME"
TORRENT=$WORK/bench.torrent
"$MT" create -p 256K "$WORK/seed/$NAME" "$TORRENT" > /dev/null
# The same data announced to a local mt tracker (same info hash: trackers sit outside `info`).
"$MT" tracker --http 127.0.0.1:0 --udp 127.0.0.1:0 --interval 2 --json > "$WORK/tracker.log" 2>&1 &
TRACKER_PID=$!
for _ in $(seq 100); do grep -q '"http"' "$WORK/tracker.log" 2> /dev/null && break; sleep 0.1; done
ANNOUNCE=$(grep -o '"http":"[^"]*"' "$WORK/tracker.log" | cut -d'"' -f4)
[ -n "$ANNOUNCE" ] || { echo "swarm.sh: mt tracker did not start" >&2; cat "$WORK/tracker.log" >&2; exit 1; }
TRACKED=$WORK/tracked.torrent
MAGNET=$("$MT" show --json "$TORRENT" | grep -o '"magnet":"[^"]*"' | cut -d'"' -f4)
"$MT" create -p 256K -t "$ANNOUNCE" "$WORK/seed/$NAME" "$TRACKED" > /dev/null
echo "warming the page cache..."
cat "$DATA" > /dev/null

have_lt=1
"$PY" -c 'import libtorrent' 2> /dev/null || have_lt=0

# wait_for_line FILE PATTERN: waits up to 60 s for a line matching PATTERN in FILE.
wait_for_line() {
    for _ in $(seq 600); do
        grep -q "$2" "$1" 2> /dev/null && return 0
        kill -0 "$SEED_PID" 2> /dev/null || break
        sleep 0.1
    done
    echo "swarm.sh: the seed did not start; its output:" >&2
    cat "$1" >&2
    return 1
}

# start_mt_seed IO: starts mt seed on the data, announcing to the tracker; sets SEED_PID and
# SEED_ADDR.
start_mt_seed() {
    MT_RUNTIME_DIR=$WORK/seed-runtime "$MT" seed "$TRACKED" "$WORK/seed/$NAME" --io "$1" \
        --bind 127.0.0.1 -p 0 --no-dht --no-lsd --json > "$WORK/seed.log" 2>&1 &
    SEED_PID=$!
    wait_for_line "$WORK/seed.log" '"event":"seeding"'
    SEED_ADDR=$(grep -o '"addr":"[^"]*"' "$WORK/seed.log" | head -1 | cut -d'"' -f4)
}

# start_lt_seed: starts a libtorrent seed on the data; sets SEED_PID and SEED_ADDR.
start_lt_seed() {
    "$PY" "$LT" seed "$TORRENT" "$WORK/seed" --timeout 3600 > "$WORK/seed.log" 2>&1 &
    SEED_PID=$!
    wait_for_line "$WORK/seed.log" '"event": "listening"'
    SEED_ADDR=127.0.0.1:$(grep -o '"port": [0-9]*' "$WORK/seed.log" | head -1 | cut -d' ' -f2)
}

# failed NAME: reports a downloader that did not finish, with what it and /usr/bin/time said.
failed() {
    echo "swarm.sh: $1: the downloader failed; its output:" >&2
    cat "$WORK/get.log" "$WORK/rss" >&2
    return 1
}

names=() bests=() seconds=() speeds=() privates=() rsss=()

# measure NAME KIND [IO]: best of $RUNS downloads (KIND mt, mt-tracker for mt given only the
# tracker, mt-magnet for mt given only a magnet link naming the seed, lt, or lt-utp for
# libtorrent with uTP on) from the running seed.
measure() {
    local name=$1 kind=$2 io=${3:-} best="" rss="" private="" out start end t
    if [ -n "$ONLY" ] && [ "$name" != "libtorrent -> libtorrent" ] && ! [[ $name =~ $ONLY ]]; then
        return 0
    fi
    echo "timing $name..."
    for _ in $(seq "$RUNS"); do
        rm -rf "$WORK/out"
        mkdir -p "$WORK/out"
        if [ "$kind" = lt ] || [ "$kind" = lt-utp ]; then out=$WORK/out; else out=$WORK/out/$NAME; fi
        start=$(date +%s%N)
        if [ "$kind" = mt-magnet ]; then
            rm -rf "$WORK/state"
            /usr/bin/time -f %M -o "$WORK/rss" env MT_RUNTIME_DIR="$WORK/get-runtime" \
                MT_STATE_DIR="$WORK/state" "$MT" get "$MAGNET&x.pe=$SEED_ADDR" "$out" \
                --io "$io" --bind 127.0.0.1 -p 0 --no-dht --no-lsd --timeout "$LIMIT" --json > "$WORK/get.log" 2>&1 \
                || failed "$name" || return 1
        elif [ "$kind" = mt-tracker ]; then
            /usr/bin/time -f %M -o "$WORK/rss" env MT_RUNTIME_DIR="$WORK/get-runtime" \
                "$MT" get "$TRACKED" "$out" --io "$io" --bind 127.0.0.1 -p 0 --no-dht --no-lsd \
                --timeout "$LIMIT" --json > "$WORK/get.log" 2>&1 \
                || failed "$name" || return 1
        elif [ "$kind" = mt ]; then
            /usr/bin/time -f %M -o "$WORK/rss" env MT_RUNTIME_DIR="$WORK/get-runtime" \
                "$MT" get "$TORRENT" "$out" --io "$io" --bind 127.0.0.1 -p 0 --no-dht --no-lsd \
                --peer "$SEED_ADDR" --timeout "$LIMIT" --json > "$WORK/get.log" 2>&1 \
                || failed "$name" || return 1
        else
            local utp=()
            [ "$kind" = lt-utp ] && utp=(--utp)
            /usr/bin/time -f %M -o "$WORK/rss" "$PY" "$LT" get "$TORRENT" "$out" \
                --peer "$SEED_ADDR" --timeout "$LIMIT" "${utp[@]}" > "$WORK/get.log" 2>&1 \
                || failed "$name" || return 1
        fi
        end=$(date +%s%N)
        cmp -s "$DATA" "$WORK/out/$NAME" || { echo "swarm.sh: $name: download differs" >&2; return 1; }
        t=$(( (end - start) / 1000000 ))
        if [ -z "$best" ] || [ "$t" -lt "$best" ]; then
            best=$t
            rss=$(tail -1 "$WORK/rss")
            private=$(grep -o '"peak_private_memory":[0-9]*' "$WORK/get.log" | cut -d: -f2 || true)
        fi
    done
    names+=("$name")
    bests+=("$best")
    seconds+=("$(awk -v ms="$best" 'BEGIN { printf "%.2f", ms / 1000 }')")
    speeds+=("$(awk -v ms="$best" -v size="$SIZE" 'BEGIN { printf "%.0f", size / 1048576 / (ms / 1000) }')")
    privates+=("${private:+$(awk -v b="$private" 'BEGIN { printf "%.1f MiB", b / 1048576 }')}")
    rsss+=("$((rss / 1024)) MiB")
}

if [ "$have_lt" = 1 ]; then
    start_lt_seed
    measure "libtorrent -> libtorrent" lt
    measure "libtorrent -> mt get" mt mmap
    measure "libtorrent -> mt get (magnet)" mt-magnet mmap
    stop_seed
else
    echo "libtorrent's Python bindings are missing; libtorrent pairings skipped"
fi
start_mt_seed mmap
measure "mt seed -> mt get (mmap)" mt mmap
measure "mt seed -> mt get (tracker)" mt-tracker mmap
if [ "$have_lt" = 1 ]; then
    measure "mt seed -> libtorrent" lt
    measure "mt seed -> libtorrent (utp on)" lt-utp
fi
stop_seed
start_mt_seed pread
measure "mt seed -> mt get (pread)" mt pread
stop_seed

reference=""
for i in "${!names[@]}"; do
    [ "${names[$i]}" = "libtorrent -> libtorrent" ] && reference=${bests[$i]}
done
echo
printf '%-31s %8s %7s %9s %12s %10s\n' pairing "best s" MiB/s "vs lt->lt" "mt private" "peak rss"
for i in "${!names[@]}"; do
    ratio=-
    [ -n "$reference" ] && ratio=$(awk -v a="${bests[$i]}" -v b="$reference" 'BEGIN { printf "%.2f", b / a }')
    printf '%-31s %8s %7s %9s %12s %10s\n' "${names[$i]}" "${seconds[$i]}" "${speeds[$i]}" "$ratio" \
        "${privates[$i]:--}" "${rsss[$i]}"
done
