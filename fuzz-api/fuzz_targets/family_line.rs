//! One line of a family batch: never a panic; a refusal is a 400 with a
//! stable code and a sentence; an accepted line, written back, reads the same.
#![no_main]

use kinship::http::parse_family_line;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_family_line(data) {
        Err(p) => {
            assert_eq!(p.status, 400, "{p:?}");
            assert!(!p.code.is_empty() && !p.detail.is_empty(), "{p:?}");
        }
        Ok((iin, as_of)) => {
            let v = serde_json::json!({"iin": iin.to_string(), "as_of": as_of.to_string()});
            let again = parse_family_line(v.to_string().as_bytes())
                .unwrap_or_else(|p| panic!("{v} refused: {p:?}"));
            assert_eq!(again, (iin, as_of));
        }
    }
});
