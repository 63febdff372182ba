"""Parse a torrent with libtorrent and force-recheck its data, then print the result as JSON.

usage: /usr/bin/python3 libtorrent_check.py TORRENT SAVE_PATH [TIMEOUT_SECONDS]

SAVE_PATH is the folder that holds the torrent's file (single-file) or top folder. The
session starts nothing on the network: DHT, LSD, UPnP and NAT-PMP are off and it listens on
127.0.0.1 only. Prints one JSON object: info_hash, name, total_size, files, total_pieces,
num_pieces, state, checked (both checks finished before the timeout).
"""

import json
import sys
import time

import libtorrent as lt


def wait_for_check(session, deadline):
    """Waits for one torrent_checked_alert; False on timeout."""
    while time.monotonic() < deadline:
        session.wait_for_alert(200)
        for alert in session.pop_alerts():
            if isinstance(alert, lt.torrent_checked_alert):
                return True
    return False


def settled(status, total):
    """True once a finished check has left the torrent seeding everything, or downloading."""
    if status.state == lt.torrent_status.downloading:
        return True
    done = status.state in (lt.torrent_status.seeding, lt.torrent_status.finished)
    return done and status.num_pieces == total


def main():
    torrent, save_path = sys.argv[1], sys.argv[2]
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 45.0
    deadline = time.monotonic() + timeout
    session = lt.session({
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "listen_interfaces": "127.0.0.1:0",
        "alert_mask": lt.alert_category.status | lt.alert_category.error,
    })
    info = lt.torrent_info(torrent)
    params = lt.add_torrent_params()
    params.ti = info
    params.save_path = save_path
    handle = session.add_torrent(params)

    checked = wait_for_check(session, deadline)
    if checked:
        handle.force_recheck()
        checked = wait_for_check(session, deadline)
    # After the recheck the state settles within moments: seeding with every piece when
    # the data is whole, downloading when some piece failed its hash.
    settle = min(deadline, time.monotonic() + 5.0)
    status = handle.status()
    while checked and time.monotonic() < settle and not settled(status, info.num_pieces()):
        time.sleep(0.05)
        status = handle.status()

    files = info.files()
    print(json.dumps({
        "info_hash": str(info.info_hashes().v1),
        "name": info.name(),
        "total_size": info.total_size(),
        "files": [
            {"path": files.file_path(i), "length": files.file_size(i)}
            for i in range(files.num_files())
        ],
        "total_pieces": info.num_pieces(),
        "num_pieces": status.num_pieces,
        "state": str(status.state),
        "checked": checked,
    }))


if __name__ == "__main__":
    main()
