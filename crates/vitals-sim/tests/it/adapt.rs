//! Auto-tune in the simulator (`--auto-tune`, `vitals_core::adapt`): when the loss rises
//! from 0.1 % to 10 % mid-run, an auto-tuned push cluster keeps its false positives within
//! the target while the same starting timing, fixed, does not; when the loss falls back,
//! the timing and the detection time come back down. Nodes crash and restart throughout,
//! so detections are measured before, during and after the lossy spell.

use std::time::Duration;

use vitals_core::Instant;
use vitals_sim::{Sim, Spec};

/// The lossy spell, after the warm-up.
const LOSSY: std::ops::Range<u64> = 600..1800;
const TARGET: &str = "detect-within=8s,mistakes=1/day";

fn spec(auto: bool) -> Spec {
    Spec {
        nodes: 10,
        duration: Duration::from_secs(4200),
        interval: Duration::from_secs(1),
        threshold: 3,
        loss: 0.001,
        loss_from: vitals_sim::scenario::parse_loss_from("10m=0.1,30m=0.001").unwrap(),
        restart: 8,
        auto_tune: auto.then(|| TARGET.parse().unwrap()),
        seed: 6,
        ..Spec::default()
    }
}

struct Run {
    false_positives: usize,
    /// Of them, those in the reaction time after the loss rose (two windows of 20 rounds
    /// and the new timing's announcement).
    in_reaction: usize,
    /// (seconds after the warm-up, mean detection time) per crash.
    detections: Vec<(f64, f64)>,
    /// Every live node's silence tolerance near the end of the lossy spell, and at the end.
    lossy_tolerance: Vec<Duration>,
    final_tolerance: Vec<Duration>,
}

fn tolerances(sim: &Sim, nodes: usize) -> Vec<Duration> {
    (0..nodes)
        .filter_map(|i| sim.node(i))
        .map(|n| {
            n.auto_tune()
                .map_or(n.config().dead_after(), |t| t.controller().current().dead_after())
        })
        .collect()
}

fn run(spec: &Spec) -> Run {
    let scenario = spec.scenario().unwrap();
    let warmup = scenario.warmup;
    let mut sim = Sim::new(scenario);
    let late_in_the_spell = Instant::from_duration(warmup + Duration::from_secs(LOSSY.end - 60));
    sim.run_until(late_in_the_spell, &mut |_| {});
    let lossy_tolerance = tolerances(&sim, spec.nodes);
    sim.run(&mut |_| {});
    let since = |t: Instant| (Duration::from_micros(t.as_micros()) - warmup).as_secs_f64();
    let reaction = Instant::from_duration(warmup + Duration::from_secs(LOSSY.start))
        ..Instant::from_duration(warmup + Duration::from_secs(LOSSY.start + 60));
    let times = sim.false_positive_times();
    Run {
        false_positives: times.len(),
        in_reaction: times.iter().filter(|t| reaction.contains(t)).count(),
        detections: sim
            .crash_detections()
            .into_iter()
            .filter_map(|(at, took)| Some((since(at), took?)))
            .collect(),
        lossy_tolerance,
        final_tolerance: tolerances(&sim, spec.nodes),
    }
}

fn mean_detection(run: &Run, from: f64, to: f64) -> f64 {
    let took: Vec<f64> = run
        .detections
        .iter()
        .filter(|(at, _)| (from..to).contains(at))
        .map(|d| d.1)
        .collect();
    assert!(
        !took.is_empty(),
        "no crash in {from}..{to} s: pick another seed ({:?})",
        run.detections
    );
    took.iter().sum::<f64>() / took.len() as f64
}

#[test]
fn under_a_loss_rise_auto_tune_keeps_false_positives_within_target_and_detection_comes_back_down() {
    let (fixed_spec, auto_spec) = (spec(false), spec(true));
    let (fixed, auto) = std::thread::scope(|scope| {
        let fixed = scope.spawn(|| run(&fixed_spec));
        let auto = scope.spawn(|| run(&auto_spec));
        (fixed.join().expect("no panic"), auto.join().expect("no panic"))
    });
    // 1/day per observer–member pair, over every pair for the whole run (an upper bound:
    // pairs with a node down count too).
    let n = auto_spec.nodes as f64;
    let allowed = n * (n - 1.0) * auto_spec.duration.as_secs_f64() / 86_400.0;
    let lossy = (LOSSY.start as f64, LOSSY.end as f64);
    let phases = |r: &Run| {
        [
            mean_detection(r, 0.0, lossy.0),
            mean_detection(r, lossy.0 + 120.0, lossy.1),
            mean_detection(r, lossy.1 + 900.0, f64::INFINITY),
        ]
    };
    for (name, spec, r) in [("fixed", &fixed_spec, &fixed), ("auto-tune", &auto_spec, &auto)] {
        println!(
            "[measure] {name}: {} false positives ({} in the minute after the rise; target {allowed:.2}); mean detection before/during/after the loss {:.2?} s; tolerance late in the spell {:?}, at the end {:?}\n  {}",
            r.false_positives,
            r.in_reaction,
            phases(r),
            r.lossy_tolerance,
            r.final_tolerance,
            spec.command_line()
        );
    }
    assert!(
        fixed.false_positives as f64 > 10.0 * allowed,
        "the loss must hurt the fixed timing"
    );
    // A step of loss costs the old timing's mistakes until the first windows at the new
    // loss are measured; after that the target holds.
    let settled = auto.false_positives - auto.in_reaction;
    assert!(settled as f64 <= allowed, "{settled} > {allowed}");
    assert!(fixed.false_positives - fixed.in_reaction > 10 * settled.max(1));
    // The starting timing's tolerance: a 1.1 s timeout, then two more 1 s intervals.
    let start = Duration::from_millis(3100);
    assert!(
        auto.lossy_tolerance.iter().all(|&t| t > start),
        "{:?}",
        auto.lossy_tolerance
    );
    let mean = |t: &[Duration]| t.iter().sum::<Duration>() / t.len() as u32;
    let (lossy_mean, final_mean) = (mean(&auto.lossy_tolerance), mean(&auto.final_tolerance));
    assert!(
        final_mean + Duration::from_secs(1) < lossy_mean,
        "{final_mean:?} vs {lossy_mean:?}"
    );
    assert!(
        final_mean <= start + Duration::from_millis(500),
        "{:?}",
        auto.final_tolerance
    );
    let [before, during, after] = phases(&auto);
    assert!(during > before + 1.0, "detection rose under loss: {before} -> {during}");
    assert!(after < during - 1.0, "and came back down: {during} -> {after}");
}
