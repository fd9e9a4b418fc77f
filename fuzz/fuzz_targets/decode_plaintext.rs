#![no_main]
//! Fuzz target: see `vitals_core::fuzzing::decode_plaintext`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| vitals_core::fuzzing::decode_plaintext(data));
