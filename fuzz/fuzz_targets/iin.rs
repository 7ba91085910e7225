//! IIN parsing and scanning: never a panic; an accepted IIN prints as the
//! text it was read from, and its derived birth date and sex compose it
//! back; every IIN the scanner finds is a run of twelve digits in the input.
#![no_main]

use kinship_acts::iin::Iin;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(iin) = Iin::parse(s)
    {
        assert_eq!(iin.to_string(), s);
        let serial = ((iin.get() / 10) % 10_000) as u16;
        let again =
            Iin::compose(iin.birth_date(), iin.sex(), serial).expect("a parsed IIN composes");
        assert_eq!(again, iin);
        let masked = iin.masked();
        assert!(Iin::parse(&masked).is_err(), "a masked IIN is no IIN");
    }
    let mut found = Vec::new();
    Iin::scan(data, &mut found);
    for iin in found {
        let text = iin.to_string();
        assert!(
            data.windows(12).any(|w| w == text.as_bytes()),
            "{text} is not in the input"
        );
    }
});
