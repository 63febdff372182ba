//! The tracker load benchmark counts what a tracker answered, not what arrived: a UDP reply
//! counts once, for the announce it answers, so duplicated or late replies cannot inflate the
//! announces per second it reports.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::tracker_load_udp::udp_client;

/// A UDP tracker on loopback that answers every announce twice; it counts the announces.
struct EchoingTracker {
    socket: UdpSocket,
    announces: AtomicU64,
    stop: AtomicBool,
}

impl EchoingTracker {
    fn serve(&self) {
        let mut buf = [0u8; 2048];
        while !self.stop.load(Ordering::Relaxed) {
            let Ok((len, from)) = self.socket.recv_from(&mut buf) else { continue };
            let transaction = &buf[12..16];
            match (len, &buf[8..12]) {
                (16, [0, 0, 0, 0]) => {
                    let reply = [&[0, 0, 0, 0][..], transaction, &[7; 8]].concat();
                    let _ = self.socket.send_to(&reply, from);
                }
                (98, [0, 0, 0, 1]) => {
                    self.announces.fetch_add(1, Ordering::Relaxed);
                    let reply = [&[0, 0, 0, 1][..], transaction, &[0, 0, 0, 60], &[0; 8]].concat();
                    for _ in 0..2 {
                        let _ = self.socket.send_to(&reply, from);
                    }
                }
                _ => {}
            }
        }
    }
}

#[test]
fn udp_load_counts_each_announce_once_when_replies_come_twice() {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the fake tracker");
    socket.set_read_timeout(Some(Duration::from_millis(50))).expect("read timeout");
    let addr = socket.local_addr().expect("its address");
    let tracker =
        EchoingTracker { socket, announces: AtomicU64::new(0), stop: AtomicBool::new(false) };
    let tally = std::thread::scope(|scope| {
        scope.spawn(|| tracker.serve());
        let hashes = [[1u8; 20], [2; 20]];
        let mut rng = fastrand::Rng::with_seed(7);
        let tally = udp_client(addr, Instant::now() + Duration::from_secs(1), &hashes, &mut rng);
        tracker.stop.store(true, Ordering::Relaxed);
        tally
    });
    let announces = tracker.announces.load(Ordering::Relaxed);
    assert!(tally.ok > 0, "some announces were answered");
    assert!(
        tally.ok <= announces,
        "{} replies counted for {announces} announces answered",
        tally.ok
    );
}
