//! What `/metrics` serves beyond the driver's counters, and in which format.
//!
//! - Collectors read at scrape time: each member's status and each local check's status
//!   (from the published snapshot and check board), the process's own CPU, memory, file
//!   descriptors and start time, and `vitals_build_info`.
//! - Content negotiation: OpenMetrics 1.0 when the scraper asks for it (Prometheus does),
//!   the classic text format 0.0.4 otherwise (curl, older scrapers, `promtool`), converted
//!   from the OpenMetrics encoding.
//!
//! Cardinality is bounded: at most [`MAX_MEMBER_SERIES`] members get per-member series
//! (the `vitals_members` gauge counts every member by status), and checks are the ones
//! this agent's configuration names. Never touches the node.

use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
use tokio::sync::watch;
use vitals_core::{CheckStatus, Status, StrategyKind};

use super::config::Settings;
use super::metrics::Metrics;
use super::snapshot::Snapshot;
use crate::health::checks::Board;

/// Most members given per-member series; beyond, only the aggregate counts.
pub const MAX_MEMBER_SERIES: usize = 256;

/// The OpenMetrics content type.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The classic Prometheus text format's content type.
pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every series the agent serves: the driver's counters (the leader's only under strategy
/// leader), the per-member and per-check status, process metrics and build info.
pub(crate) fn registry(
    metrics: &Metrics,
    settings: &Settings,
    snapshot: watch::Receiver<Snapshot>,
    checks: watch::Receiver<Board>,
) -> Registry {
    let mut registry = metrics.registry(settings.protocol.kind() == StrategyKind::Leader);
    let links = super::link_metrics::LinkCollector {
        snapshot: snapshot.clone(),
    };
    registry.register_collector(Box::new(StatusCollector { snapshot, checks }));
    registry.register_collector(Box::new(links));
    registry.register_collector(Box::new(ProcessCollector::default()));
    registry.register(
        "vitals_build",
        "The version and commit this agent was built from",
        Info::new(vec![
            ("version", crate::build::VERSION),
            ("commit", crate::build::COMMIT),
        ]),
    );
    registry
}

/// Per-member and per-check status, read from what the agent published.
#[derive(Debug)]
struct StatusCollector {
    snapshot: watch::Receiver<Snapshot>,
    checks: watch::Receiver<Board>,
}

const STATUSES: [Status; 4] = [Status::Alive, Status::Suspect, Status::Dead, Status::Left];
const CHECK_STATUSES: [CheckStatus; 3] = [CheckStatus::Passing, CheckStatus::Warning, CheckStatus::Critical];

impl Collector for StatusCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let members: Vec<(String, Status)> = {
            let snapshot = self.snapshot.borrow();
            let members = snapshot.members.iter().take(MAX_MEMBER_SERIES);
            members.map(|m| (m.name.clone(), m.status)).collect()
        };
        let one = ConstGauge::new(1);
        let mut family = encoder.encode_descriptor(
            "vitals_member_status",
            "1 for each member's current status as this agent sees it, 0 for the others (first 256 members)",
            None,
            one.metric_type(),
        )?;
        for (name, status) in &members {
            for candidate in STATUSES {
                let labels = [("member", name.as_str()), ("status", candidate.as_str())];
                ConstGauge::new(i64::from(*status == candidate)).encode(family.encode_family(&labels)?)?;
            }
        }
        let checks: Vec<(String, String, CheckStatus)> = self
            .checks
            .borrow()
            .values()
            .map(|c| (c.name.clone(), c.service.clone().unwrap_or_default(), c.status))
            .collect();
        let mut family = encoder.encode_descriptor(
            "vitals_check_status",
            "1 for each local check's current status, 0 for the others (service is empty for node checks)",
            None,
            one.metric_type(),
        )?;
        for (check, service, status) in &checks {
            for candidate in CHECK_STATUSES {
                let labels = [
                    ("check", check.as_str()),
                    ("service", service.as_str()),
                    ("status", candidate.as_str()),
                ];
                ConstGauge::new(i64::from(*status == candidate)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// The standard `process_*` metrics of this process, as client libraries export them.
#[derive(Debug, Default)]
struct ProcessCollector {
    system: Mutex<Option<System>>,
}

/// What one refresh of this process reads.
struct ProcessSample {
    cpu_seconds: f64,
    resident_bytes: u64,
    virtual_bytes: u64,
    start_time_seconds: u64,
    open_fds: Option<usize>,
    max_fds: Option<usize>,
}

impl ProcessCollector {
    fn sample(&self) -> Option<ProcessSample> {
        let pid = Pid::from_u32(std::process::id());
        let mut system = self.system.lock().ok()?;
        if system.is_none() {
            *system = System::new().ok();
        }
        let system = system.as_mut()?;
        let refresh = ProcessRefreshKind::nothing().with_cpu().with_memory().without_tasks();
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, refresh);
        let process = system.process(pid)?;
        Some(ProcessSample {
            cpu_seconds: process.accumulated_cpu_time() as f64 / 1e3,
            resident_bytes: process.memory(),
            virtual_bytes: process.virtual_memory(),
            start_time_seconds: process.start_time(),
            open_fds: process.open_files(),
            max_fds: process.open_files_limit(),
        })
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(p) = self.sample() else { return Ok(()) };
        let cpu = ConstCounter::new(p.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                Some(p.resident_bytes),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                Some(p.virtual_bytes),
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds",
                Some(p.start_time_seconds),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                p.open_fds.map(|n| n as u64),
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                p.max_fds.map(|n| n as u64),
            ),
        ];
        for (name, help, value) in gauges {
            let Some(value) = value else { continue };
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

/// Whether an `Accept` header prefers OpenMetrics to the classic text format: it names
/// `application/openmetrics-text` with a quality at least that of any other type it names.
pub fn wants_openmetrics(accept: &str) -> bool {
    let mut openmetrics = 0.0f32;
    let mut other = 0.0f32;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if media == "application/openmetrics-text" {
            openmetrics = openmetrics.max(quality);
        } else if !media.is_empty() {
            other = other.max(quality);
        }
    }
    openmetrics > 0.0 && openmetrics >= other
}

/// The classic text format (0.0.4) of an OpenMetrics exposition: counter families take
/// their samples' `_total` name, info families become gauges named `_info`, and the
/// OpenMetrics-only lines (`# UNIT`, `# EOF`) go.
pub fn classic(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<(&str, &str)> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = rest.split_once(' ').or(Some((rest, "")));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (family, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = match kind {
                "counter" => (format!("{family}_total"), "counter"),
                "info" => (format!("{family}_info"), "gauge"),
                "gaugehistogram" | "stateset" | "unknown" => (family.to_string(), "untyped"),
                other => (family.to_string(), other),
            };
            if let Some((_, text)) = help.take().filter(|(named, _)| *named == family) {
                out.push_str(&format!("# HELP {name} {}\n", text.replace("\\\"", "\"")));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            continue;
        }
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_accept_headers_get_openmetrics_and_others_the_classic_format() {
        let prometheus = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
                          application/openmetrics-text;version=0.0.1;q=0.5,\
                          text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
                          text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert!(wants_openmetrics(prometheus));
        assert!(wants_openmetrics("application/openmetrics-text"));
        assert!(!wants_openmetrics("text/plain;version=0.0.4"));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics(""));
        assert!(!wants_openmetrics("text/plain, application/openmetrics-text;q=0.5"));
    }

    #[test]
    fn the_classic_format_names_counters_by_their_samples_and_drops_eof() {
        let openmetrics = "# HELP vitals_sent_bytes UDP payload bytes sent.\n\
                           # TYPE vitals_sent_bytes counter\n\
                           # UNIT vitals_sent_bytes bytes\n\
                           vitals_sent_bytes_total 42\n\
                           # HELP vitals_build The build.\n\
                           # TYPE vitals_build info\n\
                           vitals_build_info{version=\"0.1.0\"} 1\n\
                           # EOF\n";
        assert_eq!(
            classic(openmetrics),
            "# HELP vitals_sent_bytes_total UDP payload bytes sent.\n\
             # TYPE vitals_sent_bytes_total counter\n\
             vitals_sent_bytes_total 42\n\
             # HELP vitals_build_info The build.\n\
             # TYPE vitals_build_info gauge\n\
             vitals_build_info{version=\"0.1.0\"} 1\n"
        );
    }
}
