//! Arbitrary bytes read as a replay-log row (what a start decodes from the
//! database): entries or an error, never a panic or an endless loop.
#![no_main]

use kinship_acts::acts::compact::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut n = 0;
    for e in Reader::new(data) {
        n += 1;
        // Each entry takes at least its 8-byte seq and a byte of refs.
        assert!(n <= data.len() / 9 + 1, "more entries than bytes allow");
        if e.is_err() {
            break;
        }
    }
});
