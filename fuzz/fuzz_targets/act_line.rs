//! One input line through the act parser and validator: it never panics;
//! a refusal has a code and a sentence; an accepted record's canonical
//! form reads back to itself, and its replay-log form to what the log keeps.
#![no_main]

use kinship_acts::acts::compact::{self, Entry};
use kinship_acts::acts::{Act, parse_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_line(data) {
        Err(e) => {
            assert!(
                !e.refusal.detail.is_empty(),
                "{:?} without a sentence",
                e.refusal.code
            );
        }
        Ok(act) => {
            let canonical = act.canonical_json();
            let again: Act = parse_line(canonical.as_bytes())
                .unwrap_or_else(|e| panic!("canonical form refused: {canonical} {e:?}"));
            assert_eq!(
                again.canonical_json(),
                canonical,
                "canonical form not stable"
            );
            let mut buf = Vec::new();
            compact::encode(
                &Entry {
                    seq: 7,
                    act: act.clone(),
                    target: None,
                    target_target: None,
                },
                &mut buf,
            );
            let mut r = compact::Reader::new(&buf);
            let back = r.next().expect("one entry").expect("decodes");
            assert!(r.next().is_none());
            assert_eq!(back.seq, 7);
            assert_eq!(back.act, compact::as_logged(&act));
        }
    }
});
