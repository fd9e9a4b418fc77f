#![no_main]
//! Fuzz target: see `vitals_core::fuzzing::node_messages`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| vitals_core::fuzzing::node_messages(data));
