#!/usr/bin/env bash
# Web seed benchmark: 256 MiB from a local HTTP server (benches/range_server.py, byte ranges,
# sendfile) on loopback, by `mt get` from the torrent's web seed alone (no peers) against
# `curl` fetching the same file from the same server. Both write the file to disk next to the
# data, with a warm page cache; best of 3 runs each, timed from start to exit. The ratio is
# mt's time over curl's: at or below 1 is as fast as curl. Like curl, `mt get` exits once the
# file is complete in the page cache and leaves writing it back to the kernel.
#
# The data file is made once under bench-data/ (git-ignored) and kept between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh

MT=$PWD/target/release/mt
PY=/usr/bin/python3
DATA=bench-data/random-256MiB.bin
SIZE=$((256 * 1024 * 1024))
RUNS=3

[ -x "$MT" ] || { echo "webseed.sh: $MT is missing; run 'cargo build --release' first" >&2; exit 2; }
command -v curl > /dev/null || { echo "webseed.sh: curl is missing" >&2; exit 2; }

random_file "$DATA" "$SIZE"

WORK=$(mktemp -d "$PWD/bench-data/webseed.XXXXXX")
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2> /dev/null || true
        wait "$SERVER_PID" 2> /dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

NAME=$(basename "$DATA")
mkdir -p "$WORK/www" "$WORK/runtime"
chmod 700 "$WORK/runtime"
ln "$DATA" "$WORK/www/$NAME" 2> /dev/null || cp "$DATA" "$WORK/www/$NAME"
"$PY" benches/range_server.py "$WORK/www" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
PORT=""
for _ in $(seq 100); do
    PORT=$(grep -o '"port": [0-9]*' "$WORK/server.log" 2> /dev/null | grep -o '[0-9]*$' || true)
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { echo "webseed.sh: the HTTP server did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }
URL=http://127.0.0.1:$PORT/$NAME
"$MT" create -p 256K --webseed "$URL" "$WORK/www/$NAME" "$WORK/bench.torrent" > /dev/null
echo "warming the page cache..."
cat "$DATA" > /dev/null

# best_of COMMAND...: runs it RUNS times (removing $WORK/out before each), prints the best time.
best_of() {
    local best="" start end t
    for _ in $(seq "$RUNS"); do
        rm -rf "$WORK/out"
        start=$(date +%s.%N)
        "$@" > "$WORK/run.log" 2>&1 || { echo "webseed.sh: failed: $*" >&2; cat "$WORK/run.log" >&2; exit 1; }
        end=$(date +%s.%N)
        cmp -s "$DATA" "$WORK/out" || { echo "webseed.sh: the copy differs: $*" >&2; exit 1; }
        t=$(echo "$end - $start" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
    done
    echo "$best"
}

echo "256 MiB from a local web seed (best of $RUNS):"
CURL=$(best_of curl -sS -o "$WORK/out" "$URL")
MTT=$(best_of env MT_RUNTIME_DIR="$WORK/runtime" "$MT" get "$WORK/bench.torrent" "$WORK/out" \
    --bind 127.0.0.1 -p 0 --no-dht --no-lsd --timeout 300)
PREAD=$(best_of env MT_RUNTIME_DIR="$WORK/runtime" "$MT" get "$WORK/bench.torrent" "$WORK/out" \
    --bind 127.0.0.1 -p 0 --no-dht --no-lsd --timeout 300 --io pread)
awk -v c="$CURL" -v m="$MTT" -v p="$PREAD" -v size="$SIZE" 'BEGIN {
    printf "  curl                    %6.2f s  %7.1f MiB/s\n", c, size / c / 1048576
    printf "  mt get (ws)             %6.2f s  %7.1f MiB/s  time ratio mt/curl %.2f\n", m, size / m / 1048576, m / c
    printf "  mt get (ws) --io pread  %6.2f s  %7.1f MiB/s  time ratio mt/curl %.2f\n", p, size / p / 1048576, p / c
}'
