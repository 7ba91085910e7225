//! A kinship check request body: never a panic; a refusal is a 400 with a
//! stable code and a sentence; an accepted request, written back as JSON,
//! reads as the same request.
#![no_main]

use kinship::http::parse_check;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_check(data) {
        Err(p) => {
            assert_eq!(p.status, 400, "{p:?}");
            assert!(!p.code.is_empty() && !p.detail.is_empty(), "{p:?}");
        }
        Ok(req) => {
            let mut v = serde_json::json!({
                "owner": req.owner.to_string(),
                "applicant": req.applicant.to_string(),
                "claim": req.claim.name(),
                "as_of": req.as_of.to_string(),
            });
            if let Some(side) = req.claim.via() {
                v["via"] = side.as_str().into();
            }
            let again = parse_check(v.to_string().as_bytes())
                .unwrap_or_else(|p| panic!("{v} refused: {p:?}"));
            assert_eq!(again, req);
        }
    }
});
