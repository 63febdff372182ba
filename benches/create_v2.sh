#!/usr/bin/env bash
# v2 and hybrid creation (BEP 52): `mt create --hybrid` and `--v2` against libtorrent's
# create_torrent + set_piece_hashes (tests/interop/lt_create.py) for the same output, and v1
# `mt create` against `mktorrent -t<cores>`, on the 2 GiB random file of storage.sh and on a
# folder of 24 files (about 1.2 GiB, odd sizes), 256 KiB pieces. Warm cache: best of 3 wall times per tool. Cold cache: each input evicted
# with posix_fadvise(POSIX_FADV_DONTNEED) before one run of each tool, and the cold read
# time of the same bytes (cat) measured the same way. The compute limit is the criterion
# bench `compute_limit` of benches/hashing.rs (SHA-1 plus SHA-256 of every byte on every
# core), run here in the same session; a cold `--hybrid` row also shows its time over the
# larger of the cold read time and the compute limit's time for the same bytes (vs_limit).
# Every figure is printed in GB/s (10^9 bytes/s).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh

MT=target/release/mt
PY=/usr/bin/python3
LT=tests/interop/lt_create.py
FILE=bench-data/random-2GiB.bin
FOLDER=bench-data/v2-folder
SIZE=$((2 * 1024 * 1024 * 1024))
RUNS=3

[ -x "$MT" ] || { echo "create_v2.sh: $MT is missing; run 'cargo build --release' first" >&2; exit 2; }
have_lt=1
$PY -c 'import libtorrent' 2>/dev/null || { have_lt=0; echo "create_v2.sh: python3-libtorrent missing; timing mt only" >&2; }
have_mk=1
command -v mktorrent > /dev/null || { have_mk=0; echo "create_v2.sh: mktorrent missing; timing mt v1 only" >&2; }

random_file "$FILE" "$SIZE"
if [ ! -f "$FOLDER/.complete" ]; then
    echo "generating $FOLDER (24 files, once)..."
    rm -rf "$FOLDER"
    mkdir -p "$FOLDER/sub/deeper"
    for i in $(seq 1 24); do
        case $((i % 3)) in 0) dir=$FOLDER ;; 1) dir=$FOLDER/sub ;; *) dir=$FOLDER/sub/deeper ;; esac
        head -c $(( (i * 7919 % 97 + 1) * 512 * 1024 + i * 12345 )) /dev/urandom > "$dir/file-$i.bin"
    done
    touch "$FOLDER/.complete"
fi
FOLDER_BYTES=$(find "$FOLDER" -type f -name 'file-*' -printf '%s\n' | awk '{ s += $1 } END { print s }')
rm -f "$FOLDER/.complete.torrent"

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# evict PATH: drops PATH's pages (every file below it) from the page cache.
evict() {
    $PY - "$1" <<'PYEOF'
import os, sys
root = sys.argv[1]
paths = [root] if os.path.isfile(root) else [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
for path in paths:
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
PYEOF
}

warm() { find "$1" -type f -exec cat {} + > /dev/null; }

# seconds CMD...: one wall time in seconds (output discarded), or "failed".
seconds() {
    local t
    if ! t=$( { TIMEFORMAT=%3R; time "$@" > /dev/null 2>&1; } 2>&1 ); then
        echo failed
        return
    fi
    echo "$t"
}

best_of() {
    local best="" t
    for _ in $(seq "$RUNS"); do
        t=$(seconds "$@")
        [ "$t" = failed ] && { echo failed; return; }
        best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }')
    done
    echo "$best"
}

# mt_cmd KIND INPUT / ref_cmd KIND INPUT: the command that makes a KIND torrent of INPUT with
# mt, and with the reference tool (libtorrent for v2 and hybrid, mktorrent for v1), or "-"
# when the reference is not installed.
mt_cmd() {
    case $1 in
        v1) echo "$MT" create -p 256K --no-date --force "$2" "$OUT/mt.torrent" ;;
        *) echo "$MT" create "--$1" -p 256K --no-date --force "$2" "$OUT/mt.torrent" ;;
    esac
}
ref_cmd() {
    case $1 in
        v1) [ "$have_mk" = 1 ] && echo mk "$2" || echo - ;;
        *) [ "$have_lt" = 1 ] && echo "$PY" "$LT" "$2" 262144 "$1" || echo - ;;
    esac
}

# mk INPUT: mktorrent's v1 torrent of INPUT; it refuses to replace an existing output.
mk() {
    rm -f "$OUT/mk.torrent"
    mktorrent -t "$(nproc)" -l 18 -o "$OUT/mk.torrent" "$1"
}

gbps() { awk -v b="$1" -v t="$2" 'BEGIN { if (t == "failed" || t + 0 == 0) print "-"; else printf "%.2f", b / t / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "failed" || b == "failed" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
# limit_s BYTES READ_S: seconds the compute limit needs for BYTES, or READ_S when that is longer.
limit_s() { awk -v b="$1" -v r="$2" -v l="$LIMIT" 'BEGIN { if (l == "-" || l + 0 == 0) { print "failed"; exit }
    t = b / (l * 1e9); if (r != "failed" && r + 0 > t) t = r; printf "%.3f", t }'; }

echo "measuring the compute limit (cargo bench --bench hashing -- compute_limit)..."
limit_line=$(cargo bench --bench hashing -- --quick compute_limit 2>/dev/null | grep -A2 'compute_limit' | grep 'thrpt' | head -1 || true)
# "thrpt:  [a GiB/s b GiB/s c GiB/s]": the middle estimate, in GB/s.
LIMIT=$(echo "$limit_line" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) v[++n] = $i; u = $NF } END {
    if (n < 2) { print "-"; exit } x = v[2]; if ($0 ~ /GiB/) x *= 1.073741824; else if ($0 ~ /MiB/) x *= 0.001048576; printf "%.2f", x }')
echo "compute limit: $LIMIT GB/s (SHA-1 + SHA-256 of every byte on every core)"

row() {
    printf '%-8s %-7s %-6s %9s %9s %9s %9s %8s %9s\n' "$@"
}
printf '\n'
row input kind cache mt_s mt_GB/s ref_s ref_GB/s ref/mt vs_limit
for input in "$FILE" "$FOLDER"; do
    bytes=$SIZE
    label=file
    [ -d "$input" ] && { bytes=$FOLDER_BYTES; label=folder; }
    warm "$input"
    for kind in hybrid v2 v1; do
        # shellcheck disable=SC2046 # the commands are split into words on purpose
        mt_t=$(best_of $(mt_cmd "$kind" "$input"))
        ref=$(ref_cmd "$kind" "$input")
        ref_t=-
        # shellcheck disable=SC2086
        [ "$ref" != - ] && ref_t=$(best_of $ref)
        vs=-
        [ "$kind" = hybrid ] && vs=$(ratio "$mt_t" "$(limit_s "$bytes" 0)")
        row "$label" "$kind" warm "$mt_t" "$(gbps "$bytes" "$mt_t")" "$ref_t" "$(gbps "$bytes" "$ref_t")" \
            "$(ratio "$ref_t" "$mt_t")" "$vs"
    done
    evict "$input"
    read_t=$(seconds find "$input" -type f -exec cat {} +)
    for kind in hybrid v2 v1; do
        evict "$input"
        # shellcheck disable=SC2046
        mt_t=$(seconds $(mt_cmd "$kind" "$input"))
        ref=$(ref_cmd "$kind" "$input")
        ref_t=-
        if [ "$ref" != - ]; then
            evict "$input"
            # shellcheck disable=SC2086
            ref_t=$(seconds $ref)
        fi
        vs=-
        [ "$kind" = hybrid ] && vs=$(ratio "$mt_t" "$(limit_s "$bytes" "$read_t")")
        row "$label" "$kind" cold "$mt_t" "$(gbps "$bytes" "$mt_t")" "$ref_t" "$(gbps "$bytes" "$ref_t")" \
            "$(ratio "$ref_t" "$mt_t")" "$vs"
    done
    echo "$label cold read (cat): $read_t s, $(gbps "$bytes" "$read_t") GB/s"
done
echo
echo "ref is libtorrent for hybrid and v2, mktorrent -t$(nproc) for v1; ref/mt above 1 means mt is"
echo "faster. vs_limit (hybrid): mt's time over the compute limit's time ($LIMIT GB/s) for the same"
echo "bytes, warm; cold, over the larger of that and the cold read time. The goal is at most 1.15."
