#!/usr/bin/env bash
# DHT benchmark on loopback: a testnet of 100 `mt dht` nodes (one bootstrap node and 99 that
# join through it), then lookups of random info hashes by `mt dht get-peers` through it:
# the time each lookup takes and the queries it sends (median and worst of LOOKUPS), and the
# resident memory of the node holding the largest routing table, with its size.
#
#   bash benches/dht.sh [LOOKUPS]       (default 20; MT=path/to/mt to time another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh

LOOKUPS=${1:-20}
NODES=100
if [ -z "${MT:-}" ]; then
    cargo build --release --quiet
    MT=target/release/mt
fi

work_folder_for_pids
export MT_STATE_DIR=$WORK/state MT_RUNTIME_DIR=$WORK/runtime

# field NAME LINE: the value of "NAME" in a one-line JSON object.
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" <<< "$2"; }

"$MT" dht --bind 127.0.0.1 -p 0 --no-bootstrap --json > "$WORK/node0.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$WORK/node0.log" && break; sleep 0.1; done
ROOT=$(field addr "$(grep -m1 listening "$WORK/node0.log")")
[ -n "$ROOT" ] || { cat "$WORK/node0.log" >&2; echo "dht.sh: the bootstrap node did not start" >&2; exit 1; }
for n in $(seq 1 $((NODES - 1))); do
    "$MT" dht --bind 127.0.0.1 -p 0 --dht-bootstrap "$ROOT" --json > "$WORK/node$n.log" 2>&1 &
    pids+=($!)
done
# Let the nodes join and the tables fill (each node looks itself up once at start).
sleep 10

times=()
messages=()
for _ in $(seq "$LOOKUPS"); do
    hash=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
    line=$("$MT" dht get-peers "$hash" --dht-bootstrap "$ROOT" --bind 127.0.0.1 --json --timeout 30 || true)
    [ "$(field nodes "$line")" = 8 ] || { echo "dht.sh: a lookup did not converge: $line" >&2; exit 1; }
    times+=("$(field elapsed_ms "$line")")
    messages+=("$(field messages "$line")")
done

# The node with the largest table, from the last status line each printed.
best=0 best_pid=${pids[0]} best_nodes=0
for n in $(seq 0 $((NODES - 1))); do
    nodes=$(field nodes "$(grep status "$WORK/node$n.log" | tail -1)")
    if [ "${nodes:-0}" -gt "$best_nodes" ]; then best_nodes=$nodes best_pid=${pids[$n]}; fi
done
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$best_pid/status")

summary() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "median %s, worst %s", v[int((NR + 1) / 2)], v[NR] }'; }
echo "dht: $NODES-node loopback testnet, $LOOKUPS lookups of random info hashes (each from a fresh node)"
echo "  lookup time (ms):      $(summary "${times[@]}")"
echo "  queries per lookup:    $(summary "${messages[@]}")"
echo "  largest table:         $best_nodes nodes, that node's resident memory $((rss_kib / 1024)) MiB ($rss_kib KiB)"
