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
