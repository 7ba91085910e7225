//! The individual identification number (IIN), parsed once at the edge.
//!
//! An [`Iin`] can only be built from twelve digits that pass every rule of
//! `civil-acts.md` (real birth date, century/sex digit, both check-digit
//! passes), so the rest of the code never re-validates one. It packs into a
//! `u64` (the number itself) so the graph can store it in eight bytes.

use chrono::{Datelike, NaiveDate};
use std::fmt;

/// Sex as encoded by the IIN's seventh digit (odd = male, even = female).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
}

/// A valid IIN. Ordering and equality are those of the number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Iin(u64);

/// Why a string is not a valid IIN; the `Display` text is the detail sentence.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IinError {
    #[error("must be exactly 12 digits, got {0} characters")]
    Length(usize),
    #[error("must contain only digits")]
    NotDigits,
    #[error("digit 7 is {0}, which names no century (must be 1-6)")]
    Century(u8),
    #[error("digits 1-6 are not a real date of birth")]
    BirthDate,
    #[error("the check digit can never be computed for this number (never issued)")]
    NeverIssued,
    #[error("check digit is {found}, expected {expected}")]
    CheckDigit { found: u8, expected: u8 },
}

const W1: [u32; 11] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const W2: [u32; 11] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2];

/// The check digit for the first eleven digits, or `None` when both passes
/// give 10 (such a number is never issued).
pub fn check_digit(d: &[u8; 11]) -> Option<u8> {
    let pass = |w: &[u32; 11]| d.iter().zip(w).map(|(&x, &w)| x as u32 * w).sum::<u32>() % 11;
    let c = pass(&W1);
    let c = if c == 10 { pass(&W2) } else { c };
    (c != 10).then_some(c as u8)
}

/// Day 0 of a packed IIN's birth day (the first day an IIN can encode).
pub fn packed_epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1800, 1, 1).expect("valid")
}

/// Days from 1800-01-01 that the tables below cover: through 2109, past
/// every date an IIN or a record received today can carry.
const TABLED_DAYS: u32 = 113_150;

/// Per day number, the date and its packed (year, month, day): the graph
/// stores days, and turning them into dates was ~17% of a check batch
/// (perf: chrono's `from_ymd_opt` alone 11%). 900 KB, built on first use.
struct DayTables {
    dates: Box<[NaiveDate]>,
    ymd: Box<[u32]>,
}

fn day_tables() -> &'static DayTables {
    static TABLES: std::sync::OnceLock<DayTables> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let ymd: Box<[u32]> = (0..TABLED_DAYS)
            .map(|n| {
                let (y, m, d) = civil_from_day(n);
                ((y as u32) << 9) | (m << 5) | d
            })
            .collect();
        let dates = ymd
            .iter()
            .map(|&p| {
                NaiveDate::from_ymd_opt((p >> 9) as i32, (p >> 5) & 15, p & 31).expect("real date")
            })
            .collect();
        DayTables { dates, ymd }
    })
}

/// The (year, month, day) `n` days after 1800-01-01.
pub fn ymd_from_day(n: u32) -> (i32, u32, u32) {
    match day_tables().ymd.get(n as usize) {
        Some(&p) => ((p >> 9) as i32, (p >> 5) & 15, p & 31),
        None => civil_from_day(n),
    }
}

/// [`ymd_from_day`] by integer arithmetic (H. Hinnant's civil_from_days).
fn civil_from_day(n: u32) -> (i32, u32, u32) {
    // Days from 0000-03-01 (the algorithm's epoch) to 1800-01-01 is
    // 719468 - 62091; shifted so the year starts in March.
    let z = n as i64 + 719_468 - 62_091;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400) as i32 + i32::from(m <= 2);
    (y, m, d)
}

/// The date `n` days after 1800-01-01.
pub fn date_from_day(n: u32) -> NaiveDate {
    match day_tables().dates.get(n as usize) {
        Some(&d) => d,
        None => {
            let (y, m, d) = civil_from_day(n);
            NaiveDate::from_ymd_opt(y, m, d).expect("a day count gives a real date")
        }
    }
}

fn century_base(c: u8) -> Option<i32> {
    match c {
        1 | 2 => Some(1800),
        3 | 4 => Some(1900),
        5 | 6 => Some(2000),
        _ => None,
    }
}

impl Iin {
    /// Parses and validates a 12-character IIN string.
    pub fn parse(s: &str) -> Result<Self, IinError> {
        let b = s.as_bytes();
        if b.len() != 12 {
            return Err(IinError::Length(s.chars().count()));
        }
        if !b.iter().all(u8::is_ascii_digit) {
            return Err(IinError::NotDigits);
        }
        let mut d = [0u8; 12];
        for (o, c) in d.iter_mut().zip(b) {
            *o = c - b'0';
        }
        let base = century_base(d[6]).ok_or(IinError::Century(d[6]))?;
        let two = |i: usize| (d[i] * 10 + d[i + 1]) as u32;
        NaiveDate::from_ymd_opt(base + two(0) as i32, two(2), two(4)).ok_or(IinError::BirthDate)?;
        let first: [u8; 11] = d[..11].try_into().expect("11 digits");
        let expected = check_digit(&first).ok_or(IinError::NeverIssued)?;
        if expected != d[11] {
            return Err(IinError::CheckDigit {
                found: d[11],
                expected,
            });
        }
        Ok(Iin(d.iter().fold(0u64, |n, &x| n * 10 + x as u64)))
    }

    /// Builds the IIN of a person born on `birth` with this sex and serial
    /// (0..=9999), or `None` when that serial has no valid check digit or
    /// the date is outside 1800-2099.
    pub fn compose(birth: NaiveDate, sex: Sex, serial: u16) -> Option<Self> {
        Iin::compose_ymd((birth.year(), birth.month(), birth.day()), sex, serial)
    }

    fn compose_ymd((year, month, day): (i32, u32, u32), sex: Sex, serial: u16) -> Option<Self> {
        if !(1800..=2099).contains(&year) || serial > 9999 {
            return None;
        }
        let century = ((year - 1800) / 100) as u8 * 2 + if sex == Sex::Male { 1 } else { 2 };
        let mut d = [0u8; 11];
        let yy = (year % 100) as u8;
        let parts = [yy / 10, yy % 10, month as u8 / 10, month as u8 % 10];
        d[..4].copy_from_slice(&parts);
        d[4] = day as u8 / 10;
        d[5] = day as u8 % 10;
        d[6] = century;
        let mut s = serial;
        for i in (7..11).rev() {
            d[i] = (s % 10) as u8;
            s /= 10;
        }
        let c = check_digit(&d)?;
        Some(Iin(
            d.iter().fold(0u64, |n, &x| n * 10 + x as u64) * 10 + c as u64
        ))
    }

    /// The number as a `u64` (for compact storage).
    pub fn get(self) -> u64 {
        self.0
    }

    /// Rebuilds an IIN from [`Iin::get`]; only for numbers that came from a
    /// valid IIN (storage round trips), re-validated in debug builds.
    pub fn from_u64_unchecked(n: u64) -> Self {
        debug_assert!(Iin::parse(&format!("{n:012}")).is_ok(), "not an IIN: {n}");
        Iin(n)
    }

    fn digit(self, i: usize) -> u8 {
        const POW: [u64; 12] = [
            100_000_000_000,
            10_000_000_000,
            1_000_000_000,
            100_000_000,
            10_000_000,
            1_000_000,
            100_000,
            10_000,
            1_000,
            100,
            10,
            1,
        ];
        ((self.0 / POW[i]) % 10) as u8
    }

    pub fn sex(self) -> Sex {
        if self.digit(6) % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Derived on every call (it is on the resolver's hot path, so two
    /// divisions rather than digit by digit).
    pub fn birth_date(self) -> NaiveDate {
        let yymmdd = (self.0 / 1_000_000) as u32;
        let base = century_base(self.digit(6)).expect("validated century");
        let (yy, mm, dd) = (yymmdd / 10_000, yymmdd / 100 % 100, yymmdd % 100);
        NaiveDate::from_ymd_opt(base + yy as i32, mm, dd).expect("validated date")
    }

    /// The birth date as the number YYYYMMDD: orders like the date, costs
    /// two divisions (for comparisons on hot paths).
    pub fn birth_key(self) -> u32 {
        let yymmdd = (self.0 / 1_000_000) as u32;
        let base = century_base(self.digit(6)).expect("validated century") as u32;
        base * 10_000 + yymmdd
    }

    /// The IIN in 32 bits: the birth day counted from 1800-01-01 (17 bits),
    /// the sex (1 bit) and the serial (14 bits). The century digit follows
    /// from the date and sex, the check digit from the rest, so nothing is
    /// lost; the graph stores IINs this way (and reads a birth date without
    /// parsing digits).
    pub fn pack(self) -> u32 {
        let day = (self.birth_date() - packed_epoch()).num_days() as u32;
        let female = (self.sex() == Sex::Female) as u32;
        let serial = ((self.0 / 10) % 10_000) as u32;
        (day << 15) | (female << 14) | serial
    }

    /// The IIN [`Iin::pack`] made `p` from.
    pub fn unpack(p: u32) -> Iin {
        Iin::try_unpack(p).expect("packed from a valid IIN")
    }

    /// The IIN `p` packs, if it packs one: bytes read from outside (the
    /// replay log) may hold a day past 2099 or a serial without a valid
    /// check digit.
    pub fn try_unpack(p: u32) -> Option<Iin> {
        let sex = if p & (1 << 14) != 0 {
            Sex::Female
        } else {
            Sex::Male
        };
        Iin::compose_ymd(ymd_from_day(p >> 15), sex, (p & 0x3fff) as u16)
    }

    /// Every valid IIN written in `text` as a run of exactly twelve digits
    /// (what an answer reveals, found the same way whatever its shape),
    /// appended to `out`.
    pub fn scan(text: &[u8], out: &mut Vec<Iin>) {
        let mut i = 0;
        while i < text.len() {
            if !text[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < text.len() && text[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 12
                && let Ok(s) = std::str::from_utf8(&text[start..i])
                && let Ok(iin) = Iin::parse(s)
            {
                out.push(iin);
            }
        }
    }

    /// The first four and last four digits, for logs and error messages
    /// that must not carry personal data (`0103…0121`).
    pub fn masked(self) -> String {
        let s = self.to_string();
        format!("{}…{}", &s[..4], &s[8..])
    }
}

impl fmt::Display for Iin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012}", self.0)
    }
}

impl fmt::Debug for Iin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iin({})", self.masked())
    }
}

impl serde::Serialize for Iin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn scan_finds_every_iin_and_nothing_else() {
        let text = br#"{"iin":"750101400219","detail":"mother 010305500121, not 0103055001211 or 750101400218","as_of":"2025-06-01"}"#;
        let mut out = Vec::new();
        Iin::scan(text, &mut out);
        let found: Vec<String> = out.iter().map(|i| i.to_string()).collect();
        assert_eq!(found, ["750101400219", "010305500121"]);
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn day_counts_give_the_dates_chrono_gives() {
        // Every day an IIN can encode (1800-2099) and a little beyond.
        let epoch = packed_epoch();
        for n in 0..TABLED_DAYS + 1000 {
            let want = epoch + chrono::Days::new(n as u64);
            assert_eq!(date_from_day(n), want, "day {n}");
            let (y, m, d) = ymd_from_day(n);
            assert_eq!(NaiveDate::from_ymd_opt(y, m, d), Some(want), "day {n}");
        }
    }

    #[test]
    fn spec_examples_are_valid() {
        for s in [
            "850312300121",
            "720415300125",
            "750101400219",
            "010305500121",
        ] {
            let iin = Iin::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(iin.to_string(), s);
        }
        let iin = Iin::parse("010305500121").unwrap();
        assert_eq!(
            iin.birth_date(),
            NaiveDate::from_ymd_opt(2001, 3, 5).unwrap()
        );
        assert_eq!(iin.sex(), Sex::Male);
        let iin = Iin::parse("750101400219").unwrap();
        assert_eq!(
            iin.birth_date(),
            NaiveDate::from_ymd_opt(1975, 1, 1).unwrap()
        );
        assert_eq!(iin.sex(), Sex::Female);
        assert_eq!(iin.masked(), "7501…0219");
    }

    #[test]
    fn each_rule_has_its_error() {
        assert_eq!(Iin::parse("12345"), Err(IinError::Length(5)));
        assert_eq!(Iin::parse("85031230012a"), Err(IinError::NotDigits));
        assert_eq!(Iin::parse("850312700121"), Err(IinError::Century(7)));
        assert_eq!(Iin::parse("850230300121"), Err(IinError::BirthDate));
        assert_eq!(
            Iin::parse("850312300124"),
            Err(IinError::CheckDigit {
                found: 4,
                expected: 1
            })
        );
        // 29 February only in leap years (1900 was not one, 2000 was).
        assert_eq!(Iin::parse("000229300000").unwrap_err(), IinError::BirthDate);
        let leap = Iin::compose(
            NaiveDate::from_ymd_opt(2000, 2, 29).unwrap(),
            Sex::Female,
            1,
        )
        .or_else(|| {
            Iin::compose(
                NaiveDate::from_ymd_opt(2000, 2, 29).unwrap(),
                Sex::Female,
                2,
            )
        })
        .unwrap();
        assert!(Iin::parse(&leap.to_string()).is_ok());
    }

    #[test]
    fn never_issued_numbers_are_refused() {
        // Find a prefix whose two passes both give 10 and check it is refused
        // whatever the last digit.
        let date = NaiveDate::from_ymd_opt(1990, 5, 17).unwrap();
        let serial = (0..=9999u16)
            .find(|&s| Iin::compose(date, Sex::Male, s).is_none())
            .expect("some serial is never issued");
        let prefix = format!("900517 3{serial:04}").replace(' ', "");
        for last in 0..10 {
            assert_eq!(
                Iin::parse(&format!("{prefix}{last}")),
                Err(IinError::NeverIssued)
            );
        }
    }

    fn arb_iin() -> impl Strategy<Value = Iin> {
        (0i64..109_572, any::<bool>(), 0u16..=9999).prop_filter_map("never issued", |(d, m, s)| {
            let date = NaiveDate::from_ymd_opt(1800, 1, 1).unwrap() + chrono::Days::new(d as u64);
            Iin::compose(date, if m { Sex::Male } else { Sex::Female }, s)
        })
    }

    proptest! {
        #[test]
        fn valid_iins_round_trip(iin in arb_iin()) {
            let s = iin.to_string();
            let back = Iin::parse(&s).unwrap();
            prop_assert_eq!(back, iin);
            prop_assert_eq!(Iin::from_u64_unchecked(iin.get()), iin);
            prop_assert!(back.birth_date().year() >= 1800);
            let d = back.birth_date();
            prop_assert_eq!(back.birth_key(), d.year() as u32 * 10_000 + d.month() * 100 + d.day());
        }

        /// Packing loses nothing, and the packed birth day orders like the date.
        #[test]
        fn packed_iins_round_trip(a in arb_iin(), b in arb_iin()) {
            prop_assert_eq!(Iin::unpack(a.pack()), a);
            prop_assert_eq!((a.pack() >> 15).cmp(&(b.pack() >> 15)), a.birth_date().cmp(&b.birth_date()));
        }

        /// Changing one digit either makes the number invalid or gives a
        /// different valid IIN; a wrong check digit is never accepted.
        #[test]
        fn single_digit_changes_are_caught(iin in arb_iin(), pos in 0usize..12, delta in 1u8..10) {
            let mut b = iin.to_string().into_bytes();
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(b).unwrap();
            if let Ok(other) = Iin::parse(&changed) {
                prop_assert_ne!(other, iin);
                // The only way to stay valid is that the check digit still
                // matches the changed prefix.
                let d: Vec<u8> = changed.bytes().map(|c| c - b'0').collect();
                prop_assert_eq!(check_digit(&d[..11].try_into().unwrap()), Some(d[11]));
            }
            if pos == 11 {
                prop_assert!(Iin::parse(&changed).is_err(), "a wrong check digit passed");
            }
        }
    }
}
