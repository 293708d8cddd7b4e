//! CPU cost of the hardware-drift rule (`KOOLICENSE_FINGERPRINT_MATCH=most`): one comparison of
//! two ordinary fingerprints, one of two 5 KB fingerprints of 1,700 MACs each (what the security
//! review sent), and the search a probe makes against a code of five such bindings; beside them,
//! the pairwise rule it replaced, on the same 5 KB fingerprints.
//!
//! `cargo bench --bench fingerprint`; under `cargo test --all-targets` each runs once.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use koolicense::domain::fingerprint::{Fingerprint, MachineParts, same_machine_most};

const NORMAL: &str = "00:1A:2B:3C:4D:5E,00:1A:2B:3C:4D:5F|WD-WCC4N1234567|\
    BOARD-SN-0123456789|BFEBFBFF00090672";
const NORMAL_DRIFTED: &str = "00:1A:2B:3C:4D:5F,00:1A:2B:3C:4D:60|WD-WCC4N1234567|\
    BOARD-SN-0123456789|BFEBFBFF000A0671";

/// A 5 KB fingerprint of 1,700 two-character "MACs" drawn from `alphabet`, machine `n`'s list at
/// its own offset.
fn heavy(alphabet: &[u8], n: usize) -> String {
    let base = alphabet.len();
    let macs: Vec<String> = (0..1700)
        .map(|i| {
            let i = (i + 16 * n) % (base * base);
            String::from_utf8_lossy(&[alphabet[i / base], alphabet[i % base]]).into_owned()
        })
        .collect();
    format!("{}|D{n}|B{n}|C{n}", macs.join(","))
}

const ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// No character in common with [`ALPHANUMERIC`]: no MAC in common, the worst case of any rule.
const PUNCTUATION: &[u8] = b"!#$%&*+-./:;<=>?@^_~";

/// The rule as first written: every MAC against every MAC.
fn pairwise(a: &Fingerprint, b: &Fingerprint) -> bool {
    let (a, b) = (a.parts(), b.parts());
    let shares_any = |x: &[String], y: &[String]| x.iter().any(|entry| y.contains(entry));
    let equal_known = |x: &str, y: &str| !x.is_empty() && x == y;
    let matches = [
        shares_any(&a.macs, &b.macs),
        shares_any(&a.disks, &b.disks),
        equal_known(&a.board, &b.board),
        equal_known(&a.cpu, &b.cpu),
    ];
    matches.iter().filter(|matched| **matched).count() >= 3
}

fn drift(c: &mut Criterion) {
    let parse = |raw: &str| Fingerprint::parse(raw).ok();
    let (Some(normal), Some(drifted)) = (parse(NORMAL), parse(NORMAL_DRIFTED)) else {
        eprintln!("the benchmark's fingerprints do not parse; skipping");
        return;
    };
    let stored: Vec<Fingerprint> = (1..=5)
        .filter_map(|n| parse(&heavy(ALPHANUMERIC, n)))
        .collect();
    // Shares no part with the five: every binding is compared in full.
    let Some(probe) = parse(&heavy(PUNCTUATION, 40)) else {
        return;
    };

    let mut group = c.benchmark_group("drift");
    group.bench_function("normal_pair", |b| {
        b.iter(|| same_machine_most(black_box(&normal), black_box(&drifted)));
    });
    group.bench_function("heavy_pair", |b| {
        b.iter(|| same_machine_most(black_box(&stored[0]), black_box(&probe)));
    });
    group.bench_function("heavy_search_5_seats", |b| {
        b.iter(|| {
            let probe = MachineParts::of(black_box(&probe));
            stored
                .iter()
                .any(|old| MachineParts::of_normalised(old.as_str()).same_machine(&probe))
        });
    });
    group.bench_function("heavy_pair_pairwise_rule", |b| {
        b.iter(|| pairwise(black_box(&stored[0]), black_box(&probe)));
    });
    group.bench_function("heavy_search_5_seats_pairwise_rule", |b| {
        b.iter(|| stored.iter().any(|old| pairwise(old, black_box(&probe))));
    });
    group.finish();
}

criterion_group!(benches, drift);
criterion_main!(benches);
