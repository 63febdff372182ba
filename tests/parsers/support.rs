//! Shared machinery for the parser properties: the case count, the kinds of hostile input
//! (arbitrary bytes, token soups, mutations of valid samples, a few large inputs) and a time
//! bound around every parser call.
//!
//! The case count comes from `PROPTEST_CASES` (256 when unset), so `make test` runs a quick
//! pass and `make fuzz` runs the same properties at 100,000 cases. Failures are not persisted
//! to files; a failing case is shrunk and printed, and is kept as a named test.
//!
//! Every parser call goes through [`bounded`]: it must return within [`CALL_LIMIT`], and a
//! watchdog thread aborts the whole binary, printing the input in hex, if one call is still
//! running after [`HANG_LIMIT`], so a hang can never stall `make test`.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestCaseError;

/// Largest arbitrary input in the generated cases.
pub const MAX_ARBITRARY: usize = 4096;
/// Longest one parser call may take on a generated input before the case fails.
pub const CALL_LIMIT: Duration = Duration::from_secs(5);
/// Longest one parser call may take on a 1 MiB input: linear work takes milliseconds.
pub const LARGE_LIMIT: Duration = Duration::from_secs(2);
/// How long one call may run before the watchdog aborts the binary.
pub const HANG_LIMIT: Duration = Duration::from_secs(60);

/// The proptest settings every property uses: `PROPTEST_CASES` cases, no regression files.
pub fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

/// Runs one parser call on `input`, failing the case if it takes longer than [`CALL_LIMIT`].
pub fn bounded<T>(
    what: &'static str,
    input: &[u8],
    call: impl FnOnce() -> T,
) -> Result<T, TestCaseError> {
    let _armed = Armed::new(what, input);
    let start = Instant::now();
    let out = call();
    let took = start.elapsed();
    if took > CALL_LIMIT {
        return Err(TestCaseError::fail(format!("{what} took {took:?} on {} bytes", input.len())));
    }
    Ok(out)
}

/// Like [`bounded`] for a plain `#[test]`, panicking with the input size when too slow.
pub fn bounded_or_panic<T>(
    what: &'static str,
    input: &[u8],
    limit: Duration,
    call: impl FnOnce() -> T,
) -> T {
    let _armed = Armed::new(what, input);
    let start = Instant::now();
    let out = call();
    let took = start.elapsed();
    assert!(took <= limit, "{what} took {took:?} on {} bytes (limit {limit:?})", input.len());
    out
}

/// Lower-case hex of the first 4 KiB, for printing an input that hung.
pub fn hex(bytes: &[u8]) -> String {
    let shown: String = bytes.iter().take(MAX_ARBITRARY).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > MAX_ARBITRARY { shown + "..." } else { shown }
}

/// One call in progress, watched by the watchdog until dropped.
struct Armed(ThreadId);

type Slot = (ThreadId, Instant, &'static str, Vec<u8>);

fn slots() -> &'static Mutex<Vec<Slot>> {
    static SLOTS: OnceLock<Mutex<Vec<Slot>>> = OnceLock::new();
    SLOTS.get_or_init(|| {
        thread::spawn(watchdog);
        Mutex::new(Vec::new())
    })
}

fn watchdog() {
    loop {
        thread::sleep(Duration::from_millis(500));
        let slots = slots().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, what, input)) = slots.iter().find(|s| s.1.elapsed() > HANG_LIMIT) {
            eprintln!(
                "{what} hung for over {HANG_LIMIT:?} on {} bytes: {}",
                input.len(),
                hex(input)
            );
            std::process::abort();
        }
    }
}

impl Armed {
    fn new(what: &'static str, input: &[u8]) -> Armed {
        let id = thread::current().id();
        let mut slots = slots().lock().unwrap_or_else(PoisonError::into_inner);
        slots.push((id, Instant::now(), what, input.to_vec()));
        Armed(id)
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        let mut slots = slots().lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|slot| slot.0 != self.0);
    }
}

/// Arbitrary bytes of 0 to [`MAX_ARBITRARY`] bytes.
pub fn arbitrary_bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=MAX_ARBITRARY)
}

/// Pieces of bencode syntax glued together at random: reaches deeper into a bencode parser
/// than uniform bytes, which almost always fail at the first byte.
pub fn bencode_soup() -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: &[&[u8]] = &[
        b"i",
        b"e",
        b"l",
        b"d",
        b":",
        b"-",
        b"0",
        b"1",
        b"9",
        b"i0e",
        b"i-1e",
        b"le",
        b"de",
        b"0:",
        b"1:a",
        b"4:spam",
        b"4:info",
        b"6:length",
        b"4:name",
        b"12:piece length",
        b"6:pieces",
        b"5:files",
        b"4:path",
        b"8:interval",
        b"5:peers",
        b"1:m",
        b"4294967295",
        b"99999999999",
        b"18446744073709551616",
        b"9223372036854775808",
        b"\xff",
        b"\x00",
    ];
    vec(select(TOKENS), 0..=256).prop_map(|tokens| tokens.concat())
}

/// Decimal texts that overflow or sit on the edge of common integer widths.
const HUGE_TEXT: &[&[u8]] = &[
    b"4294967295",
    b"4294967296",
    b"99999999999",
    b"9223372036854775807",
    b"9223372036854775808",
    b"-9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551615",
    b"18446744073709551616",
    b"1048577",
    b"0",
    b"-1",
    b"00",
    b"-0",
];

/// Binary lengths on the edge: `u32::MAX`, the sign bit, just over the 1 MiB message limit.
const HUGE_U32: &[u32] = &[u32::MAX, 0x7fff_ffff, 0x8000_0000, (1 << 20) + 1, 1 << 20, 0, 1];

/// One change to a valid sample.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// XOR one byte with a non-zero mask.
    Flip(Index, u8),
    /// Insert bytes before a position.
    Insert(Index, Vec<u8>),
    /// Remove up to this many bytes from a position.
    Delete(Index, usize),
    /// Cut the input at a position.
    Truncate(Index),
    /// Copy a run of bytes and insert the copy at another position.
    Duplicate(Index, usize, Index),
    /// Replace the decimal number at or after a position with an edge value (or insert one).
    HugeText(Index, &'static [u8]),
    /// Overwrite four bytes at a position with an edge `u32`, big-endian.
    HugeU32(Index, u32),
    /// Overwrite eight bytes at a position with `u64::MAX`.
    HugeU64(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        2 => (any::<Index>(), vec(any::<u8>(), 1..8)).prop_map(|(at, b)| Mutation::Insert(at, b)),
        2 => (any::<Index>(), 1..16usize).prop_map(|(at, n)| Mutation::Delete(at, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), 1..64usize, any::<Index>())
            .prop_map(|(from, n, to)| Mutation::Duplicate(from, n, to)),
        2 => (any::<Index>(), select(HUGE_TEXT)).prop_map(|(at, t)| Mutation::HugeText(at, t)),
        2 => (any::<Index>(), select(HUGE_U32)).prop_map(|(at, n)| Mutation::HugeU32(at, n)),
        1 => any::<Index>().prop_map(Mutation::HugeU64),
    ]
}

impl Mutation {
    /// Applies the change; positions are scaled to the current length.
    pub fn apply(&self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        // `Index::index` needs a non-empty range; `len + 1` also allows "at the end".
        let at = |index: &Index| index.index(len + 1);
        match self {
            Mutation::Flip(i, mask) if len > 0 => bytes[i.index(len)] ^= mask,
            Mutation::Flip(..) => {}
            Mutation::Insert(i, new) => {
                let at = at(i);
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = at(i);
                bytes.drain(at..(at + n).min(len));
            }
            Mutation::Truncate(i) => bytes.truncate(at(i)),
            Mutation::Duplicate(from, n, to) => {
                let from = at(from);
                let copy = bytes[from..(from + n).min(len)].to_vec();
                let to = at(to);
                bytes.splice(to..to, copy);
            }
            Mutation::HugeText(i, text) => {
                let at = at(i);
                let start = bytes[at..].iter().position(u8::is_ascii_digit).map_or(at, |p| at + p);
                let run = bytes[start..].iter().take_while(|b| b.is_ascii_digit()).count();
                bytes.splice(start..start + run, text.iter().copied());
            }
            Mutation::HugeU32(i, n) => overwrite(bytes, at(i), &n.to_be_bytes()),
            Mutation::HugeU64(i) => overwrite(bytes, at(i), &u64::MAX.to_be_bytes()),
        }
    }
}

/// Writes `new` over `bytes` from `at`, growing `bytes` if it runs past the end.
fn overwrite(bytes: &mut Vec<u8>, at: usize, new: &[u8]) {
    let end = at + new.len();
    if bytes.len() < end {
        bytes.resize(end, 0);
    }
    bytes[at..end].copy_from_slice(new);
}

/// A valid sample from `samples` after one to six mutations.
pub fn mutated(samples: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (samples, vec(mutation(), 1..=6)).prop_map(|(mut bytes, mutations)| {
        mutations.iter().for_each(|m| m.apply(&mut bytes));
        bytes
    })
}

/// A few inputs of about `size` bytes each, built deterministically: random bytes, one byte
/// repeated, digits, deep openers, and long runs of small bencode values.
pub fn large_inputs(size: usize) -> Vec<(&'static str, Vec<u8>)> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let random = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_be_bytes()[0]
        })
        .collect();
    let repeat = |unit: &[u8]| unit.repeat(size / unit.len());
    let list_of = |unit: &[u8]| [&b"l"[..], &repeat(unit), b"e"].concat();
    vec![
        ("random bytes", random),
        ("all 0xff", vec![0xff; size]),
        ("all zero", vec![0; size]),
        ("digits", vec![b'9'; size]),
        ("openers", repeat(b"l")),
        ("list of empty lists", list_of(b"le")),
        ("list of one-entry dicts", list_of(b"d0:0:e")),
        ("list of ints", list_of(b"i-1234567e")),
        (
            "string of the whole size",
            [format!("{}:", size).into_bytes(), vec![b'x'; size]].concat(),
        ),
        ("length prefix past the end", [&b"99999999999:"[..], &vec![b'x'; size]].concat()),
        ("max message lengths", repeat(&[0x00, 0x10, 0x00, 0x00, 0x05])),
        ("keep-alives", repeat(&[0, 0, 0, 0])),
    ]
}
