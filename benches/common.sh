# Shared by the bench scripts, which source it; not run on its own.

# random_file PATH BYTES: makes PATH hold BYTES random bytes, once (kept between runs, made
# again when its size is wrong).
random_file() {
    local path=$1 size=$2
    if [ ! -f "$path" ] || [ "$(stat -c %s "$path")" -ne "$size" ]; then
        mkdir -p "$(dirname "$path")"
        echo "generating $path ($((size / 1048576)) MiB of random bytes, once)..."
        head -c "$size" /dev/urandom > "$path.partial"
        mv "$path.partial" "$path"
    fi
}

# stop_seed: stops the process whose pid is in SEED_PID, if any, waits for it and clears
# SEED_PID.
stop_seed() {
    if [ -n "${SEED_PID:-}" ]; then
        kill "$SEED_PID" 2> /dev/null || true
        wait "$SEED_PID" 2> /dev/null || true
        SEED_PID=""
    fi
}

# work_folder_for_pids: sets WORK to a new temporary folder and, when the script exits,
# stops every process whose pid the script added to the array `pids` and removes WORK.
work_folder_for_pids() {
    WORK=$(mktemp -d)
    pids=()
    trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
          for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
          rm -rf "$WORK"' EXIT
    trap 'exit 130' INT TERM
}
