#!/usr/bin/env bash
# End-to-end storage benchmark: mt create / mt verify against other torrent creators on one
# 2 GiB random file with a warm page cache. Best of 3 runs per tool, 256 KiB pieces. Then
# mt create against mktorrent on a folder of 100,000 small files in nested folders (the
# files of tests/cli/many_files.rs), checking that both give the same info hash.
#
# The data file is made once under bench-data/ (git-ignored) and kept between runs. Tools
# other than mt and mktorrent are timed only when installed. Ratios are each tool's time
# divided by `mt create`'s: above 1 means mt is faster.
set -euo pipefail
cd "$(dirname "$0")/.."

MT=target/release/mt
DATA=bench-data/random-2GiB.bin
SIZE=$((2 * 1024 * 1024 * 1024))
RUNS=3

[ -x "$MT" ] || { echo "storage.sh: $MT is missing; run 'cargo build --release' first" >&2; exit 2; }

if [ ! -f "$DATA" ] || [ "$(stat -c %s "$DATA")" -ne "$SIZE" ]; then
    mkdir -p bench-data
    free=$(df --output=avail -B1 bench-data | tail -1)
    if [ "$free" -lt $((SIZE + SIZE / 10)) ]; then
        echo "storage.sh: need about 2.2 GiB free under bench-data/" >&2
        exit 2
    fi
    echo "generating $DATA (2 GiB of random bytes, once)..."
    head -c "$SIZE" /dev/urandom > "$DATA.partial"
    mv "$DATA.partial" "$DATA"
fi

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "warming the page cache..."
cat "$DATA" > /dev/null

# best_of CMD...: runs CMD $RUNS times (output discarded, its torrent removed first) and
# prints the best wall time in seconds, or "failed".
best_of() {
    local best="" t
    for _ in $(seq "$RUNS"); do
        rm -f "$OUT"/*.torrent
        if ! t=$( { TIMEFORMAT=%3R; time "$@" > /dev/null 2>&1; } 2>&1 ); then
            echo failed
            return
        fi
        best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }')
    done
    echo "$best"
}

names=()
times=()
record() {
    local name=$1
    shift
    echo "timing $name..."
    names+=("$name")
    times+=("$(best_of "$@")")
}

make_mt_torrent() { "$MT" create -p 256K --force "$DATA" "$OUT/reference.t" > /dev/null; }

record "mt create" "$MT" create -p 256K "$DATA" "$OUT/mt.torrent"
make_mt_torrent
verify() { "$MT" verify "$OUT/reference.t" "$DATA"; }
record "mt verify" verify
record "mktorrent -t$(nproc)" mktorrent -t "$(nproc)" -l 18 -o "$OUT/mk.torrent" "$DATA"
if command -v transmission-create > /dev/null; then
    record "transmission-create" transmission-create -s 256 -o "$OUT/tr.torrent" "$DATA"
else
    echo "transmission-create not installed; skipped"
fi
if command -v imdl > /dev/null; then
    record "imdl" imdl torrent create --piece-length 256KiB --input "$DATA" --output "$OUT/imdl.torrent"
else
    echo "imdl not installed; skipped"
fi

mt_time=${times[0]}
echo
echo "2 GiB, 256 KiB pieces, warm cache, best of $RUNS, $(nproc) cores"
printf '%-22s %9s %8s %14s\n' tool seconds GB/s "time / mt's"
for i in "${!names[@]}"; do
    t=${times[$i]}
    if [ "$t" = failed ]; then
        printf '%-22s %9s %8s %14s\n' "${names[$i]}" failed - -
        continue
    fi
    awk -v name="${names[$i]}" -v t="$t" -v mt="$mt_time" -v size="$SIZE" 'BEGIN {
        secs = (t > 0) ? t : 0.001
        ratio = (mt == "failed") ? "-" : sprintf("%.2f", t / mt)
        printf "%-22s %9.3f %8.2f %14s\n", name, t, size / 1e9 / secs, ratio
    }'
done

# A folder of 100,000 small files, the same bytes as tests/cli/many_files.rs makes, kept
# under bench-data/ between runs. mt and mktorrent must agree on its info hash.
MANY=bench-data/many-100k/many
if [ ! -f "$MANY/d9/e9/f9/99999.bin" ]; then
    echo "generating $MANY (100,000 small files, once)..."
    rm -rf bench-data/many-100k
    python3 - "$MANY" <<'PY'
import os, sys
root = sys.argv[1]
for i in range(100_000):
    folder = f"{root}/d{i // 10_000}/e{i // 1_000 % 10}/f{i // 100 % 10}"
    if i % 100 == 0:
        os.makedirs(folder, exist_ok=True)
    data = bytes((i * 31 + j * 17) % 256 for j in range(i * 7 % 64))
    with open(f"{folder}/{i}.bin", "wb") as out:
        out.write(data)
PY
fi
find "$MANY" -type f -exec cat {} + > /dev/null

echo "timing mt create and mktorrent -t$(nproc) on 100,000 files..."
many_mt=$(best_of "$MT" create -p 32K --no-date --force "$MANY" "$OUT/many-mt.torrent")
many_mk=$(best_of mktorrent -t "$(nproc)" -l 15 -o "$OUT/many-mk.torrent" "$MANY")
"$MT" create -p 32K --no-date --force "$MANY" "$OUT/many-mt.torrent" > /dev/null
rm -f "$OUT/many-mk.torrent"
mktorrent -t "$(nproc)" -l 15 -o "$OUT/many-mk.torrent" "$MANY" > /dev/null
hash_of() { "$MT" show --json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["info_hash"])'; }
mt_hash=$(hash_of "$OUT/many-mt.torrent")
mk_hash=$(hash_of "$OUT/many-mk.torrent")
echo
echo "100,000 files of 0-63 bytes in 1,111 folders, 32 KiB pieces, warm cache, best of $RUNS"
printf '%-22s %9s %14s\n' tool seconds "time / mt's"
for row in "mt create:$many_mt" "mktorrent -t$(nproc):$many_mk"; do
    awk -v name="${row%%:*}" -v t="${row##*:}" -v mt="$many_mt" 'BEGIN {
        if (t == "failed") { printf "%-22s %9s %14s\n", name, "failed", "-"; exit }
        ratio = (mt == "failed" || mt <= 0) ? "-" : sprintf("%.2f", t / mt)
        printf "%-22s %9.3f %14s\n", name, t, ratio
    }'
done
if [ "$mt_hash" = "$mk_hash" ]; then
    echo "info hash: both $mt_hash"
else
    echo "info hash differs: mt $mt_hash, mktorrent $mk_hash" >&2
    exit 1
fi
