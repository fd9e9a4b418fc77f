//! Prometheus metrics. The driver updates them (atomics, no lock on the node); the HTTP
//! handler encodes them. Names follow the Prometheus naming guide: base units, `_total`
//! on counters, the unit last (`vitals_sent_bytes_total`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label naming a message kind, a status or a reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The kind.
    pub kind: &'static str,
}

/// A label naming a member status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// The status.
    pub status: &'static str,
}

/// A label naming the reason a datagram was dropped.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The reason.
    pub reason: &'static str,
}

/// A label naming why a member's announced timing cannot work here.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CauseLabel {
    /// The cause (`strategy`, `election`).
    pub cause: &'static str,
}

/// Every metric the agent exports.
#[derive(Debug)]
pub struct Metrics {
    /// Heartbeats (push heartbeats, polls and poll replies) sent.
    pub heartbeats_sent: Counter,
    /// Heartbeats received.
    pub heartbeats_received: Counter,
    /// Messages sent, by kind.
    pub messages_sent: Family<KindLabel, Counter>,
    /// Messages received, by kind.
    pub messages_received: Family<KindLabel, Counter>,
    /// UDP payload bytes sent.
    pub sent_bytes: Counter,
    /// UDP payload bytes received.
    pub received_bytes: Counter,
    /// Datagrams that could not be sent.
    pub send_errors: Counter,
    /// Datagrams dropped before the protocol saw them, by reason.
    pub decode_errors: Family<ReasonLabel, Counter>,
    /// Replies not sent because they would have been larger than their request.
    pub replies_suppressed: Counter,
    /// Members whose announced timing cannot work with this node's, by cause (each
    /// member counted once per cause, when first heard).
    pub timing_mismatches: Family<CauseLabel, Counter>,
    /// Changes of this node's own timing made by `--auto-tune`, by reason.
    pub timing_changes: Family<ReasonLabel, Counter>,
    /// Members by status, as this node sees them (itself included).
    pub members: Family<StatusLabel, Gauge>,
    /// Status transitions, by new status.
    pub transitions: Family<StatusLabel, Counter>,
    /// Silence since a member was last heard at the moment it was declared dead: the
    /// upper bound of its detection latency.
    pub detection_latency: Histogram,
    /// Times this node refuted news of its own death.
    pub refutations: Counter,
    /// 1 while this node is cut off (push with ack), else 0.
    pub isolated: Gauge,
    /// Leader strategy: changes of the (leader, term) pair this node knows.
    pub leader_changes: Counter,
    /// Leader strategy: this node's current term.
    pub term: Gauge,
    /// Leader strategy: 1 while this node is the leader, else 0.
    pub is_leader: Gauge,
    /// Event handler runs by outcome (`ok`, `failed`, `timeout`, `unstartable`, `dropped`).
    pub handler_runs: Family<OutcomeLabel, Counter>,
    /// Webhook deliveries by outcome (`ok`, `retried`, `failed`, `dropped`).
    pub webhook_deliveries: Family<OutcomeLabel, Counter>,
}

/// A label naming what became of an event handler run or a webhook delivery.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// The outcome.
    pub outcome: &'static str,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Fresh metrics, all zero.
    pub fn new() -> Metrics {
        Metrics {
            heartbeats_sent: Counter::default(),
            heartbeats_received: Counter::default(),
            messages_sent: Family::default(),
            messages_received: Family::default(),
            sent_bytes: Counter::default(),
            received_bytes: Counter::default(),
            send_errors: Counter::default(),
            decode_errors: Family::default(),
            replies_suppressed: Counter::default(),
            timing_mismatches: Family::default(),
            timing_changes: Family::default(),
            members: Family::default(),
            transitions: Family::default(),
            detection_latency: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
            refutations: Counter::default(),
            isolated: Gauge::default(),
            leader_changes: Counter::default(),
            term: Gauge::default(),
            is_leader: Gauge::default(),
            handler_runs: Family::default(),
            webhook_deliveries: Family::default(),
        }
        .with_every_label()
    }

    /// Creates every labelled series at zero, so that dashboards and alerts see them
    /// before the first event.
    fn with_every_label(self) -> Metrics {
        let reasons = vitals_core::wire::DecodeError::REASONS
            .into_iter()
            .chain(["rate_limited", "fault_injected"]);
        for reason in reasons {
            let _ = self.decode_errors.get_or_create(&ReasonLabel { reason });
        }
        for cause in [
            vitals_core::timing::Mismatch::Strategy,
            vitals_core::timing::Mismatch::Election,
        ] {
            let _ = self
                .timing_mismatches
                .get_or_create(&CauseLabel { cause: cause.as_str() });
        }
        for reason in [
            vitals_core::adapt::Reason::TooManyMistakes,
            vitals_core::adapt::Reason::TooSlow,
            vitals_core::adapt::Reason::RoomToSpare,
            vitals_core::adapt::Reason::Unreachable,
        ] {
            let _ = self.timing_changes.get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            });
        }
        for status in ["alive", "suspect", "dead", "left"] {
            let _ = self.transitions.get_or_create(&StatusLabel { status });
            let _ = self.members.get_or_create(&StatusLabel { status });
        }
        self
    }

    /// A registry exposing these metrics under the `vitals_` prefix; the leader
    /// strategy's series only with `leader`.
    pub fn registry(&self, leader: bool) -> Registry {
        let mut root = Registry::default();
        self.register(root.sub_registry_with_prefix("vitals"), leader);
        root
    }

    fn register(&self, r: &mut Registry, leader: bool) {
        r.register(
            "heartbeats_sent",
            "Heartbeats (push heartbeats, polls, poll replies) sent",
            self.heartbeats_sent.clone(),
        );
        r.register(
            "heartbeats_received",
            "Heartbeats received",
            self.heartbeats_received.clone(),
        );
        r.register(
            "messages_sent",
            "Protocol messages sent, by kind",
            self.messages_sent.clone(),
        );
        r.register(
            "messages_received",
            "Protocol messages received, by kind",
            self.messages_received.clone(),
        );
        r.register("sent_bytes", "UDP payload bytes sent", self.sent_bytes.clone());
        r.register(
            "received_bytes",
            "UDP payload bytes received",
            self.received_bytes.clone(),
        );
        r.register(
            "send_errors",
            "Datagrams that could not be sent",
            self.send_errors.clone(),
        );
        self.register_refusals(r);
        r.register(
            "members",
            "Members by status as this node sees them",
            self.members.clone(),
        );
        r.register(
            "transitions",
            "Member status transitions, by new status",
            self.transitions.clone(),
        );
        r.register(
            "detection_latency_seconds",
            "Silence since a member was last heard when it was declared dead",
            self.detection_latency.clone(),
        );
        r.register(
            "refutations",
            "Times this node refuted news of its own death",
            self.refutations.clone(),
        );
        r.register(
            "isolated",
            "1 while no peer acknowledges this node's heartbeats",
            self.isolated.clone(),
        );
        if leader {
            self.register_leadership(r);
        }
        self.register_hooks(r);
    }

    /// Event handlers' and webhooks' series.
    fn register_hooks(&self, r: &mut Registry) {
        r.register(
            "event_handler_runs",
            "Event handler runs (--event-handler), by outcome: ok, failed, timeout, unstartable, dropped",
            self.handler_runs.clone(),
        );
        r.register(
            "webhook_deliveries",
            "Webhook deliveries (--webhook), by outcome: ok, retried, failed, dropped",
            self.webhook_deliveries.clone(),
        );
    }

    /// What was refused or cannot work: dropped datagrams, suppressed replies, members
    /// whose timing cannot work here.
    fn register_refusals(&self, r: &mut Registry) {
        r.register(
            "decode_errors",
            "Datagrams dropped before the protocol saw them (malformed, forged, replayed, rate limited...), by reason",
            self.decode_errors.clone(),
        );
        r.register(
            "replies_suppressed",
            "Replies not sent because they would have been larger than their request",
            self.replies_suppressed.clone(),
        );
        r.register(
            "timing_mismatches",
            "Members whose announced timing cannot work with this node's (another strategy; leader voters on different timings), by cause",
            self.timing_mismatches.clone(),
        );
        r.register(
            "timing_changes",
            "Changes of this node's own interval or threshold made by --auto-tune, by reason",
            self.timing_changes.clone(),
        );
    }

    /// The leader strategy's series.
    fn register_leadership(&self, r: &mut Registry) {
        r.register(
            "leader_changes",
            "Leader strategy: changes of the leader or term this node knows",
            self.leader_changes.clone(),
        );
        r.register("term", "Leader strategy: this node's current term", self.term.clone());
        r.register(
            "is_leader",
            "Leader strategy: 1 while this node is the leader",
            self.is_leader.clone(),
        );
    }

    /// The registry's text exposition.
    pub fn encode(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).expect("writing to a String cannot fail");
        text
    }
}
