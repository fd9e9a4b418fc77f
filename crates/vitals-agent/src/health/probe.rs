//! One run of one check: an HTTP GET, a TCP connect, a grpc.health.v1 Check, or a
//! command. Each returns an [`Outcome`] and a short output for the API. Owns no state
//! and no schedule (see [`crate::health::checks`]); never runs a shell, never follows redirects,
//! and reads at most [`MAX_BODY`] bytes of a response.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;
use tokio::net::TcpStream;
use vitals_core::CheckStatus;

use super::services::CheckKind;

/// Most bytes of a response body an HTTP check reads.
pub const MAX_BODY: usize = 64 * 1024;
/// Longest output kept for the API.
const MAX_OUTPUT: usize = 256;

/// What one run found, and what to show about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Passing, warning or critical.
    pub status: CheckStatus,
    /// A one-line explanation.
    pub output: String,
}

impl Outcome {
    fn new(status: CheckStatus, output: impl Into<String>) -> Outcome {
        let mut output: String = output.into();
        if output.len() > MAX_OUTPUT {
            let mut end = MAX_OUTPUT;
            while !output.is_char_boundary(end) {
                end -= 1;
            }
            output.truncate(end);
        }
        Outcome { status, output }
    }

    fn failed(output: impl Into<String>) -> Outcome {
        Outcome::new(CheckStatus::Critical, output)
    }
}

/// Runs one probe of `kind` within `timeout`. TTL checks have no probe: they are
/// reported in over the API.
pub async fn run(kind: &CheckKind, timeout: Duration) -> Outcome {
    let probe = async {
        match kind {
            CheckKind::Http {
                target,
                path,
                status,
                body,
            } => http(*target, path, *status, body.as_deref()).await,
            CheckKind::Tcp { target } => tcp(*target).await,
            CheckKind::Grpc { target, service } => grpc(*target, service, timeout).await,
            CheckKind::Exec { args } => exec(args).await,
            CheckKind::Ttl { .. } => Outcome::failed("ttl checks are reported in, not probed"),
        }
    };
    tokio::time::timeout(timeout, probe)
        .await
        .unwrap_or_else(|_| Outcome::failed(format!("timed out after {timeout:?}")))
}

async fn tcp(target: SocketAddr) -> Outcome {
    match TcpStream::connect(target).await {
        Ok(_) => Outcome::new(CheckStatus::Passing, format!("connected to {target}")),
        Err(e) => Outcome::failed(format!("cannot connect to {target}: {e}")),
    }
}

/// `GET path` on `target`: the status code and at most [`MAX_BODY`] bytes of body.
pub async fn http_get(target: SocketAddr, path: &str) -> Result<(u16, Bytes), String> {
    http_get_with_token(target, path, None).await
}

/// [`http_get`] with `Authorization: Bearer {token}` when a token is given.
pub async fn http_get_with_token(target: SocketAddr, path: &str, token: Option<&str>) -> Result<(u16, Bytes), String> {
    http_get_indexed(target, path, token)
        .await
        .map(|(status, _, body)| (status, body))
}

/// [`http_get_with_token`], with the answer's `X-Vitals-Index` (a blocking query's
/// change index) when it carries one that parses.
pub async fn http_get_indexed(
    target: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> Result<(u16, Option<u64>, Bytes), String> {
    let stream = TcpStream::connect(target)
        .await
        .map_err(|e| format!("cannot connect to {target}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {target} failed: {e}"))?;
    let driver = tokio::spawn(connection);
    let mut request = hyper::Request::get(path)
        .header(hyper::header::HOST, target.to_string())
        .header(hyper::header::USER_AGENT, "vitals-check");
    if let Some(token) = token {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("bad request: {e}"))?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("GET {path} on {target} failed: {e}"))?;
        let status = response.status().as_u16();
        let index = response
            .headers()
            .get("x-vitals-index")
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("reading the body failed: {e}"))?
            .to_bytes();
        Ok((status, index, body))
    }
    .await;
    driver.abort();
    result
}

async fn http(target: SocketAddr, path: &str, (low, high): (u16, u16), body: Option<&str>) -> Outcome {
    let (status, bytes) = match http_get(target, path).await {
        Ok(answer) => answer,
        Err(e) => return Outcome::failed(e),
    };
    if status == 429 {
        return Outcome::new(CheckStatus::Warning, format!("HTTP GET {path}: 429 Too Many Requests"));
    }
    if !(low..=high).contains(&status) {
        return Outcome::failed(format!("HTTP GET {path}: {status}, expected {low}-{high}"));
    }
    if let Some(needle) = body
        && !String::from_utf8_lossy(&bytes).contains(needle)
    {
        return Outcome::failed(format!("HTTP GET {path}: {status}, body does not contain `{needle}`"));
    }
    Outcome::new(CheckStatus::Passing, format!("HTTP GET {path}: {status}"))
}

async fn grpc(target: SocketAddr, service: &str, timeout: Duration) -> Outcome {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let endpoint = match tonic::transport::Endpoint::from_shared(format!("http://{target}")) {
        Ok(endpoint) => endpoint.connect_timeout(timeout).timeout(timeout),
        Err(e) => return Outcome::failed(format!("bad target {target}: {e}")),
    };
    let channel = match endpoint.connect().await {
        Ok(channel) => channel,
        Err(e) => return Outcome::failed(format!("cannot connect to {target}: {e}")),
    };
    let request = HealthCheckRequest {
        service: service.to_string(),
    };
    match HealthClient::new(channel).check(request).await {
        Ok(reply) => match reply.into_inner().status() {
            ServingStatus::Serving => Outcome::new(CheckStatus::Passing, "SERVING"),
            other => Outcome::failed(other.as_str_name()),
        },
        Err(status) => Outcome::failed(format!("gRPC {:?}: {}", status.code(), status.message())),
    }
}

async fn exec(args: &[String]) -> Outcome {
    let output = tokio::process::Command::new(&args[0])
        .args(&args[1..])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    let output = match output {
        Ok(output) => output,
        Err(e) => return Outcome::failed(format!("cannot run {}: {e}", args[0])),
    };
    let text = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    let text = text.trim().to_string();
    let status = match output.status.code() {
        Some(0) => CheckStatus::Passing,
        Some(1) => CheckStatus::Warning,
        _ => CheckStatus::Critical,
    };
    Outcome::new(status, format!("{} ({})", text, output.status))
}
