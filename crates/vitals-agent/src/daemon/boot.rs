//! This run of the agent ([`Boot`]): its generation and its salt, from which every sealed
//! datagram's nonce is built (docs/SECURITY.md, "Nonces").
//!
//! The generation is the start time in µs since the UNIX epoch; with `--data-dir` it is
//! also recorded there (`generation`, written through a temporary file, synced and
//! renamed before the first datagram is sent), and a run whose clock says less than the
//! recorded one takes the recorded one plus one, so one node never repeats a generation
//! whatever its clock does. The salt is 64 bits from the OS random source. A missing or
//! unreadable record, or one that cannot be written, is a WARN, never fatal: the salt
//! still separates the runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use vitals_core::seal::{Boot, SALT_LEN};

/// The record's file name under the data dir.
const FILE: &str = "generation";

/// This run: its generation recorded under `data_dir` (if given) and a fresh salt.
pub(crate) fn start(data_dir: Option<&Path>) -> Boot {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64);
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).expect("the OS random source is available");
    Boot::new(generation(data_dir, now), salt)
}

/// The generation of a run starting at `now` (µs), recorded under `data_dir`.
fn generation(data_dir: Option<&Path>, now: u64) -> u64 {
    let Some(dir) = data_dir else { return now };
    let path = dir.join(FILE);
    let previous = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<u64>().map_err(|e| e.to_string()).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
    .unwrap_or_else(|error| {
        tracing::warn!(path = %path.display(), "ignoring the recorded generation: {error}");
        None
    });
    let generation = Boot::next_generation(previous, now);
    if let Err(error) = record(&path, generation) {
        tracing::warn!(path = %path.display(), "cannot record this run's generation: {error}");
    }
    generation
}

/// Writes `generation` to `path` atomically and durably.
fn record(path: &Path, generation: u64) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut temporary = PathBuf::from(path);
    temporary.set_extension("tmp");
    let mut file = std::fs::File::create(&temporary)?;
    writeln!(file, "{generation}")?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vitals-boot-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_restart_with_the_clock_standing_still_or_set_back_gets_a_higher_generation() {
        let dir = dir("restart");
        assert_eq!(generation(Some(&dir), 1_000), 1_000);
        assert_eq!(generation(Some(&dir), 1_000), 1_001, "same microsecond");
        assert_eq!(generation(Some(&dir), 10), 1_002, "clock set back");
        assert_eq!(generation(Some(&dir), 5_000), 5_000, "clock ahead");
        assert_eq!(std::fs::read_to_string(dir.join(FILE)).unwrap(), "5000\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_record_or_no_data_dir_falls_back_to_the_clock() {
        let dir = dir("corrupt");
        std::fs::write(dir.join(FILE), "not a number").unwrap();
        assert_eq!(generation(Some(&dir), 7), 7);
        assert_eq!(generation(Some(&dir), 7), 8, "and the record is repaired");
        assert_eq!(generation(None, 7), 7);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn two_runs_never_share_a_salt_in_practice() {
        let (a, b) = (start(None), start(None));
        assert_ne!(a.salt, b.salt);
    }
}
