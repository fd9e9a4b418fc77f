//! `vitals proxy`: flags to [`vitals_agent::routing::proxy::ProxySettings`], then runs the proxy
//! until SIGINT or SIGTERM. The proxy's logic lives in `vitals_agent::routing::proxy`.

use vitals_agent::routing::proxy::{self, ProxySettings};

use crate::cli::ProxyArgs;

pub(crate) fn run(args: &ProxyArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.panic_threshold) {
        return Err(crate::usage(format!(
            "invalid `--panic-threshold`: {} is not a fraction; use 0 to 1",
            args.panic_threshold
        )));
    }
    let api = args.api.api()?;
    let settings = ProxySettings {
        listen: args.listen,
        service: args.service.clone(),
        agent: api
            .addr
            .resolve()
            .map_err(|e| crate::usage(format!("invalid `--http`: {e:#}")))?,
        token: api.token,
        policy: args.policy,
        panic_threshold: args.panic_threshold,
        refresh: args.refresh,
        connect_timeout: args.connect_timeout,
        metrics: args.metrics,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async { proxy::run(settings, crate::shutdown_signal()).await })?;
    Ok(())
}
