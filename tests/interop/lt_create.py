"""Create a torrent with libtorrent's create_torrent and print its info hashes as JSON.

usage: /usr/bin/python3 lt_create.py PATH PIECE_LENGTH v1|v2|hybrid [OUT.torrent]

PATH is a file or folder, added with add_files (libtorrent's own order and, for v2 and
hybrid torrents, its pad files). No creation date or creator is written, so the info
dictionary is what defines the content. Prints {"v1": hex or null, "v2": hex or null,
"seconds": time spent in set_piece_hashes}.
"""

import json
import os
import sys
import time

import libtorrent as lt


def main():
    path, piece_length, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    flags = {"v1": lt.create_torrent.v1_only, "v2": lt.create_torrent.v2_only, "hybrid": 0}[kind]
    storage = lt.file_storage()
    lt.add_files(storage, path)
    creator = lt.create_torrent(storage, piece_length, flags=flags)
    started = time.monotonic()
    lt.set_piece_hashes(creator, os.path.dirname(os.path.abspath(path)))
    seconds = time.monotonic() - started
    entry = creator.generate()
    entry.pop(b"creation date", None)
    entry.pop(b"created by", None)
    if len(sys.argv) > 4:
        with open(sys.argv[4], "wb") as f:
            f.write(lt.bencode(entry))
    hashes = lt.torrent_info(entry).info_hashes()
    print(json.dumps({
        "v1": str(hashes.v1) if hashes.has_v1() else None,
        "v2": str(hashes.v2) if hashes.has_v2() else None,
        "seconds": seconds,
    }))


if __name__ == "__main__":
    main()
