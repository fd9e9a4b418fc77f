//! `/metrics` for the link measurements (`GET /v1/links`), read from the published
//! snapshot at scrape time. Cardinality is bounded whatever the cluster size: no series
//! per peer, only the count of peers measured, the worst loss and delay, and how many
//! peers lose more than each of [`LOSS_ABOVE`].

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use tokio::sync::watch;

use super::snapshot::Snapshot;

/// The loss levels `vitals_link_loss_peers` counts peers above.
pub(crate) const LOSS_ABOVE: [(f64, &str); 4] = [(0.001, "0.001"), (0.01, "0.01"), (0.05, "0.05"), (0.1, "0.1")];

/// The link gauges.
#[derive(Debug)]
pub(crate) struct LinkCollector {
    pub(crate) snapshot: watch::Receiver<Snapshot>,
}

impl Collector for LinkCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (count, losses, worst_delay) = {
            let snapshot = self.snapshot.borrow();
            let losses: Vec<f64> = snapshot.links.iter().map(|l| l.loss).collect();
            let delay = snapshot
                .links
                .iter()
                .filter_map(|l| l.delay_ms.map(|d| d.p99))
                .reduce(f64::max);
            (snapshot.links.len(), losses, delay)
        };
        let gauge = |value: f64| ConstGauge::new(value);
        let one = gauge(0.0);
        let family = encoder.encode_descriptor(
            "vitals_links",
            "Peers this agent heard directly in the last 60 s (GET /v1/links)",
            None,
            one.metric_type(),
        )?;
        gauge(count as f64).encode(family)?;
        let family = encoder.encode_descriptor(
            "vitals_link_loss_worst_ratio",
            "The highest loss rate measured on a link in the last 60 s, 0..1",
            None,
            one.metric_type(),
        )?;
        gauge(losses.iter().copied().fold(0.0, f64::max)).encode(family)?;
        let mut family = encoder.encode_descriptor(
            "vitals_link_loss_peers",
            "Peers whose measured loss in the last 60 s exceeds `above`",
            None,
            one.metric_type(),
        )?;
        for (level, label) in LOSS_ABOVE {
            let above = losses.iter().filter(|&&l| l > level).count();
            gauge(above as f64).encode(family.encode_family(&[("above", label)])?)?;
        }
        if let Some(delay) = worst_delay {
            let family = encoder.encode_descriptor(
                "vitals_link_delay_p99_worst_seconds",
                "The highest 99th-percentile one-way delay estimate (round trip / 2) of a link",
                None,
                one.metric_type(),
            )?;
            gauge(delay / 1e3).encode(family)?;
        }
        Ok(())
    }
}
