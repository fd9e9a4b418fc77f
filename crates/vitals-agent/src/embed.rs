//! Embedding: run a Vitals agent inside your own program's tokio runtime, as memberlist,
//! foca and chitchat users do, instead of running the `vitals agent` daemon beside it.
//!
//! [`Agent::start`] binds the sockets and runs the same driver, checks and HTTP API as
//! the daemon (it keeps its hands off the process's signals). The program then reads the
//! members and routes ([`Agent::members`], [`Agent::route`]), follows verdict changes as
//! a [`Stream`] ([`Agent::events`]), says how its own node is ([`Agent::set_health`],
//! [`Agent::set_tags`]) and finally [`Agent::leave`]s, so peers see it `left`, not `dead`.
//!
//! ```no_run
//! use vitals_agent::embed::Agent;
//! use vitals_agent::RawConfig;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = RawConfig {
//!     name: Some("web-1".into()),
//!     bind: Some("10.0.0.1:7946".into()),
//!     http: Some("127.0.0.1:7947".into()),
//!     join: Some(vec!["10.0.0.2".into()]),
//!     ..RawConfig::default()
//! }
//! .into_settings()?;
//! let agent = Agent::start(settings).await?;
//! let mut events = agent.events();
//! while let Some(Ok(event)) = events.next().await {
//!     println!("{} {:?}", event.id, event.change);
//! }
//! agent.leave().await?;
//! # Ok(())
//! # }
//! ```
//!
//! An example program that routes its own requests by its agent's view is
//! `crates/vitals-agent/examples/embed.rs` (`cargo run -p vitals-agent --example embed`).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use vitals_core::CheckStatus;
use vitals_core::tags::{TagError, Tags};

use crate::api::MemberView;
use crate::api::events::{Event, Gap, Lagged};
use crate::daemon::{AgentError, Host, Running};
use crate::routing::{Instance, NoRoute, Policy, Route};
use crate::{Settings, routing};

/// A Vitals agent running inside this program.
///
/// ```no_run
/// # async fn demo(settings: vitals_agent::Settings) -> Result<(), vitals_agent::AgentError> {
/// let agent = vitals_agent::embed::Agent::start(settings).await?;
/// let up = agent.members().iter().filter(|m| m.status == vitals_core::Status::Alive).count();
/// println!("{up} members up");
/// agent.leave().await?;
/// # Ok(())
/// # }
/// ```
pub struct Agent {
    running: Running,
    panic_threshold: f64,
    turn: AtomicU64,
}

/// What an event subscription yields besides events: what it missed.
///
/// ```no_run
/// # async fn demo(agent: &vitals_agent::embed::Agent) {
/// use vitals_agent::embed::Missed;
/// let mut events = agent.events();
/// while let Some(item) = events.next().await {
///     match item {
///         Ok(event) => println!("{}", event.id),
///         Err(Missed::Lagged(lagged)) => eprintln!("{} events passed us by", lagged.missed),
///         Err(Missed::Gap(gap)) => eprintln!("events from {} are gone", gap.from),
///     }
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missed {
    /// Events the ring no longer held when the subscription resumed.
    Gap(Gap),
    /// The subscriber read too slowly and these events passed it by; it goes on with the
    /// next (resubscribe with [`Agent::events_after`] to replay what the ring still holds).
    Lagged(Lagged),
}

/// A stream of the agent's events (see [`Agent::events`]); a [`Stream`], so the
/// combinators of `futures::StreamExt` or `tokio_stream::StreamExt` apply.
///
/// ```no_run
/// # async fn demo(agent: &vitals_agent::embed::Agent) {
/// use futures_util::StreamExt as _;
/// let deaths = agent.events().filter_map(|item| async move {
///     let event = item.ok()?;
///     match &event.change {
///         vitals_agent::api::events::Change::Member(m) if m.to == vitals_core::Status::Dead => Some(m.member.clone()),
///         _ => None,
///     }
/// });
/// # }
/// ```
pub struct EventStream(Pin<Box<dyn Stream<Item = Result<Arc<Event>, Missed>> + Send>>);

impl Agent {
    /// Starts an agent with `settings` on the current tokio runtime: binds its UDP socket
    /// and HTTP API, joins through the seeds, runs its checks.
    ///
    /// ```no_run
    /// # async fn demo(settings: vitals_agent::Settings) -> Result<(), vitals_agent::AgentError> {
    /// let agent = vitals_agent::embed::Agent::start(settings).await?;
    /// println!("running as {}", agent.name());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start(settings: Settings) -> Result<Agent, AgentError> {
        let panic_threshold = settings.panic_threshold;
        let running = crate::daemon::start(settings, Host::Embedded).await?;
        Ok(Agent {
            running,
            panic_threshold,
            turn: AtomicU64::new(0),
        })
    }

    /// This node's name.
    ///
    /// ```no_run
    /// # fn demo(agent: &vitals_agent::embed::Agent) {
    /// assert_eq!(agent.name(), "web-1");
    /// # }
    /// ```
    pub fn name(&self) -> String {
        self.running.snapshot.borrow().me.name.clone()
    }

    /// The address its HTTP API listens on (the same API as the daemon's).
    ///
    /// ```no_run
    /// # fn demo(agent: &vitals_agent::embed::Agent) {
    /// println!("GET http://{}/v1/members", agent.http_addr());
    /// # }
    /// ```
    pub fn http_addr(&self) -> SocketAddr {
        self.running.snapshot.borrow().me.http
    }

    /// Every member as this node sees it, itself included (the rows of `GET /v1/members`).
    ///
    /// ```no_run
    /// # fn demo(agent: &vitals_agent::embed::Agent) {
    /// for member in agent.members() {
    ///     println!("{} {} {}", member.name, member.addr, member.status.as_str());
    /// }
    /// # }
    /// ```
    pub fn members(&self) -> Vec<MemberView> {
        self.running.snapshot.borrow().members.clone()
    }

    /// Every instance of `service` among the members, with its status and score.
    ///
    /// ```no_run
    /// # fn demo(agent: &vitals_agent::embed::Agent) {
    /// let healthy = agent.instances("web").iter().filter(|i| i.is_healthy()).count();
    /// # }
    /// ```
    pub fn instances(&self, service: &str) -> Vec<Instance> {
        self.running.snapshot.borrow().instances(service)
    }

    /// Picks the instance of `service` the next request should go to (what
    /// `GET /v1/route` answers), or why none can take it.
    ///
    /// ```no_run
    /// # fn demo(agent: &vitals_agent::embed::Agent) {
    /// use vitals_agent::routing::Policy;
    /// match agent.route("web", Policy::Weighted) {
    ///     Ok(route) => println!("send it to {} at {}", route.target.name, route.target.addr),
    ///     Err(none) => eprintln!("no route: {}", none.reason),
    /// }
    /// # }
    /// ```
    pub fn route(&self, service: &str, policy: Policy) -> Result<Route, NoRoute> {
        let instances = self.instances(service);
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        let random = getrandom::u64().unwrap_or(0) as f64 / (u64::MAX as f64 + 1.0);
        routing::pick(service, &instances, policy, self.panic_threshold, turn, random)
    }

    /// Every verdict change from now on, as a [`Stream`] (or with [`EventStream::next`]).
    ///
    /// ```no_run
    /// # async fn demo(agent: &vitals_agent::embed::Agent) {
    /// use vitals_agent::api::events::Change;
    /// let mut events = agent.events();
    /// while let Some(Ok(event)) = events.next().await {
    ///     if let Change::Member(m) = &event.change {
    ///         println!("{} is {} ({})", m.member, m.to.as_str(), m.reason);
    ///     }
    /// }
    /// # }
    /// ```
    pub fn events(&self) -> EventStream {
        self.events_after(None)
    }

    /// The held events after event `after` first (announcing a [`Missed::Gap`] if some
    /// are gone), then every change from now on.
    ///
    /// ```no_run
    /// # async fn demo(agent: &vitals_agent::embed::Agent, last_seen: u64) {
    /// let mut events = agent.events_after(Some(last_seen));
    /// # }
    /// ```
    pub fn events_after(&self, after: Option<u64>) -> EventStream {
        let subscription = self.running.events.subscribe(after);
        let state = (
            subscription.gap,
            subscription.backlog.into_iter(),
            subscription.live,
            None,
        );
        EventStream(Box::pin(futures_util::stream::unfold(
            state,
            |(mut gap, mut backlog, mut live, mut last_id)| async move {
                if let Some(gap) = gap.take() {
                    return Some((Err(Missed::Gap(gap)), (None, backlog, live, last_id)));
                }
                let item = match backlog.next() {
                    Some(event) => Ok(event),
                    None => match live.recv().await {
                        Ok(event) => Ok(event),
                        Err(RecvError::Lagged(missed)) => Err(Missed::Lagged(Lagged { last_id, missed })),
                        Err(RecvError::Closed) => return None,
                    },
                };
                if let Ok(event) = &item {
                    last_id = Some(event.id);
                }
                Some((item, (None, backlog, live, last_id)))
            },
        )))
    }

    /// Sets this program's own verdict about its node: combined with the configured
    /// checks (the worse wins), carried to every member, and shown in every score and
    /// route. `Passing` withdraws an earlier `Warning` or `Critical`.
    ///
    /// ```no_run
    /// # fn demo(agent: &vitals_agent::embed::Agent) {
    /// use vitals_core::CheckStatus;
    /// agent.set_health(CheckStatus::Critical); // draining: take no more requests
    /// # }
    /// ```
    pub fn set_health(&self, status: CheckStatus) {
        self.running.local.send_modify(|local| local.status = Some(status));
    }

    /// Replaces this node's tags (bounded like `--tag`: 16 tags, 384 bytes).
    ///
    /// ```no_run
    /// # fn demo(agent: &vitals_agent::embed::Agent) -> Result<(), vitals_core::tags::TagError> {
    /// agent.set_tags([("zone".to_string(), "eu-1".to_string())].into())?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_tags(&self, tags: Tags) -> Result<(), TagError> {
        vitals_core::tags::validate(&tags)?;
        self.running.local.send_modify(|local| local.tags = Some(tags));
        Ok(())
    }

    /// Leaves the cluster (peers see this node `left`) and stops the agent's tasks.
    ///
    /// ```no_run
    /// # async fn demo(agent: vitals_agent::embed::Agent) -> Result<(), vitals_agent::AgentError> {
    /// agent.leave().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn leave(self) -> Result<(), AgentError> {
        self.running.stop().await
    }
}

impl EventStream {
    /// The next event (or what was missed), without `StreamExt`; `None` once the agent
    /// has stopped.
    ///
    /// ```no_run
    /// # async fn demo(agent: &vitals_agent::embed::Agent) {
    /// let mut events = agent.events();
    /// if let Some(Ok(event)) = events.next().await {
    ///     println!("event {} at {}", event.id, event.time);
    /// }
    /// # }
    /// ```
    pub async fn next(&mut self) -> Option<Result<Arc<Event>, Missed>> {
        std::future::poll_fn(|cx| self.0.as_mut().poll_next(cx)).await
    }
}

impl Stream for EventStream {
    type Item = Result<Arc<Event>, Missed>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}
