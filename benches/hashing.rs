//! Hashing throughput: `mt::hash::hash_all` over a 64 MiB generated file (one and two
//! threads, page cache warm), raw SHA-1 over one 256 KiB piece, and the compute limit of
//! a hybrid torrent: SHA-1 plus SHA-256 of every byte of 64 MiB in memory on every core
//! (`compute_limit`, which `benches/create_v2.sh` reads). Run with `make bench`.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mt::layout::Layout;
use mt::storage::{IoMode, Storage};
use rayon::prelude::*;
use sha1::{Digest, Sha1};
use sha2::Sha256;

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

/// SHA-1 and SHA-256 of every byte, 16 KiB at a time per piece, pieces spread over every
/// core: no file system, no merkle parents, so nothing that reads files can beat it.
fn compute_limit(c: &mut Criterion) {
    let data = generated(FILE_SIZE);
    let mut group = c.benchmark_group("compute_limit");
    group.throughput(Throughput::Bytes(FILE_SIZE));
    group.sample_size(10);
    let cores = rayon::current_num_threads();
    group.bench_function(format!("sha1_sha256_64MiB_{cores}_threads"), |b| {
        b.iter(|| {
            let pieces: Vec<([u8; 20], [u8; 32])> = data
                .par_chunks(PIECE as usize)
                .map(|piece| {
                    let mut sha1 = Sha1::new();
                    let mut last = [0u8; 32];
                    for block in piece.chunks(16 << 10) {
                        sha1.update(block);
                        last = Sha256::digest(block).into();
                    }
                    (sha1.finalize().into(), last)
                })
                .collect();
            black_box(pieces)
        })
    });
    group.finish();
}

criterion_group!(benches, hash_all, sha1_piece, compute_limit);
criterion_main!(benches);
