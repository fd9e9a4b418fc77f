//! systemd's readiness protocol (`Type=notify`): the agent says READY=1 once its sockets
//! are bound and its keyring loaded, and STOPPING=1 when it starts to leave. Without
//! `NOTIFY_SOCKET` (not started by systemd) every call does nothing.

use sd_notify::NotifyState;

/// Tells systemd the agent is up. A failure to tell is logged, never fatal.
pub(crate) fn ready() {
    notify(&[NotifyState::Ready, NotifyState::Status("serving")]);
}

/// Tells systemd the agent is leaving.
pub(crate) fn stopping() {
    notify(&[NotifyState::Stopping]);
}

fn notify(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "cannot notify systemd");
    }
}
