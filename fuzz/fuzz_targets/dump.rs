//! Bytes in, `cluster::dump` out: loading must never panic, and an error is one short line.
//!
//! Run (stable toolchain): `RUSTC_BOOTSTRAP=1 cargo fuzz run dump fuzz/corpus/dump assets/scenarios`
//! from the repository root; see fuzz/README.md.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match kubehop::cluster::dump::load_bytes("fuzz.yaml", data) {
        Ok(load) => {
            // Every loaded snapshot goes on to the engine here once it exists, e.g.
            // `let _ = kubehop::engine::build(&load.snapshot);`
            for note in &load.notes {
                assert!(!note.to_string().contains('\n'));
            }
        }
        Err(error) => {
            let message = error.to_string();
            assert!(!message.contains('\n'), "{message}");
            assert!(message.len() < 4096, "{message}");
        }
    }
});
