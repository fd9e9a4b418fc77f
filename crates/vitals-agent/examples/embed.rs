//! A program that embeds Vitals instead of running the daemon beside it, and routes its
//! own requests by what its agent sees.
//!
//! It runs two embedded agents on loopback (`shop-1` and `shop-2`, as two processes of a
//! service would), each fronting a tiny TCP backend of service `hello` that answers with
//! its name. Requests are sent wherever `Agent::route` says; then `shop-2` declares
//! itself critical (draining) and the routes move to `shop-1`; then `shop-2` leaves and
//! `shop-1`'s event stream tells of it.
//!
//! ```sh
//! cargo run -p vitals-agent --example embed
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vitals_agent::RawConfig;
use vitals_agent::api::events::Change;
use vitals_agent::embed::Agent;
use vitals_agent::routing::Policy;
use vitals_core::CheckStatus;

/// A backend that writes `name` to every connection.
async fn backend(name: &'static str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.write_all(name.as_bytes()).await;
        }
    });
    Ok(addr)
}

/// The settings of one embedded agent fronting `hello` at `service`.
fn settings(name: &str, port: u16, join: Option<u16>, service: SocketAddr) -> vitals_agent::Settings {
    let join = join.map_or(String::new(), |p| format!("join = [\"127.0.0.1:{p}\"]\n"));
    let text = format!(
        "name = \"{name}\"\nbind = \"127.0.0.1:{port}\"\nhttp = \"127.0.0.1:{}\"\npreset = \"lan-fast\"\n{join}\
         [[services]]\nname = \"hello\"\naddr = \"{service}\"\n",
        port + 1
    );
    let raw: RawConfig = toml::from_str(&text).expect("the example's settings parse");
    raw.into_settings().expect("the example's settings are valid")
}

/// Sends one request where `agent` routes it; returns who answered.
async fn request(agent: &Agent) -> String {
    let Ok(route) = agent.route("hello", Policy::RoundRobin) else {
        return "(no route)".into();
    };
    let mut answer = String::new();
    if let Ok(mut stream) = TcpStream::connect(route.target.addr).await {
        let _ = stream.read_to_string(&mut answer).await;
    }
    answer
}

async fn six_requests(agent: &Agent, when: &str) {
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(request(agent).await);
    }
    println!("{when}: {}", answers.join(" "));
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let one = Agent::start(settings("shop-1", 17946, None, backend("shop-1").await?)).await?;
    let mut events = one.events();
    let two = Agent::start(settings("shop-2", 17956, Some(17946), backend("shop-2").await?)).await?;
    while one.instances("hello").iter().filter(|i| i.is_healthy()).count() < 2 {
        events.next().await; // every change wakes us; no polling
    }
    six_requests(&one, "both healthy").await;

    two.set_health(CheckStatus::Critical);
    while one
        .instances("hello")
        .iter()
        .any(|i| i.name == "shop-2" && i.is_healthy())
    {
        events.next().await;
    }
    six_requests(&one, "shop-2 draining").await;

    two.leave().await?;
    let left = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(event)) = events.next().await {
            if let Change::Member(m) = &event.change
                && m.member == "shop-2"
            {
                return format!("event {}: {} is {} ({})", event.id, m.member, m.to.as_str(), m.reason);
            }
        }
        "the stream ended".to_string()
    })
    .await?;
    println!("{left}");
    one.leave().await?;
    Ok(())
}
