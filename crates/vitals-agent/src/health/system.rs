//! Samples the machine's health (CPU, memory, load, disk) with `sysinfo`, for the node to
//! carry in its heartbeats, at most once per heartbeat interval and at least a second
//! apart (CPU use needs two readings). A sample reads `/proc/stat`, `/proc/meminfo`,
//! `/proc/loadavg` and one `statvfs` (the disk holding the working directory, chosen at
//! start: the mount list is not read again), a few tens of microseconds, so it runs on
//! the agent's one thread rather than on a thread of its own.

use std::path::PathBuf;
use std::time::Duration;

use sysinfo::{CpuRefreshKind, DiskRefreshKind, Disks, MemoryRefreshKind, RefreshKind, System};
use vitals_core::Health;

/// Keeps the `sysinfo` state needed between two samples.
pub struct Sampler {
    system: System,
    /// The disks, and which of them holds the working directory.
    disks: Option<(Disks, usize)>,
}

impl Sampler {
    /// A sampler that reports the disk holding the current directory; `None` where
    /// `sysinfo` cannot read this system.
    pub fn new() -> Option<Sampler> {
        let cpu = CpuRefreshKind::nothing().with_usage();
        let refresh = RefreshKind::nothing()
            .with_cpu(cpu)
            .with_memory(MemoryRefreshKind::nothing().with_ram());
        let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let disks = Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing().with_storage()).ok();
        Some(Sampler {
            system: System::new_with_specifics(refresh).ok()?,
            disks: disks.and_then(|disks| holding(&disks, &dir).map(|index| (disks, index))),
        })
    }

    /// Takes one sample (CPU use is measured since the previous sample).
    pub fn sample(&mut self) -> Health {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        Health {
            cpu_percent: self.system.global_cpu_usage(),
            mem_available_bytes: self.system.available_memory(),
            mem_total_bytes: self.system.total_memory(),
            load1: System::load_average().map_or(0.0, |l| l.one as f32),
            disk_free_bytes: self.disk_free_bytes(),
            checks: None,
            tags: Default::default(),
        }
    }

    fn disk_free_bytes(&mut self) -> u64 {
        let Some((disks, index)) = &mut self.disks else {
            return 0;
        };
        let disk = &mut disks[*index];
        disk.refresh_specifics(DiskRefreshKind::nothing().with_storage());
        disk.available_space()
    }
}

/// The index of the disk whose mount point is the longest prefix of `dir`.
fn holding(disks: &Disks, dir: &std::path::Path) -> Option<usize> {
    disks
        .iter()
        .enumerate()
        .filter(|(_, d)| dir.starts_with(d.mount_point()))
        .max_by_key(|(_, d)| d.mount_point().as_os_str().len())
        .map(|(i, _)| i)
}

/// How often to sample for a given heartbeat interval.
pub fn sample_period(interval: Duration) -> Duration {
    interval.max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_reports_this_machines_memory_and_disk() {
        let mut sampler = Sampler::new().expect("sysinfo supports Linux");
        let health = sampler.sample();
        assert!(health.mem_total_bytes > 0);
        assert!(health.mem_available_bytes <= health.mem_total_bytes);
        assert!(health.disk_free_bytes > 0);
        assert!((0.0..=100.0).contains(&health.cpu_percent));
    }
}
