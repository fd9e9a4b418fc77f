//! The services an agent fronts and the checks it runs, as the TOML file and the flags
//! say them ([`RawService`], [`RawCheck`], [`RawThresholds`]) and as validated specs
//! ([`ServiceSpec`], [`CheckSpec`], [`Thresholds`]). Owns validation only: it never runs
//! a check. Every error names its key the way it is written in the file, e.g.
//! `services[0].checks[1].interval`.
//!
//! Defaults (Consul-like): interval 10s, timeout 5s, rise 2, fall 3; HTTP checks expect a
//! status in 200–399. `exec` checks are refused unless the file says `enable_exec = true`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vitals_core::checks::{MAX_SERVICE_NAME_LEN, MAX_SERVICES};

use crate::parse::SettingsError;

/// Default time between two runs of a check.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Default time a check may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default consecutive successes that make a failing check pass.
pub const DEFAULT_RISE: u32 = 2;
/// Default consecutive failures that make a passing check fail.
pub const DEFAULT_FALL: u32 = 3;

/// A `[[services]]` table, or a `--service NAME=HOST:PORT` flag.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// The service's name.
    pub name: String,
    /// Where clients reach it (HOST:PORT).
    pub addr: String,
    /// Free-form tags (shown by the local API; not carried in heartbeats).
    pub tags: Option<Vec<String>>,
    /// Relative routing weight, 1–1000 (default 1).
    pub weight: Option<u16>,
    /// The service's checks.
    pub checks: Option<Vec<RawCheck>>,
}

impl std::str::FromStr for RawService {
    type Err = String;
    fn from_str(s: &str) -> Result<RawService, String> {
        let (name, addr) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not NAME=HOST:PORT; write e.g. web=127.0.0.1:8080"))?;
        Ok(RawService {
            name: name.trim().to_string(),
            addr: addr.trim().to_string(),
            ..RawService::default()
        })
    }
}

/// Which kind of check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawKind {
    /// HTTP GET, expected status range, optional body match.
    Http,
    /// TCP connect.
    Tcp,
    /// grpc.health.v1 Check.
    Grpc,
    /// A command's exit code (0 passing, 1 warning, else critical).
    Exec,
    /// The application reports in before the TTL runs out.
    Ttl,
}

/// A `[[checks]]` or `[[services.checks]]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    /// Unique name (default: `SERVICE-KIND` or `node-KIND`, numbered when repeated).
    pub name: Option<String>,
    /// `http`, `tcp`, `grpc`, `exec` or `ttl`.
    pub kind: RawKind,
    /// Time between runs.
    #[serde(default, with = "crate::parse::opt_duration")]
    pub interval: Option<Duration>,
    /// Time one run may take.
    #[serde(default, with = "crate::parse::opt_duration")]
    pub timeout: Option<Duration>,
    /// Consecutive successes to pass.
    pub rise: Option<u32>,
    /// Consecutive failures to fail.
    pub fall: Option<u32>,
    /// HOST:PORT to probe (default: the service's address).
    pub target: Option<String>,
    /// HTTP: the path to GET (default `/`).
    pub path: Option<String>,
    /// HTTP: the accepted status range, `[low, high]` (default `[200, 399]`).
    pub status: Option<[u16; 2]>,
    /// HTTP: a string the body must contain.
    pub body_match: Option<String>,
    /// gRPC: the service name to ask about (default `""`, the whole server).
    pub grpc_service: Option<String>,
    /// Exec: the program and its arguments (no shell).
    pub args: Option<Vec<String>>,
    /// TTL: how long a report stays valid.
    #[serde(default, with = "crate::parse::opt_duration")]
    pub ttl: Option<Duration>,
}

/// System thresholds: each resource may have a warning and a critical level.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThresholds {
    /// CPU use, percent (at or above).
    pub cpu_percent: Option<Levels>,
    /// Memory available, percent of total (at or below).
    pub memory_available_percent: Option<Levels>,
    /// Free disk, MiB (at or below).
    pub disk_free_mib: Option<Levels>,
    /// One-minute load average (at or above).
    pub load1: Option<Levels>,
}

/// A warning and a critical level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Levels {
    /// The level that makes the node `warning`.
    pub warning: Option<f64>,
    /// The level that makes the node `critical`.
    pub critical: Option<f64>,
}

/// Validated system thresholds. Defaults: memory available ≤ 10 % warning, ≤ 2 %
/// critical; disk free ≤ 1024 MiB warning, ≤ 100 MiB critical; CPU and load unset.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// CPU percent.
    pub cpu_percent: Levels,
    /// Memory available, percent.
    pub memory_available_percent: Levels,
    /// Disk free, MiB.
    pub disk_free_mib: Levels,
    /// Load average.
    pub load1: Levels,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            cpu_percent: Levels::default(),
            memory_available_percent: Levels {
                warning: Some(10.0),
                critical: Some(2.0),
            },
            disk_free_mib: Levels {
                warning: Some(1024.0),
                critical: Some(100.0),
            },
            load1: Levels::default(),
        }
    }
}

impl RawThresholds {
    /// Fills unset resources with the defaults.
    pub fn into_thresholds(self) -> Thresholds {
        let d = Thresholds::default();
        Thresholds {
            cpu_percent: self.cpu_percent.unwrap_or(d.cpu_percent),
            memory_available_percent: self.memory_available_percent.unwrap_or(d.memory_available_percent),
            disk_free_mib: self.disk_free_mib.unwrap_or(d.disk_free_mib),
            load1: self.load1.unwrap_or(d.load1),
        }
    }
}

/// A validated service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSpec {
    /// Name.
    pub name: String,
    /// Address.
    pub addr: SocketAddr,
    /// Tags.
    pub tags: Vec<String>,
    /// Weight.
    pub weight: u16,
}

/// What a check does.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckKind {
    /// HTTP GET `path` on `target`; passing when the status is in `status` and the body
    /// contains `body` (when given); 429 is a warning (as in Consul).
    Http {
        /// Address.
        target: SocketAddr,
        /// Path.
        path: String,
        /// Accepted statuses.
        status: (u16, u16),
        /// Required body substring.
        body: Option<String>,
    },
    /// TCP connect to `target`.
    Tcp {
        /// Address.
        target: SocketAddr,
    },
    /// grpc.health.v1 Check of `service` on `target`.
    Grpc {
        /// Address.
        target: SocketAddr,
        /// The service name asked about.
        service: String,
    },
    /// Run `args` (no shell): exit 0 passing, 1 warning, anything else critical.
    Exec {
        /// Program and arguments.
        args: Vec<String>,
    },
    /// Critical unless reported in within `ttl`.
    Ttl {
        /// Validity of a report.
        ttl: Duration,
    },
}

impl CheckKind {
    /// The kind's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            CheckKind::Http { .. } => "http",
            CheckKind::Tcp { .. } => "tcp",
            CheckKind::Grpc { .. } => "grpc",
            CheckKind::Exec { .. } => "exec",
            CheckKind::Ttl { .. } => "ttl",
        }
    }
}

/// A validated check.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckSpec {
    /// Unique name.
    pub name: String,
    /// The service it checks; `None` for a node-level check.
    pub service: Option<String>,
    /// What it does.
    pub kind: CheckKind,
    /// Time between runs.
    pub interval: Duration,
    /// Time one run may take.
    pub timeout: Duration,
    /// Consecutive successes to pass.
    pub rise: u32,
    /// Consecutive failures to fail.
    pub fall: u32,
}

fn invalid(key: String, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

fn resolve(key: &str, text: &str) -> Result<SocketAddr, SettingsError> {
    text.to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(|| {
        invalid(
            key.to_string(),
            format!("`{text}` is not HOST:PORT; write e.g. 127.0.0.1:8080"),
        )
    })
}

fn validate_service_name(key: &str, name: &str) -> Result<(), SettingsError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SERVICE_NAME_LEN
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        return Ok(());
    }
    Err(invalid(
        key.to_string(),
        format!("`{name}` is not a valid name: use 1 to {MAX_SERVICE_NAME_LEN} letters, digits, `-`, `_` or `.`"),
    ))
}

/// Validates the services (and their checks) and the node-level checks.
pub fn validate(
    services: &[RawService],
    node_checks: &[RawCheck],
    enable_exec: bool,
) -> Result<(Vec<ServiceSpec>, Vec<CheckSpec>), SettingsError> {
    if services.len() > MAX_SERVICES {
        return Err(invalid(
            "services".into(),
            format!("{} services; an agent fronts at most {MAX_SERVICES}", services.len()),
        ));
    }
    let mut specs = Vec::new();
    let mut checks = Vec::new();
    for (i, raw) in services.iter().enumerate() {
        let key = format!("services[{i}]");
        let spec = validate_service(&key, raw)?;
        if specs.iter().any(|s: &ServiceSpec| s.name == spec.name) {
            return Err(invalid(
                format!("{key}.name"),
                format!("`{}` is declared twice", spec.name),
            ));
        }
        for (j, check) in raw.checks.iter().flatten().enumerate() {
            let ckey = format!("{key}.checks[{j}]");
            checks.push(validate_check(&ckey, check, Some(&spec), enable_exec)?);
        }
        specs.push(spec);
    }
    for (j, check) in node_checks.iter().enumerate() {
        checks.push(validate_check(&format!("checks[{j}]"), check, None, enable_exec)?);
    }
    name_checks(&mut checks)?;
    Ok((specs, checks))
}

fn validate_service(key: &str, raw: &RawService) -> Result<ServiceSpec, SettingsError> {
    validate_service_name(&format!("{key}.name"), &raw.name)?;
    let addr = resolve(&format!("{key}.addr"), &raw.addr)?;
    let weight = raw.weight.unwrap_or(1);
    if !(1..=1000).contains(&weight) {
        return Err(invalid(
            format!("{key}.weight"),
            format!("{weight} is out of range: use 1 to 1000"),
        ));
    }
    Ok(ServiceSpec {
        name: raw.name.clone(),
        addr,
        tags: raw.tags.clone().unwrap_or_default(),
        weight,
    })
}

fn validate_check(
    key: &str,
    raw: &RawCheck,
    service: Option<&ServiceSpec>,
    enable_exec: bool,
) -> Result<CheckSpec, SettingsError> {
    let interval = raw.interval.unwrap_or(DEFAULT_INTERVAL);
    let timeout = raw.timeout.unwrap_or(DEFAULT_TIMEOUT.min(interval));
    if interval < Duration::from_millis(10) {
        return Err(invalid(format!("{key}.interval"), "must be at least 10ms"));
    }
    if timeout.is_zero() || timeout > interval {
        return Err(invalid(
            format!("{key}.timeout"),
            format!("must be more than 0 and at most the interval ({interval:?})"),
        ));
    }
    let rise = raw.rise.unwrap_or(DEFAULT_RISE);
    let fall = raw.fall.unwrap_or(DEFAULT_FALL);
    for (name, value) in [("rise", rise), ("fall", fall)] {
        if !(1..=100).contains(&value) {
            return Err(invalid(
                format!("{key}.{name}"),
                format!("{value} is out of range: use 1 to 100"),
            ));
        }
    }
    if let Some(name) = &raw.name {
        validate_service_name(&format!("{key}.name"), name)?;
    }
    Ok(CheckSpec {
        name: raw.name.clone().unwrap_or_default(),
        service: service.map(|s| s.name.clone()),
        kind: check_kind(key, raw, service, enable_exec)?,
        interval,
        timeout,
        rise,
        fall,
    })
}

fn check_kind(
    key: &str,
    raw: &RawCheck,
    service: Option<&ServiceSpec>,
    enable_exec: bool,
) -> Result<CheckKind, SettingsError> {
    let target = || match (&raw.target, service) {
        (Some(text), _) => resolve(&format!("{key}.target"), text),
        (None, Some(s)) => Ok(s.addr),
        (None, None) => Err(invalid(
            format!("{key}.target"),
            "missing: a node-level check needs a target HOST:PORT",
        )),
    };
    Ok(match raw.kind {
        RawKind::Http => CheckKind::Http {
            target: target()?,
            path: http_path(key, raw)?,
            status: http_status(key, raw)?,
            body: raw.body_match.clone(),
        },
        RawKind::Tcp => CheckKind::Tcp { target: target()? },
        RawKind::Grpc => CheckKind::Grpc {
            target: target()?,
            service: raw.grpc_service.clone().unwrap_or_default(),
        },
        RawKind::Exec => exec_kind(key, raw, enable_exec)?,
        RawKind::Ttl => CheckKind::Ttl {
            ttl: raw
                .ttl
                .filter(|t| !t.is_zero())
                .ok_or_else(|| invalid(format!("{key}.ttl"), "missing: a ttl check needs ttl = \"30s\""))?,
        },
    })
}

fn http_path(key: &str, raw: &RawCheck) -> Result<String, SettingsError> {
    let path = raw.path.clone().unwrap_or_else(|| "/".into());
    if !path.starts_with('/') || path.chars().any(char::is_whitespace) {
        return Err(invalid(
            format!("{key}.path"),
            format!("`{path}` must start with `/` and hold no spaces"),
        ));
    }
    Ok(path)
}

fn http_status(key: &str, raw: &RawCheck) -> Result<(u16, u16), SettingsError> {
    let [low, high] = raw.status.unwrap_or([200, 399]);
    if !(100..=599).contains(&low) || !(low..=599).contains(&high) {
        return Err(invalid(
            format!("{key}.status"),
            format!("[{low}, {high}] is not a status range: write e.g. [200, 299]"),
        ));
    }
    Ok((low, high))
}

fn exec_kind(key: &str, raw: &RawCheck, enable_exec: bool) -> Result<CheckKind, SettingsError> {
    if !enable_exec {
        return Err(invalid(
            format!("{key}.kind"),
            "exec checks are disabled: set `enable_exec = true` at the top of the config file to allow them",
        ));
    }
    match &raw.args {
        Some(args) if !args.is_empty() && !args[0].is_empty() => Ok(CheckKind::Exec { args: args.clone() }),
        _ => Err(invalid(
            format!("{key}.args"),
            "missing: write args = [\"/path/to/program\", \"arg\"]",
        )),
    }
}

/// Gives unnamed checks `SERVICE-KIND` (or `node-KIND`) names, numbered when repeated,
/// and refuses duplicates.
fn name_checks(checks: &mut [CheckSpec]) -> Result<(), SettingsError> {
    let mut seen: Vec<String> = checks
        .iter()
        .map(|c| c.name.clone())
        .filter(|n| !n.is_empty())
        .collect();
    for check in checks.iter_mut().filter(|c| c.name.is_empty()) {
        let base = format!("{}-{}", check.service.as_deref().unwrap_or("node"), check.kind.as_str());
        let name = (1..)
            .map(|i| if i == 1 { base.clone() } else { format!("{base}-{i}") })
            .find(|n| !seen.contains(n))
            .expect("unbounded");
        seen.push(name.clone());
        check.name = name;
    }
    let mut names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(invalid(
            "checks".into(),
            format!("two checks are named `{}`: names must be unique", w[0]),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Vec<ServiceSpec>, Vec<CheckSpec>), SettingsError> {
        #[derive(Deserialize)]
        struct File {
            services: Option<Vec<RawService>>,
            checks: Option<Vec<RawCheck>>,
            enable_exec: Option<bool>,
        }
        let file: File = toml::from_str(text).unwrap();
        validate(
            &file.services.unwrap_or_default(),
            &file.checks.unwrap_or_default(),
            file.enable_exec.unwrap_or(false),
        )
    }

    #[test]
    fn checks_get_consul_like_defaults_and_names() {
        let (services, checks) =
            parse("[[services]]\nname = \"web\"\naddr = \"127.0.0.1:80\"\n[[services.checks]]\nkind = \"http\"\n")
                .unwrap();
        assert_eq!(services[0].weight, 1);
        let check = &checks[0];
        assert_eq!(check.name, "web-http");
        assert_eq!((check.interval, check.timeout), (DEFAULT_INTERVAL, DEFAULT_TIMEOUT));
        assert_eq!((check.rise, check.fall), (2, 3));
        assert!(matches!(&check.kind, CheckKind::Http { path, status: (200, 399), .. } if path == "/"));
    }

    #[test]
    fn exec_checks_are_refused_unless_enabled_in_the_file() {
        let text = "[[checks]]\nkind = \"exec\"\nargs = [\"true\"]\n";
        let error = parse(text).unwrap_err().to_string();
        assert!(
            error.starts_with("invalid `checks[0].kind`: exec checks are disabled"),
            "{error}"
        );
        assert!(parse(&format!("enable_exec = true\n{text}")).is_ok());
    }

    #[test]
    fn errors_name_the_key_as_written_in_the_file() {
        let text = "[[services]]\nname = \"web\"\naddr = \"127.0.0.1:80\"\n[[services.checks]]\nkind = \"tcp\"\n\
                    [[services.checks]]\nkind = \"tcp\"\ninterval = \"1s\"\ntimeout = \"2s\"\n";
        let error = parse(text).unwrap_err().to_string();
        assert!(error.starts_with("invalid `services[0].checks[1].timeout`"), "{error}");
        let error = parse("[[checks]]\nkind = \"tcp\"\n").unwrap_err().to_string();
        assert!(error.starts_with("invalid `checks[0].target`"), "{error}");
        let error = parse("[[checks]]\nkind = \"ttl\"\n").unwrap_err().to_string();
        assert!(error.starts_with("invalid `checks[0].ttl`"), "{error}");
    }

    #[test]
    fn a_service_flag_is_name_equals_address() {
        let raw: RawService = "web=127.0.0.1:8080".parse().unwrap();
        assert_eq!((raw.name.as_str(), raw.addr.as_str()), ("web", "127.0.0.1:8080"));
        assert!("web".parse::<RawService>().unwrap_err().contains("NAME=HOST:PORT"));
    }
}
