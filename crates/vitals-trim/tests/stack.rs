//! `stack_below` on the main thread (no test harness: libtest runs its tests on other
//! threads, where it does nothing): the range it gives back lies below the stack pointer
//! by the margin, the stack's resident pages fall, the live frame above keeps its data,
//! and calls that reach as deep again still work.

use std::hint::black_box;

const MARGIN: usize = 32 * 1024;

/// Uses about 4 KiB of stack per call, `depth` calls deep; returns a checksum of what
/// each frame wrote and read back after the calls below it returned.
fn deep(depth: u32) -> u64 {
    let mut frame = [0u8; 4096];
    for (i, byte) in frame.iter_mut().enumerate() {
        *byte = (i as u32 ^ depth) as u8;
    }
    let below = if depth == 0 { 0 } else { deep(black_box(depth - 1)) };
    let frame = black_box(&frame);
    below
        + frame
            .iter()
            .enumerate()
            .map(|(i, &b)| u64::from(b == (i as u32 ^ depth) as u8))
            .sum::<u64>()
}

/// Resident KiB of the `[stack]` mapping (/proc/self/smaps).
fn stack_rss_kib() -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
    let mut in_stack = false;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if !first.ends_with(':') {
            in_stack = line.ends_with("[stack]");
        } else if in_stack && first == "Rss:" {
            return fields.next().and_then(|kib| kib.parse().ok()).expect("Rss");
        }
    }
    panic!("no [stack] mapping");
}

fn main() {
    if !cfg!(target_os = "linux") {
        return;
    }
    // 64 frames of 4 KiB: 256 KiB of stack touched, as start-up touches its 120 KiB.
    assert_eq!(deep(64), 65 * 4096);
    let before = stack_rss_kib();
    let live = black_box([0x5au8; 8192]);
    let here = 0u8;
    let sp = black_box(&raw const here) as usize;
    let range = vitals_trim::stack_below(MARGIN)
        .expect("madvise")
        .expect("on the main thread");
    assert!(
        range.end + MARGIN <= sp,
        "{range:x?} reaches within {MARGIN} bytes of {sp:x}"
    );
    assert!(range.len() >= 128 * 1024, "only {} bytes given back", range.len());
    let after = stack_rss_kib();
    assert!(
        after + 128 <= before,
        "[stack] resident {before} KiB before, {after} KiB after"
    );
    assert!(
        live.iter().all(|&b| b == 0x5a),
        "the live frame above the pointer changed"
    );
    // As deep again: fresh zeroed pages, written and read back.
    assert_eq!(deep(64), 65 * 4096);
    println!(
        "stack_below on the main thread: gave back {} KiB of {before} KiB resident, {after} KiB after",
        range.len() / 1024
    );
}
