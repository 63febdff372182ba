//! The answering side against an initiator written here from the same steps, over loopback.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use num_bigint::BigUint;

use super::{
    CRYPTO_PLAINTEXT, KEY_LEN, MseError, PRIME, VC, answer, hash, is_plain_handshake, rc4_stream,
    to_key_bytes, xor,
};
use crate::types::{InfoHash, PeerId};
use crate::wire::{Handshake, MessageReader};

const TORRENT: InfoHash = InfoHash([7; 20]);

/// What the initiator does in step 3.
struct Initiator {
    info_hash: InfoHash,
    provide: u32,
    pad_a: usize,
    send_sync: bool,
}

impl Initiator {
    fn new() -> Initiator {
        Initiator { info_hash: TORRENT, provide: 0x03, pad_a: 100, send_sync: true }
    }

    /// Runs steps 1, 3 and 5 (a plain handshake after a plaintext select) over `stream`;
    /// returns the crypto_select it read.
    fn run(&self, mut stream: TcpStream) -> Option<u32> {
        let prime = BigUint::from_bytes_be(&PRIME);
        let xa = BigUint::from(0x1234_5678_9abc_def1_u64);
        let ya = BigUint::from(2u8).modpow(&xa, &prime);
        let mut first = to_key_bytes(&ya).to_vec();
        first.extend(vec![0xAA; self.pad_a]);
        stream.write_all(&first).ok()?;
        let mut yb = [0u8; KEY_LEN];
        stream.read_exact(&mut yb).ok()?;
        let shared = to_key_bytes(&BigUint::from_bytes_be(&yb).modpow(&xa, &prime));
        let skey = &self.info_hash.0;
        let mut encrypt = rc4_stream(&[b"keyA", &shared, skey]);
        let handshake = Handshake::new(self.info_hash, PeerId([1; 20])).encode();
        let ia_len = u16::try_from(handshake.len()).ok()?;
        let mut secret =
            [&VC[..], &self.provide.to_be_bytes(), &3u16.to_be_bytes(), &[9, 9, 9]].concat();
        secret.extend_from_slice(&ia_len.to_be_bytes());
        secret.extend_from_slice(&handshake);
        encrypt.apply(&mut secret);
        let mut third = Vec::new();
        if self.send_sync {
            third.extend_from_slice(&hash(&[b"req1", &shared]));
        } else {
            third.extend(vec![0x55; 600]);
        }
        third.extend_from_slice(&xor(&hash(&[b"req2", skey]), &hash(&[b"req3", &shared])));
        third.extend_from_slice(&secret);
        stream.write_all(&third).ok()?;
        // Step 4 follows PadB: find the encrypted VC, then read crypto_select.
        let mut decrypt = rc4_stream(&[b"keyB", &shared, skey]);
        let mut marker = VC;
        decrypt.apply(&mut marker);
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with(&marker) {
            stream.read_exact(&mut byte).ok()?;
            seen.push(byte[0]);
        }
        let mut rest = [0u8; 6];
        stream.read_exact(&mut rest).ok()?;
        decrypt.apply(&mut rest);
        Some(u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]))
    }
}

/// Runs `initiator` against [`answer`]; returns what each side ended with.
fn exchange(initiator: Initiator) -> (Result<Handshake, MseError>, Option<u32>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let client = thread::spawn(move || {
        let stream = TcpStream::connect(addr).expect("connect");
        initiator.run(stream)
    });
    let (stream, _) = listener.accept().expect("accept");
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).expect("timeout");
    let mut reader = MessageReader::new(stream);
    let answered = answer(&mut reader, TORRENT, None).and_then(|()| Ok(reader.read_handshake()?));
    if answered.is_err() {
        let _ = reader.get_ref().shutdown(std::net::Shutdown::Both);
    }
    (answered, client.join().expect("initiator thread"))
}

#[test]
fn an_encrypted_handshake_is_answered_with_a_plaintext_stream() {
    let (answered, selected) = exchange(Initiator::new());
    let handshake = answered.expect("the exchange completes");
    assert_eq!(handshake.info_hash, TORRENT);
    assert_eq!(selected, Some(CRYPTO_PLAINTEXT));
}

#[test]
fn padding_of_any_length_up_to_the_limit_is_skipped() {
    for pad_a in [0, 1, 511, 512] {
        let (answered, _) = exchange(Initiator { pad_a, ..Initiator::new() });
        assert!(answered.is_ok(), "PadA of {pad_a}: {answered:?}");
    }
}

#[test]
fn another_torrent_is_refused() {
    let (answered, _) = exchange(Initiator { info_hash: InfoHash([8; 20]), ..Initiator::new() });
    assert!(matches!(answered, Err(MseError::OtherTorrent)), "{answered:?}");
}

#[test]
fn a_peer_offering_only_rc4_is_refused() {
    let (answered, _) = exchange(Initiator { provide: 0x02, ..Initiator::new() });
    assert!(matches!(answered, Err(MseError::Rc4Only)), "{answered:?}");
}

#[test]
fn a_stream_without_the_synchronisation_hash_is_refused() {
    let (answered, _) = exchange(Initiator { send_sync: false, ..Initiator::new() });
    assert!(matches!(answered, Err(MseError::NoSync)), "{answered:?}");
}

#[test]
fn a_public_key_of_one_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let client = thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        let mut one = [0u8; KEY_LEN];
        one[KEY_LEN - 1] = 1;
        let _ = stream.write_all(&one);
    });
    let (stream, _) = listener.accept().expect("accept");
    let answered = answer(&mut MessageReader::new(stream), TORRENT, None);
    assert!(matches!(answered, Err(MseError::WeakKey)), "{answered:?}");
    client.join().expect("client thread");
}

#[test]
fn a_plain_handshake_is_told_apart() {
    let plain = Handshake::new(TORRENT, PeerId([1; 20])).encode();
    assert!(is_plain_handshake(&plain));
    assert!(!is_plain_handshake(&[0x13; 96]));
}
