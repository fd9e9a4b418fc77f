//! Fault hooks for integration tests: ways to break a running agent on purpose (a cut
//! inbound link), chosen by hidden `vitals agent` flags ([`Faults`] is flattened into
//! them). The hooks exist only with the `fault-injection` cargo feature, which the
//! `vitals` crate's tests enable through a dev-dependency; without it (every release
//! build) [`Faults`] has no field and no flag, and [`Faults::drops_inbound`] is `false`.
//!
//! Owns the fault settings only. Must never be reachable from a config file or the API,
//! and never changes what the node decides: the driver drops what a hook says before the
//! node sees it, and counts it as `fault_injected`.

use std::net::IpAddr;

/// The faults injected into this agent (none unless the tests' feature is on).
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args)]
pub struct Faults {
    /// Fault injection for tests: drop every datagram from this source address on arrival.
    #[cfg(feature = "fault-injection")]
    #[arg(long, value_name = "IP", hide = true)]
    pub drop_inbound_from: Vec<IpAddr>,
}

impl Faults {
    /// Whether a datagram from `source` is dropped on arrival (a broken inbound link).
    #[cfg(feature = "fault-injection")]
    pub(crate) fn drops_inbound(&self, source: IpAddr) -> bool {
        self.drop_inbound_from.contains(&source)
    }

    /// Whether a datagram from `source` is dropped on arrival: never, without the
    /// `fault-injection` feature.
    #[cfg(not(feature = "fault-injection"))]
    pub(crate) fn drops_inbound(&self, _source: IpAddr) -> bool {
        false
    }
}
