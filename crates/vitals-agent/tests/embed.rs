//! The embedding API on real sockets: two agents embedded in one tokio runtime on loopback
//! find each other, one's health and tags reach the other, and when one leaves the
//! other's event stream reports it `left`.

use std::time::Duration;

use vitals_agent::RawConfig;
use vitals_agent::api::events::Change;
use vitals_agent::embed::{Agent, EventStream};
use vitals_core::{CheckStatus, Status};

fn settings(name: &str, ip: &str, join: Option<&str>) -> vitals_agent::Settings {
    RawConfig {
        name: Some(name.into()),
        bind: Some(format!("{ip}:7946")),
        http: Some(format!("{ip}:7947")),
        join: join.map(|seed| vec![seed.to_string()]),
        preset: Some(vitals_core::Preset::LanFast),
        ..RawConfig::default()
    }
    .into_settings()
    .expect("valid settings")
}

/// The first event within 10 s for which `wanted` holds.
async fn first(events: &mut EventStream, wanted: impl Fn(&Change) -> bool) -> Change {
    let found = async {
        while let Some(item) = events.next().await {
            if let Ok(event) = item
                && wanted(&event.change)
            {
                return event.change.clone();
            }
        }
        panic!("the event stream ended");
    };
    tokio::time::timeout(Duration::from_secs(10), found)
        .await
        .expect("the event came within 10 s")
}

fn about(change: &Change, member: &str, to: Status) -> bool {
    matches!(change, Change::Member(m) if m.member == member && m.to == to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_embedded_agents_see_each_other_and_a_leave_is_an_event() {
    let a = Agent::start(settings("embed-a", "127.91.9.1", None)).await.unwrap();
    let mut events = a.events();
    let b = Agent::start(settings("embed-b", "127.91.9.2", Some("127.91.9.1:7946")))
        .await
        .unwrap();
    first(&mut events, |c| about(c, "embed-b", Status::Alive)).await;
    assert_eq!(a.name(), "embed-a");
    assert_eq!(a.http_addr().to_string(), "127.91.9.1:7947");
    let seen = a.members();
    assert!(
        seen.iter().any(|m| m.name == "embed-b" && m.status == Status::Alive),
        "{seen:?}"
    );

    b.set_tags([("zone".to_string(), "z1".to_string())].into()).unwrap();
    b.set_health(CheckStatus::Critical);
    let change = first(&mut events, |c| matches!(c, Change::Check(k) if k.member == "embed-b")).await;
    let Change::Check(check) = change else { unreachable!() };
    assert_eq!((check.name.as_str(), check.to), ("node", Some(CheckStatus::Critical)));
    assert_eq!(check.tags.get("zone").map(String::as_str), Some("z1"));
    let too_many: vitals_core::tags::Tags = (0..17).map(|i| (format!("k{i}"), "v".to_string())).collect();
    assert!(b.set_tags(too_many).is_err());

    b.leave().await.unwrap();
    first(&mut events, |c| about(c, "embed-b", Status::Left)).await;
    a.leave().await.unwrap();
}
