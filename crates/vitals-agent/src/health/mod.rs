//! Checks and services: what an agent fronts and how it knows they are well.
//! [`services`] validates the `[[services]]`, `[[checks]]` and `[thresholds]` settings;
//! [`checks`] runs one task per check and fuses the results; [`probe`] is one run of an
//! http/tcp/grpc/exec probe; [`system`] samples the machine (CPU, memory, load, disk).
//!
//! Owns the check tasks and their results. Must never touch the node or decide a
//! member's status: results reach the node only as `Command::SetHealth`, sent to the
//! daemon's driver; and no API creates a check (they come from settings only).

pub mod checks;
pub mod probe;
pub mod services;
pub mod system;
