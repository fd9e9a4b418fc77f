//! The named values flags accept (`--strategy`, `--preset`, `--detector`, `--policy`,
//! `--api-auth`), listed for clap so that `--help`, errors and shell completions show
//! every possible value with a line of help. Each name is parsed by its type's own
//! `FromStr`, so this list can only narrow what the types accept, never widen it.

use std::str::FromStr;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use vitals_agent::daemon::config::ApiAuth;
use vitals_agent::routing::Policy;
use vitals_core::{DetectorKind, Preset, StrategyKind};

/// A parser that offers `values` and turns the chosen one into a `T`.
fn listed<T>(values: Vec<PossibleValue>) -> impl TypedValueParser<Value = T>
where
    T: FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(values).try_map(|name| name.parse::<T>())
}

fn value(name: &'static str, help: &'static str) -> PossibleValue {
    PossibleValue::new(name).help(help)
}

/// `--strategy`.
pub(crate) fn strategy() -> impl TypedValueParser<Value = StrategyKind> {
    listed(vec![
        value("push", "every node sends a heartbeat to every other node each interval"),
        value("pull", "the monitors poll every node; the others learn their verdicts"),
        value("ping", "SWIM probes with Lifeguard; news rides on the probes"),
        value("gossip", "heartbeat counters spread neighbour to neighbour"),
        value("leader", "an elected leader judges everyone and publishes the view"),
    ])
}

/// `--preset`: every [`Preset::ALL`], with its interval.
pub(crate) fn preset() -> impl TypedValueParser<Value = Preset> {
    listed(vec![
        value("web", "heartbeat every 10s, dead after 3 misses"),
        value("high-traffic", "every 3s, 3 misses"),
        value("background", "every 20s, 3 misses"),
        value("lan-fast", "every 200ms, 3 misses (demos and tests on one machine)"),
        value(
            "lan",
            "every 500ms, 3 misses (a data-centre LAN; memberlist's LAN profile)",
        ),
    ])
}

/// `--detector`.
pub(crate) fn detector() -> impl TypedValueParser<Value = DetectorKind> {
    listed(vec![
        value("missed", "dead after --threshold consecutive missed heartbeats"),
        value("phi", "phi accrual: dead when phi reaches --phi-threshold"),
    ])
}

/// `--policy`.
pub(crate) fn policy() -> impl TypedValueParser<Value = Policy> {
    listed(vec![
        value("weighted", "at random, in proportion to weight x health score"),
        value("least-loaded", "the instance whose node has the most free resources"),
        value("round-robin", "each healthy instance in turn"),
    ])
}

/// `--api-auth`.
pub(crate) fn api_auth() -> impl TypedValueParser<Value = ApiAuth> {
    listed(vec![
        value("writes", "only the endpoints that change something"),
        value("all", "every endpoint but /healthz and /readyz"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<T>(parser: &impl TypedValueParser<Value = T>) -> Vec<String> {
        let values = parser.possible_values().expect("a listed parser lists its values");
        values.map(|v| v.get_name().to_string()).collect()
    }

    #[test]
    fn every_listed_name_parses_and_every_preset_is_listed() {
        let presets: Vec<String> = Preset::ALL.iter().map(|p| p.name().to_string()).collect();
        assert_eq!(names(&preset()), presets);
        for name in names(&strategy()) {
            assert_eq!(name.parse::<StrategyKind>().unwrap().name(), name);
        }
        for name in names(&detector()) {
            assert_eq!(name.parse::<DetectorKind>().unwrap().name(), name);
        }
        for name in names(&policy()) {
            name.parse::<Policy>().unwrap();
        }
        for name in names(&api_auth()) {
            name.parse::<ApiAuth>().unwrap();
        }
    }
}
