#!/usr/bin/python3
"""A libtorrent peer for mt's swarm tests and benchmarks, on loopback only.

    lt_swarm.py seed|get TORRENT|MAGNET SAVE_PATH [--peer HOST:PORT]... [--timeout SECS] [--utp]
                [--require-encryption] [--max-down BYTES_PER_SECOND] [--max-up BYTES_PER_SECOND]
                [--listen ADDR] [--keep-seeding] [--dht-bootstrap HOST:PORT] [--super-seed]

Listens on 127.0.0.1 (a free port), with DHT, LSD, UPnP, NAT-PMP and uTP off. Prints one
JSON object per line: {"event": "listening", "port": N} first, then progress, and for `get`
{"event": "done", ...} once every piece is verified. A seed runs until killed or until the
timeout; `get` exits 0 when complete and 1 on timeout.

`--utp` keeps uTP on, as libtorrent's defaults have it (it then dials uTP first and falls back
to TCP), and prints each peer connection as it is made and ends:
{"event": "peer_connect"|"peer_disconnected", "socket": "utp"|"tcp", ...}.

Encryption stays at libtorrent's defaults (it opens each outgoing connection with an
encrypted handshake (message stream encryption) and falls back to a plain one if
that fails) unless `--require-encryption` makes it accept only encrypted handshakes (in and
out) while still letting the other side choose a plaintext stream after them.

`--max-down` caps the torrent's download rate, so that a test can watch what libtorrent does
while a download is still running; `--max-up` caps its upload rate. Both are libtorrent's own
limiter, the reference `benches/ratelimit.sh` measures mt's against.

`--listen` picks the address to listen on (default 127.0.0.1, port 0: any free one), for a
host inside a network namespace or `[::1]:0` for IPv6; `--peer` takes `[::1]:PORT` too. `--keep-seeding` keeps a finished `get` serving the others
until the timeout or a kill, as a peer of a swarm would.

`--super-seed` makes a seed super-seed (BEP 16), libtorrent's reference for mt's
`--super-seed` in `benches/swarm_hosts.py`.

`--dht-bootstrap` turns libtorrent's DHT on, bootstrapped only from that node, with the
restrictions that keep a DHT off loopback and private addresses lifted (several nodes per
address, searches and routing through 127.x), and announcing every few seconds, so it can
take part in a testnet on this host.
"""

import json
import sys
import time

import libtorrent as lt


def log(**fields):
    print(json.dumps(fields), flush=True)


def log_connection(alert):
    """Prints a peer connection being made or ended, and over which transport."""
    fields = {"endpoint": "%s:%d" % alert.endpoint, "message": alert.message()}
    if isinstance(alert, lt.peer_connect_alert):
        # libtorrent 2.0's binding does not expose this alert's socket type; its text does.
        fields["socket"] = "utp" if "utp" in alert.message().lower() else "tcp"
        log(event="peer_connect", **fields)
    else:
        fields["socket"] = "utp" if alert.socket_type == lt.socket_type_t.utp else "tcp"
        fields["error"] = alert.error.message()
        log(event="peer_disconnected", **fields)


def main(argv):
    mode, torrent, save_path = argv[1], argv[2], argv[3]
    peers, timeout, utp, encryption, max_down, max_up, i = [], 120.0, False, False, 0, 0, 4
    listen, keep_seeding, done, dht, super_seed = "127.0.0.1:0", False, False, None, False
    while i < len(argv):
        if argv[i] == "--utp":
            utp = True
            i += 1
            continue
        if argv[i] == "--require-encryption":
            encryption = True
            i += 1
            continue
        if argv[i] == "--keep-seeding":
            keep_seeding = True
            i += 1
            continue
        if argv[i] == "--super-seed":
            super_seed = True
            i += 1
            continue
        if argv[i] == "--peer":
            host, port = argv[i + 1].rsplit(":", 1)
            peers.append((host.strip("[]"), int(port)))
        elif argv[i] == "--timeout":
            timeout = float(argv[i + 1])
        elif argv[i] == "--max-down":
            max_down = int(argv[i + 1])
        elif argv[i] == "--listen":
            listen = argv[i + 1]
        elif argv[i] == "--dht-bootstrap":
            dht = argv[i + 1]
        elif argv[i] == "--max-up":
            max_up = int(argv[i + 1])
        i += 2

    settings = {
        "listen_interfaces": listen,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": utp,
        "enable_outgoing_utp": utp,
        "allow_multiple_connections_per_ip": True,
        "min_announce_interval": 1,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | (lt.alert.category_t.connect_notification if utp else 0),
    }
    if dht:
        settings.update({
            "enable_dht": True,
            "dht_bootstrap_nodes": dht,
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            "dht_ignore_dark_internet": False,
            "dht_announce_interval": 5,
            # Every testnet node shares 127.0.0.1: do not block or throttle that address.
            "dht_block_ratelimit": 100000,
            "dht_upload_rate_limit": 10000000,
        })
    if encryption:
        settings["out_enc_policy"] = 0  # pe_forced
        settings["in_enc_policy"] = 0  # pe_forced
        settings["allowed_enc_level"] = 3  # pe_both: plaintext or RC4 after the handshake
    session = lt.session(settings)
    if torrent.startswith("magnet:"):
        params = lt.parse_magnet_uri(torrent)  # the info dictionary comes from peers (BEP 9)
    else:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(torrent)
    params.save_path = save_path
    if mode == "seed":
        params.flags |= lt.torrent_flags.seed_mode
        if super_seed:
            params.flags |= lt.torrent_flags.super_seeding
    handle = session.add_torrent(params)
    if max_down:
        handle.set_download_limit(max_down)
    if max_up:
        handle.set_upload_limit(max_up)
    deadline = time.monotonic() + timeout
    while session.listen_port() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    log(event="listening", port=session.listen_port())
    for peer in peers:
        handle.connect_peer(peer)

    started = time.monotonic()
    last = 0.0
    last_dial = 0.0
    dialled = False
    while time.monotonic() < deadline:
        status = handle.status()
        for alert in session.pop_alerts():
            if isinstance(alert, (lt.peer_connect_alert, lt.peer_disconnected_alert)):
                log_connection(alert)
                dialled = True
            elif alert.category() & lt.alert.category_t.error_notification:
                log(event="warning", message=alert.message())
        if mode == "get" and status.is_seeding and not done:
            log(event="done", seconds=time.monotonic() - started,
                downloaded=status.total_payload_download)
            done = True
            if not keep_seeding:
                return 0
        now = time.monotonic()
        if now - last >= 1.0:
            last = now
            log(event="stats", progress=status.progress, peers=status.num_peers,
                state=str(status.state), uploaded=status.total_payload_upload)
        # A connect_peer made while the torrent is still starting is dropped: keep asking
        # until a peer is connected, so start-up does not add a second to every transfer.
        # With --utp, stop once libtorrent has dialled: asking again would mark the peer as
        # reachable over uTP again and undo libtorrent's own fallback to TCP.
        if status.num_peers == 0 and not dialled and now - last_dial >= 0.1:
            last_dial = now
            for peer in peers:
                handle.connect_peer(peer)
        time.sleep(0.02)
    log(event="timeout")
    return 1 if mode == "get" and not done else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
