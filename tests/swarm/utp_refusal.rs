//! `mt` speaks TCP only, and says so at once to a peer that dials uTP (BEP 29): the listen
//! port's UDP socket answers an `ST_SYN` with an `ST_RESET` for that connection, so clients
//! such as libtorrent (uTP first, at their defaults) fall back to TCP without waiting for
//! their SYN to time out. Such a client dials again over TCP only at its next connection tick
//! (about a second later), so `mt` also dials the SYN's address over TCP at once: clients
//! send uTP from their listen port.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use crate::common::swarm::{GET_LIMIT, assert_same_file};
use crate::common::{TestEnv, require_libtorrent};
use crate::support::raw_peer::RawListener;
use mt::metainfo::Metainfo;

/// A 2 MiB file in 32 KiB pieces, and its torrent.
fn setup() -> TestEnv {
    let env = TestEnv::new();
    env.write_generated("video.bin", 2 * 1024 * 1024 + 77, 9);
    env.run(&["create", "-p", "32K", "video.bin"]).expect_code(0);
    env
}

/// An `ST_SYN` (type 4, version 1) for connection 0xa09d with seq_nr 0x0c94.
pub const SYN: [u8; 20] = [
    0x41, 0x00, 0xa0, 0x9d, 0xfc, 0xde, 0xe6, 0x9b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,
    0x0c, 0x94, 0x00, 0x00,
];

#[test]
fn mt_seed_answers_a_utp_syn_with_a_reset_from_its_listen_port() {
    let env = setup();
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let seed_addr: SocketAddr = seed.addr.parse().expect("the seed's address");
    let probe = UdpSocket::bind("127.0.0.1:0").expect("bind a probe socket");
    probe.set_read_timeout(Some(Duration::from_secs(5))).expect("set a read timeout");
    probe.send_to(&SYN, seed_addr).expect("send the syn");
    let mut reply = [0u8; 1500];
    let (len, from) = probe
        .recv_from(&mut reply)
        .unwrap_or_else(|e| panic!("no answer to a utp syn sent to mt seed at {seed_addr} ({e})"));
    assert_eq!(from, seed_addr, "the reset must come from the listen port");
    let reply = &reply[..len];
    assert!(len >= 20, "a utp header is 20 bytes: {reply:02x?}");
    assert_eq!(reply[0], 0x31, "ST_RESET, version 1: {reply:02x?}");
    assert_eq!(reply[2..4], SYN[2..4], "the syn's connection_id: {reply:02x?}");
    assert_eq!(reply[18..20], SYN[16..18], "ack_nr is the syn's seq_nr: {reply:02x?}");
}

#[test]
fn mt_seed_dials_a_utp_syns_address_back_over_tcp() {
    let env = setup();
    let info_hash = Metainfo::load(&env.path("video.bin.torrent")).expect("torrent").info_hash;
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let seed_addr: SocketAddr = seed.addr.parse().expect("the seed's address");
    // A peer listening on one port for TCP and sending uTP from the same port, as clients do.
    let listener = RawListener::bind();
    let tcp_addr: SocketAddr = listener.addr().parse().expect("the listener's address");
    let probe = UdpSocket::bind(tcp_addr).expect("bind udp on the same port");
    probe.send_to(&SYN, seed_addr).expect("send the syn");
    let mut peer = listener
        .accept(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("mt seed did not dial the syn's address back over tcp: {e}"));
    let theirs = peer.read_handshake(Duration::from_secs(5)).expect("mt's handshake");
    assert_eq!(theirs.info_hash, info_hash, "mt dials with the torrent's info hash");
}

#[test]
fn libtorrent_dialling_utp_first_is_refused_and_fetches_from_mt_seed_over_tcp() {
    if !require_libtorrent() {
        return;
    }
    let env = setup();
    let seed = env.seed("video.bin.torrent", "video.bin", &[]);
    let get =
        env.libtorrent("get", "video.bin.torrent", "lt", &["--peer", seed.addr.as_str(), "--utp"]);
    let out = get.process.wait(GET_LIMIT);
    out.expect_code(0);
    assert_same_file(&env.path("video.bin"), &env.path("lt/video.bin"));

    // libtorrent's first attempt is uTP; it must end refused (a reset), not timed out.
    let attempts = out.events("peer_disconnected");
    let first = attempts.first().unwrap_or_else(|| panic!("no utp attempt was made: {out:#?}"));
    assert_eq!(first["socket"], "utp", "libtorrent should dial utp first: {out:#?}");
    let error = first["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(error.contains("refused") || error.contains("reset"), "the utp attempt: {out:#?}");
    let connects = out.events("peer_connect");
    assert!(connects.iter().any(|c| c["socket"] == "tcp"), "then tcp: {out:#?}");
}
