//! `vitals sim` and `vitals tune` as a user runs them: tables, JSON, CSV, a sweep with its
//! SVG and PNG plots, Chen et al.'s worked example, and bad flags refused by name.

use std::process::{Command, Output};

use crate::support::{VITALS, tempdir};

fn vitals(args: &[&str]) -> Output {
    Command::new(VITALS).args(args).output().expect("run vitals")
}

fn stdout_of(args: &[&str]) -> String {
    let output = vitals(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?} failed: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

const SMALL: [&str; 10] = [
    "sim",
    "--nodes",
    "6",
    "--duration",
    "2m",
    "--crash",
    "1",
    "--loss",
    "0.01",
    "--seed",
];

#[test]
fn vitals_sim_prints_a_table_json_and_csv_and_replays_byte_for_byte() {
    let mut args = SMALL.to_vec();
    args.push("7");
    let table = stdout_of(&args);
    assert!(table.contains("detection time T_D"), "{table}");
    assert!(table.contains("check completeness      passed"), "{table}");
    assert_eq!(table, stdout_of(&args), "the same seed must print the same report");
    let json: serde_json::Value = serde_json::from_str(&stdout_of(&[&args[..], &["--json"]].concat())).unwrap();
    assert_eq!(json["crashes"], 1);
    assert_eq!(json["nodes"], 6);
    let csv = stdout_of(&[&args[..], &["--csv", "--latency", "mix:1ms,0.01,200ms"]].concat());
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert_eq!(header.len(), rows[0].len(), "{csv}");
    let latency = header.iter().position(|h| h == "latency").unwrap();
    assert!(
        rows[0][latency].contains(','),
        "the mixed latency must survive whole: {csv}"
    );
}

#[test]
fn vitals_sim_sweep_prints_a_table_and_draws_svg_and_png_plots() {
    let dir = tempdir::Dir::new("sweep");
    let plot = dir.0.join("sweep");
    let mut args = SMALL.to_vec();
    args.extend([
        "3",
        "--sweep",
        "interval=200ms..1s",
        "threshold=2..3",
        "--points",
        "2",
        "--plot",
    ]);
    args.push(plot.to_str().unwrap());
    let output = vitals(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let table = String::from_utf8(output.stdout).unwrap();
    assert_eq!(table.lines().count(), 1 + 4, "{table}");
    // stderr is a pipe here, not a terminal: still one line per finished point.
    let progress: Vec<&str> = stderr.lines().filter(|l| l.starts_with("point ")).collect();
    assert_eq!(progress.len(), 4, "{stderr}");
    for n in 1..=4 {
        assert!(
            progress
                .iter()
                .any(|l| l.starts_with(&format!("point {n}/4 interval=")) && l.contains(" done in ")),
            "{stderr}"
        );
    }
    let svg = std::fs::read_to_string(plot.with_extension("svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("threshold 2"));
    let png = std::fs::read(plot.with_extension("png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

fn sweep_json(args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["sim", "--nodes", "6", "--loss", "0.01", "--seed", "5", "--json"];
    all.extend(args);
    serde_json::from_str(&stdout_of(&all)).unwrap()
}

#[test]
fn a_sweep_honours_the_flags_it_does_not_sweep() {
    let dir = tempdir::Dir::new("sweep-fixed");
    let plot = dir.0.join("fixed");
    let plot = plot.to_str().unwrap();
    let args = [
        "--threshold",
        "4",
        "--duration",
        "2m",
        "--crash",
        "1",
        "--timeout",
        "1200ms",
        "--sweep",
        "interval=200ms..1s",
        "--points",
        "2",
        "--plot",
        plot,
    ];
    let reports = sweep_json(&args);
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert_eq!(r["threshold"], 4, "{r}");
        assert_eq!(r["duration_s"], 120.0, "{r}");
        assert_eq!(r["crashes"], 1, "{r}");
        assert_eq!(r["timeout_s"], 1.2, "{r}");
    }
    let intervals: Vec<f64> = reports.iter().map(|r| r["interval_s"].as_f64().unwrap()).collect();
    assert_eq!(intervals, [0.2, 1.0]);
}

#[test]
fn a_sweep_sizes_its_points_and_always_measures_detection() {
    let dir = tempdir::Dir::new("sweep-sized");
    let plot = dir.0.join("sized");
    let args = ["--sweep", "threshold=2,4", "--plot", plot.to_str().unwrap()];
    let reports = sweep_json(&args);
    for r in &reports {
        assert!(r["crashes"].as_u64().unwrap() >= 1, "crashes added: {r}");
        assert!(r["detection_each"]["mean"].as_f64().unwrap() > 0.0, "{r}");
        let fp = r["false_positives"].as_u64().unwrap();
        let pair_hours = r["pair_hours"].as_f64().unwrap();
        assert!(
            fp >= 20 || pair_hours >= 168.0,
            "stopped before its figures were tight: {r}"
        );
    }
    let threshold_2 = reports[0]["pair_hours"].as_f64().unwrap();
    let threshold_4 = reports[1]["pair_hours"].as_f64().unwrap();
    assert!(
        threshold_2 < threshold_4,
        "the noisier point stops sooner: {threshold_2} vs {threshold_4}"
    );
}

#[test]
fn a_flag_that_a_sweep_would_override_is_refused() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--interval", "1s", "--sweep", "interval=200ms..5s"],
            "--interval 1s conflicts with --sweep interval=200ms..5s",
        ),
        (
            &["--threshold", "3", "--sweep", "threshold=2..6"],
            "--threshold 3 conflicts with --sweep threshold=2..6",
        ),
        (
            &["--loss", "0.01", "--sweep", "loss=0.001,0.1"],
            "--loss 0.01 conflicts",
        ),
        (
            &["--sweep", "threshold=2..3", "threshold=4..5"],
            "names `threshold` twice",
        ),
        (&["--timeout", "300ms", "--sweep", "interval=200ms..1s"], "--timeout"),
    ];
    for (args, message) in cases {
        let output = vitals(&[&["sim"][..], args].concat());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn vitals_tune_reproduces_chens_worked_example_and_confirms_it_by_simulation() {
    let out = stdout_of(&[
        "tune",
        "--detect-within",
        "30s",
        "--max-false-positives",
        "1/month",
        "--max-mistake-duration",
        "60s",
        "--loss",
        "0.01",
        "--latency",
        "exp:20ms",
        "--nodes",
        "5",
        "--sim-duration",
        "6h",
    ]);
    assert!(out.contains("eta = 9.97"), "{out}");
    assert!(out.contains("delta = 20.02") || out.contains("delta = 20.03"), "{out}");
    assert!(
        out.contains("--strategy push --interval 9.6s --threshold 3 --timeout 9.8s"),
        "{out}"
    );
    assert!(out.contains("check completeness: passed"), "{out}");
    assert!(out.contains("replay the confirming run: vitals sim"), "{out}");
}

#[test]
fn bad_sim_and_tune_flags_are_refused_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["sim", "--loss", "2"], "--loss"),
        (&["sim", "--nodes", "1"], "--nodes"),
        (&["sim", "--latency", "gauss:1ms"], "--latency"),
        (&["sim", "--interval", "fast"], "--interval"),
        (&["sim", "--crash", "10"], "--crash"),
        (&["sim", "--link-loss", "0:99:0.5"], "--link-loss"),
        (&["sim", "--link-loss", "0-1"], "--link-loss"),
        (&["sim", "--sweep", "colour=1..2"], "--sweep"),
        (
            &["tune", "--detect-within", "5s", "--max-false-positives", "often"],
            "--max-false-positives",
        ),
    ];
    for (args, flag) in cases {
        let output = vitals(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim().lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{stderr}"
        );
    }
}
