//! The members snapshot: the addresses of the members this agent knew, kept in a small
//! JSON file (`--snapshot FILE`, or `members.json` under `--data-dir`) so that a restarted
//! agent whose seeds are all down rejoins through them.
//!
//! Owns the file only: versioned (`version` 1), bounded ([`MAX_MEMBERS`] entries, read
//! at most [`MAX_BYTES`]), written atomically (a temporary file beside it, then a rename)
//! at most once per [`EVERY`] and only when the set changed. A missing file is a first
//! start; a corrupt, oversized or other-version one is a WARN and is ignored, never
//! fatal. Never touches the node: it reads the published snapshot.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use vitals_core::Status;

use super::snapshot::Snapshot;

/// The format this agent writes and reads.
const VERSION: u32 = 1;
/// Most members kept.
pub const MAX_MEMBERS: usize = 512;
/// Largest file read.
const MAX_BYTES: u64 = 128 * 1024;
/// Least time between two writes.
const EVERY: Duration = Duration::from_secs(1);

/// The file's contents.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Members {
    version: u32,
    members: Vec<Known>,
}

/// One member as remembered.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Known {
    name: String,
    addr: SocketAddr,
}

/// The addresses in the snapshot at `path`; empty (with a WARN) when it is corrupt.
pub fn load(path: &Path) -> Vec<SocketAddr> {
    match read(path) {
        Ok(addrs) => {
            if !addrs.is_empty() {
                tracing::info!(path = %path.display(), members = addrs.len(), "loaded the members snapshot");
            }
            addrs
        }
        Err(error) => {
            tracing::warn!(path = %path.display(), "ignoring the members snapshot: {error}");
            Vec::new()
        }
    }
}

fn read(path: &Path) -> Result<Vec<SocketAddr>, String> {
    let size = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    if size > MAX_BYTES {
        return Err(format!("{size} bytes, more than the {MAX_BYTES} a snapshot can take"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let members: Members = serde_json::from_str(&text).map_err(|e| format!("not a members snapshot: {e}"))?;
    if members.version != VERSION {
        return Err(format!(
            "version {}, this agent reads version {VERSION}",
            members.version
        ));
    }
    Ok(members.members.iter().take(MAX_MEMBERS).map(|m| m.addr).collect())
}

/// Keeps the snapshot at `path` up to date with the members the node holds up (alive
/// or suspect), until the snapshot channel closes.
pub async fn keep(path: PathBuf, mut snapshot: watch::Receiver<Snapshot>) {
    let mut written: Option<Vec<Known>> = None;
    while snapshot.changed().await.is_ok() {
        let known = known(&snapshot.borrow_and_update());
        if written.as_ref() != Some(&known) {
            let file = Members {
                version: VERSION,
                members: known.clone(),
            };
            match write(&path, &file).await {
                Ok(()) => written = Some(known),
                Err(error) => tracing::warn!(path = %path.display(), %error, "cannot write the members snapshot"),
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// The other members that are up, in name order, at most [`MAX_MEMBERS`].
fn known(snapshot: &Snapshot) -> Vec<Known> {
    let mut known: Vec<Known> = snapshot
        .members
        .iter()
        .filter(|m| m.name != snapshot.me.name && matches!(m.status, Status::Alive | Status::Suspect))
        .map(|m| Known {
            name: m.name.clone(),
            addr: m.addr,
        })
        .collect();
    known.sort();
    known.truncate(MAX_MEMBERS);
    known
}

/// Writes `file` to a temporary file beside `path`, then renames it over `path` (on a
/// blocking thread).
async fn write(path: &Path, file: &Members) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?;
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, &path)
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vitals-persist-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("members.json")
    }

    #[tokio::test]
    async fn a_written_snapshot_reads_back() {
        let path = scratch("round-trip");
        let members = Members {
            version: VERSION,
            members: vec![Known {
                name: "a".into(),
                addr: "10.0.0.2:7946".parse().unwrap(),
            }],
        };
        write(&path, &members).await.unwrap();
        assert_eq!(read(&path), Ok(vec!["10.0.0.2:7946".parse().unwrap()]));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_missing_file_is_empty_and_a_bad_one_is_refused() {
        let path = scratch("bad");
        assert_eq!(read(&path), Ok(vec![]));
        for (text, expected) in [
            ("{not json", "not a members snapshot"),
            (r#"{"version": 2, "members": []}"#, "version 2"),
            (
                r#"{"version": 1, "members": [{"name": "a", "addr": "nowhere"}]}"#,
                "not a members",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let error = read(&path).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
        std::fs::write(&path, vec![b' '; MAX_BYTES as usize + 1]).unwrap();
        assert!(read(&path).unwrap_err().contains("more than"));
        assert_eq!(load(&path), vec![], "ignored, not fatal");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
