#!/usr/bin/env bash
# Tracker load benchmark: announces per second answered by `mt tracker` and by opentracker,
# over UDP and HTTP, on loopback in the same run (benches/tracker_load.rs does the load), and
# mt tracker's peak RSS. opentracker is started with a whitelist of the test torrents, which
# the Debian build requires; when it is not installed only mt tracker is measured.
#
#   bash benches/tracker.sh [SECONDS]      (default 3 s per protocol and tracker)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh

SECONDS_PER_RUN=${1:-3}
MT=target/release/mt

cargo build --release --quiet
cargo bench --bench tracker_load --no-run --quiet
load() { cargo bench --bench tracker_load --quiet -- "$@"; }

work_folder_for_pids

# free_port: a TCP and UDP port on 127.0.0.1 that nothing is bound to right now.
free_port() {
    /usr/bin/env python3 - <<'EOF'
import socket
while True:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        continue
    print(port)
    break
EOF
}

# wait_http PORT: until something accepts TCP connections on 127.0.0.1:PORT (5 s at most).
wait_http() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "tracker.sh: nothing listens on 127.0.0.1:$1" >&2
    exit 1
}

mt_port=$(free_port)
"$MT" tracker --http "127.0.0.1:$mt_port" --udp "127.0.0.1:$mt_port" > "$WORK/mt.log" 2>&1 &
pids+=($!)
targets=(--target "mt,127.0.0.1:$mt_port,127.0.0.1:$mt_port,$!")
wait_http "$mt_port"

if command -v opentracker > /dev/null; then
    load hashes > "$WORK/whitelist"
    ot_port=$(free_port)
    # Run as root, opentracker chroots to -d and drops to nobody: give it its own folder.
    chmod 755 "$WORK"
    (cd "$WORK" && exec opentracker -i 127.0.0.1 -p "$ot_port" -P "$ot_port" -w whitelist -d "$WORK") \
        > "$WORK/opentracker.log" 2>&1 &
    pids+=($!)
    targets+=(--target "opentracker,127.0.0.1:$ot_port,127.0.0.1:$ot_port,$!")
    wait_http "$ot_port"
else
    echo "tracker.sh: opentracker is not installed; measuring mt tracker alone" >&2
fi

load --seconds "$SECONDS_PER_RUN" "${targets[@]}"
