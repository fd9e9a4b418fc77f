#![no_main]
//! Fuzz target: see `vitals_core::fuzzing::decode_sealed`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| vitals_core::fuzzing::decode_sealed(data));
