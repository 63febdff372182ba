//! Hashing throughput: `mt::hash::hash_all` over a 64 MiB generated file (one and two
//! threads, page cache warm) and raw SHA-1 over one 256 KiB piece. Run with `make bench`.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mt::layout::Layout;
use mt::storage::{IoMode, Storage};
use sha1::{Digest, Sha1};

const FILE_SIZE: u64 = 64 << 20;
const PIECE: u32 = 256 << 10;

/// Deterministic bytes that do not compress or repeat (xorshift64*).
fn generated(len: u64) -> Vec<u8> {
    let len = usize::try_from(len).expect("fits in memory");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn hash_all(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path: PathBuf = dir.path().join("data.bin");
    std::fs::write(&path, generated(FILE_SIZE)).expect("write the benchmark file");
    let layout = Layout::new(PIECE, &[FILE_SIZE]).expect("layout");
    let storage = Storage::open_read(&[path], &layout, IoMode::Mmap).expect("open");

    let mut group = c.benchmark_group("hash_all_64MiB");
    group.throughput(Throughput::Bytes(FILE_SIZE));
    group.sample_size(10);
    for threads in [1, 2] {
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| {
                let progress = AtomicU64::new(0);
                black_box(mt::hash::hash_all(&storage, threads, &progress).expect("hash"))
            })
        });
    }
    group.finish();
}

fn sha1_piece(c: &mut Criterion) {
    let piece = generated(u64::from(PIECE));
    let mut group = c.benchmark_group("sha1");
    group.throughput(Throughput::Bytes(u64::from(PIECE)));
    group.bench_function("one_256KiB_piece", |b| {
        b.iter(|| black_box(Sha1::digest(black_box(&piece))))
    });
    group.finish();
}

criterion_group!(benches, hash_all, sha1_piece);
criterion_main!(benches);
