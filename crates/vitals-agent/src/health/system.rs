//! Samples the machine's health (CPU, memory, load, disk) with `sysinfo`, for the node to
//! carry in its heartbeats. Sampling runs on a blocking thread, at most once per
//! heartbeat interval and at least a second apart (CPU use needs two readings).

use std::path::PathBuf;
use std::time::Duration;

use sysinfo::{CpuRefreshKind, Disks, MemoryRefreshKind, RefreshKind, System};
use vitals_core::Health;

/// Keeps the `sysinfo` state needed between two samples.
pub struct Sampler {
    system: System,
    disks: Option<Disks>,
    dir: PathBuf,
}

impl Sampler {
    /// A sampler that reports the disk holding the current directory; `None` where
    /// `sysinfo` cannot read this system.
    pub fn new() -> Option<Sampler> {
        let cpu = CpuRefreshKind::nothing().with_usage();
        let refresh = RefreshKind::nothing()
            .with_cpu(cpu)
            .with_memory(MemoryRefreshKind::nothing().with_ram());
        Some(Sampler {
            system: System::new_with_specifics(refresh).ok()?,
            disks: Disks::new_with_refreshed_list().ok(),
            dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
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
        let Some(disks) = &mut self.disks else { return 0 };
        disks.refresh(true);
        disks
            .iter()
            .filter(|d| self.dir.starts_with(d.mount_point()))
            .max_by_key(|d| d.mount_point().as_os_str().len())
            .map_or(0, |d| d.available_space())
    }
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
