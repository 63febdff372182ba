#!/usr/bin/env bash
# Rate-limit benchmark: how close `--max-down 1M` and `--max-up 1M` hold a 20 MiB transfer on
# loopback to 1 MiB/s (about 20 s each), next to libtorrent's own limiter over the same data.
#
#   down: mt seed (unlimited)     -> mt get --max-down 1M
#   up:   mt seed --max-up 1M     -> mt get
#   ref:  mt seed (unlimited)     -> libtorrent get, download_rate_limit 1 MiB/s
#
# Each rate is the payload the downloader received over the time it reports (from its session's
# start to completion, connection set-up included); the error is that rate's distance from
# 1 MiB/s. The libtorrent line needs python3-libtorrent for /usr/bin/python3 and is skipped
# without it.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh

MT=$PWD/target/release/mt
LT=$PWD/tests/interop/lt_swarm.py
PY=/usr/bin/python3
SIZE=$((20 * 1024 * 1024))
RATE=$((1024 * 1024))

[ -x "$MT" ] || { echo "ratelimit.sh: $MT is missing; run 'cargo build --release' first" >&2; exit 2; }
command -v jq > /dev/null || { echo "ratelimit.sh: jq is missing" >&2; exit 2; }

mkdir -p bench-data
WORK=$(mktemp -d "$PWD/bench-data/ratelimit.XXXXXX")
SEED_PID=""
cleanup() {
    stop_seed
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WORK/seed" "$WORK/runtime-seed" "$WORK/runtime-get"
chmod 700 "$WORK/runtime-seed" "$WORK/runtime-get"
head -c "$SIZE" /dev/urandom > "$WORK/seed/data.bin"
"$MT" create -p 256K "$WORK/seed/data.bin" "$WORK/data.torrent" > /dev/null

# start_seed EXTRA...: starts mt seed on loopback and sets SEED_ADDR.
start_seed() {
    MT_RUNTIME_DIR=$WORK/runtime-seed "$MT" seed "$WORK/data.torrent" "$WORK/seed/data.bin" \
        --bind 127.0.0.1 -p 0 --no-dht --no-lsd --json "$@" > "$WORK/seed.log" 2>&1 &
    SEED_PID=$!
    SEED_ADDR=""
    for _ in $(seq 300); do
        SEED_ADDR=$(jq -r 'select(.event == "seeding") | .addr' "$WORK/seed.log" 2> /dev/null || true)
        [ -n "$SEED_ADDR" ] && return
        sleep 0.1
    done
    echo "ratelimit.sh: mt seed did not start" >&2
    cat "$WORK/seed.log" >&2
    exit 1
}

# report LABEL BYTES SECONDS
report() {
    awk -v label="$1" -v bytes="$2" -v secs="$3" -v rate="$RATE" 'BEGIN {
        got = bytes / secs
        printf "%-44s %6.1f s  %7.1f KiB/s  error %+5.1f%%\n", label, secs, got / 1024, (got / rate - 1) * 100
    }'
}

# mt_get LABEL EXTRA...: mt get from the running seed; reports its rate.
mt_get() {
    local label=$1
    shift
    rm -f "$WORK/copy.bin"
    MT_RUNTIME_DIR=$WORK/runtime-get "$MT" get "$WORK/data.torrent" "$WORK/copy.bin" \
        --bind 127.0.0.1 -p 0 --no-dht --no-lsd --peer "$SEED_ADDR" --json --timeout 120 "$@" > "$WORK/get.log"
    cmp -s "$WORK/seed/data.bin" "$WORK/copy.bin" || { echo "ratelimit.sh: $label: copy differs" >&2; exit 1; }
    local done
    done=$(jq -r 'select(.event == "done") | "\(.downloaded) \(.elapsed)"' "$WORK/get.log")
    report "$label" ${done}
}

echo "rate limit at 1 MiB/s over a 20 MiB transfer on loopback:"
start_seed
mt_get "mt get --max-down 1M      (from mt seed)" --max-down 1M
if "$PY" -c 'import libtorrent' 2> /dev/null; then
    rm -rf "$WORK/lt"
    "$PY" "$LT" get "$WORK/data.torrent" "$WORK/lt" --peer "$SEED_ADDR" --timeout 120 \
        --max-down "$RATE" > "$WORK/lt.log"
    cmp -s "$WORK/seed/data.bin" "$WORK/lt/data.bin" || { echo "ratelimit.sh: libtorrent copy differs" >&2; exit 1; }
    done=$(jq -r 'select(.event == "done") | "\(.downloaded) \(.seconds)"' "$WORK/lt.log")
    report "libtorrent download_rate_limit (reference)" ${done}
else
    echo "libtorrent: skipped (no python3-libtorrent for $PY)"
fi
stop_seed
start_seed --max-up 1M
mt_get "mt seed --max-up 1M       (to mt get)"
stop_seed
