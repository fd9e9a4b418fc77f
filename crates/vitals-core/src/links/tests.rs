use std::net::SocketAddr;
use std::time::Duration;

use super::*;

fn addr() -> SocketAddr {
    "127.0.0.2:7946".parse().unwrap()
}

fn ms(n: u64) -> Instant {
    Instant::from_micros(n * 1000)
}

/// Numbered heartbeats from `a` every `interval_ms` from `start_ms`, numbered from
/// `first`, except those `drop` refuses; returns the instant after the last.
fn feed(
    links: &mut Links,
    first: u64,
    count: u64,
    start_ms: u64,
    interval_ms: u64,
    drop: impl Fn(u64) -> bool,
) -> Instant {
    for i in 0..count {
        let seq = first + i;
        if !drop(seq) {
            links.heard(ms(start_ms + i * interval_ms), "a", addr(), Some(seq));
        }
    }
    ms(start_ms + count * interval_ms)
}

fn only(links: &Links, now: Instant) -> LinkSummary {
    let mut all = links.summaries(now);
    assert_eq!(all.len(), 1);
    all.remove(0)
}

fn in_ms(at: Instant) -> u64 {
    at.as_micros() / 1000
}

#[test]
fn every_tenth_heartbeat_missing_is_a_loss_of_a_tenth() {
    let mut links = Links::default();
    // 101 numbers, 500 ms apart: 10 missing (the 100th noticed when the 101st arrives).
    let end = feed(&mut links, 1, 101, 0, 500, |seq| seq % 10 == 0);
    let link = only(&links, end);
    assert_eq!(link.received, 91);
    // Its other messages (an ack between two heartbeats) are not rounds.
    links.heard(ms(50_250), "a", addr(), None);
    let link = only(&links, end);
    assert_eq!(link.received, 92);
    assert_eq!(link.interarrival.unwrap().mean, Duration::from_millis(500));
    assert!((link.loss - 0.10).abs() < 0.01, "loss {}", link.loss);
    assert!(link.sequenced);
    // Per sequence step: a loss does not double the interval.
    let spread = link.interarrival.unwrap();
    assert_eq!(spread.mean, Duration::from_millis(500));
    assert_eq!(link.jitter, Duration::ZERO);
}

#[test]
fn a_clean_link_loses_nothing() {
    let mut links = Links::default();
    let end = feed(&mut links, 1, 30, 0, 200, |_| false);
    let link = only(&links, end);
    assert_eq!((link.received, link.loss), (30, 0.0));
    assert_eq!(link.window, Duration::from_secs(6));
}

#[test]
fn reordering_is_not_loss() {
    let mut links = Links::default();
    let order = [1u64, 2, 4, 3, 5, 7, 6, 8, 10, 9, 11, 12];
    for (i, seq) in order.iter().enumerate() {
        links.heard(ms(i as u64 * 100), "a", addr(), Some(*seq));
    }
    let link = only(&links, ms(1200));
    assert_eq!(link.received, 12);
    assert_eq!(link.loss, 0.0);
}

#[test]
fn a_duplicate_is_not_a_loss_nor_a_restart() {
    let mut links = Links::default();
    for (i, seq) in [1u64, 2, 3, 3, 4, 5].iter().enumerate() {
        links.heard(ms(i as u64 * 100), "a", addr(), Some(*seq));
    }
    assert_eq!(only(&links, ms(600)).loss, 0.0);
}

#[test]
fn a_restarted_peer_starting_again_at_one_is_not_a_loss() {
    let mut links = Links::default();
    let end = feed(&mut links, 1, 40, 0, 100, |_| false);
    // Restarted: its round counter starts again at 1.
    let end = feed(&mut links, 1, 20, in_ms(end) + 500, 100, |_| false);
    let link = only(&links, end);
    assert_eq!((link.received, link.loss), (60, 0.0));
    // Restarted with its first rounds lost: a number far behind is a new stream too.
    let end = feed(&mut links, 21, 100, in_ms(end), 100, |_| false);
    let end = feed(&mut links, 3, 10, in_ms(end) + 500, 100, |_| false);
    assert_eq!(only(&links, end).loss, 0.0);
}

#[test]
fn a_long_jump_ahead_is_a_resynchronisation_not_a_loss() {
    let mut links = Links::default();
    let end = feed(&mut links, 1, 10, 0, 100, |_| false);
    let end = feed(&mut links, 10 + RESYNC + 5, 10, in_ms(end), 100, |_| false);
    assert_eq!(only(&links, end).loss, 0.0);
    // A shorter jump is a loss.
    let end = feed(&mut links, 10 + RESYNC + 5 + 20, 10, in_ms(end), 100, |_| false);
    let link = only(&links, end);
    assert_eq!(link.received, 30);
    assert!((link.loss - 10.0 / 40.0).abs() < 1e-9, "loss {}", link.loss);
}

#[test]
fn old_losses_leave_the_window() {
    let mut links = Links::default();
    let end = feed(&mut links, 1, 30, 0, 1000, |seq| seq % 2 == 0);
    assert!(only(&links, end).loss > 0.4);
    let later = feed(&mut links, 31, 70, in_ms(end), 1000, |_| false);
    let link = only(&links, later);
    assert_eq!(link.loss, 0.0, "after a whole clean window");
    assert_eq!(link.window, WINDOW);
    assert!(link.received <= 61, "{} received in a 60 s window", link.received);
}

#[test]
fn round_trips_give_quantiles_and_half_as_one_way_delay() {
    let mut links = Links::default();
    links.heard(ms(0), "a", addr(), None);
    for i in 1..=100u64 {
        links.round_trip(ms(i * 10), "a", Duration::from_micros(1000 + i * 10));
    }
    let link = only(&links, ms(1000));
    // The ring keeps the last 64 samples: 1370..2000 µs.
    let rtt = link.rtt.unwrap();
    assert_eq!(rtt.p50, Duration::from_micros(1680));
    assert_eq!(rtt.p99, Duration::from_micros(2000));
    assert_eq!(link.delay.unwrap().p50, Duration::from_micros(840));
    assert!(!link.sequenced);
}

#[test]
fn unnumbered_arrivals_give_raw_interarrival_and_jitter() {
    let mut links = Links::default();
    let mut t = 0;
    for i in 0..21u64 {
        links.heard(ms(t), "a", addr(), None);
        t += if i % 2 == 0 { 900 } else { 1100 };
    }
    let link = only(&links, ms(t));
    let spread = link.interarrival.unwrap();
    assert_eq!(spread.mean, Duration::from_secs(1));
    assert_eq!(spread.stddev, Duration::from_millis(100));
    assert_eq!(link.jitter, Duration::from_millis(200));
    assert_eq!(link.loss, 0.0);
}

#[test]
fn a_peer_silent_for_a_window_is_not_listed_and_the_table_is_bounded() {
    let mut links = Links::default();
    links.heard(ms(0), "a", addr(), Some(1));
    links.heard(ms(61_000), "b", addr(), Some(1));
    let names: Vec<String> = links.summaries(ms(61_000)).into_iter().map(|l| l.peer).collect();
    assert_eq!(names, ["b"]);
    for i in 0..MAX_LINKS + 10 {
        links.heard(ms(62_000 + i as u64), &format!("n{i}"), addr(), None);
    }
    assert_eq!(links.len(), MAX_LINKS);
}

#[test]
fn round_numbers_come_from_the_round_messages_only() {
    let heartbeat = crate::Message::Heartbeat {
        seq: 7,
        health: None,
        ack: false,
    };
    assert_eq!(round_number(&heartbeat), Some(7));
    assert_eq!(round_number(&crate::Message::Ack { seq: 7 }), None);
}
