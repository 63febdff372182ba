//! RC4, the stream cipher message stream encryption keys from its shared secret.
//!
//! RC4 is weak as a cipher; here it only hides a handshake from traffic shapers, which is all
//! the protocol asks of it. Each direction of a connection has its own state.

/// One RC4 key stream.
pub struct Rc4 {
    s: [u8; 256],
    i: u8,
    j: u8,
}

impl Rc4 {
    /// The key stream for `key` (1 to 256 bytes; message stream encryption uses 20).
    pub fn new(key: &[u8]) -> Rc4 {
        let mut s = [0u8; 256];
        for (slot, value) in s.iter_mut().zip(0u8..=255) {
            *slot = value;
        }
        let mut j = 0u8;
        for i in 0..256 {
            let k = key.get(i % key.len().max(1)).copied().unwrap_or(0);
            j = j.wrapping_add(s[i]).wrapping_add(k);
            s.swap(i, usize::from(j));
        }
        Rc4 { s, i: 0, j: 0 }
    }

    /// Drops the next `n` bytes of key stream (the protocol drops the first 1024).
    pub fn discard(&mut self, n: usize) {
        for _ in 0..n {
            self.next_byte();
        }
    }

    /// Encrypts or decrypts `data` in place (the same operation).
    pub fn apply(&mut self, data: &mut [u8]) {
        for byte in data {
            *byte ^= self.next_byte();
        }
    }

    fn next_byte(&mut self) -> u8 {
        self.i = self.i.wrapping_add(1);
        let si = self.s[usize::from(self.i)];
        self.j = self.j.wrapping_add(si);
        self.s.swap(usize::from(self.i), usize::from(self.j));
        let sum = self.s[usize::from(self.i)].wrapping_add(self.s[usize::from(self.j)]);
        self.s[usize::from(sum)]
    }
}

#[cfg(test)]
mod tests {
    use super::Rc4;

    /// The RFC 6229 test vector for the 40-bit key 0x0102030405, offsets 0 and 1024.
    #[test]
    fn matches_the_rfc_6229_key_stream() {
        let mut rc4 = Rc4::new(&[1, 2, 3, 4, 5]);
        let mut first = [0u8; 16];
        rc4.apply(&mut first);
        assert_eq!(first[..8], [0xb2, 0x39, 0x63, 0x05, 0xf0, 0x3d, 0xc0, 0x27]);
        let mut rc4 = Rc4::new(&[1, 2, 3, 4, 5]);
        rc4.discard(1024);
        let mut later = [0u8; 8];
        rc4.apply(&mut later);
        assert_eq!(later, [0x30, 0xab, 0xbc, 0xc7, 0xc2, 0x0b, 0x01, 0x60]);
    }

    #[test]
    fn applying_twice_gives_the_input_back() {
        let mut data = *b"BitTorrent protocol";
        Rc4::new(b"key").apply(&mut data);
        assert_ne!(&data, b"BitTorrent protocol");
        Rc4::new(b"key").apply(&mut data);
        assert_eq!(&data, b"BitTorrent protocol");
    }
}
