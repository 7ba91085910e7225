//! Days as plain integers (day 0 = 1800-01-01) with a precomputed table of
//! their `YYYY-MM-DD` text, so the hot paths never touch calendar code.

use chrono::{Datelike, NaiveDate};
use std::sync::OnceLock;

/// Days since 1800-01-01.
pub(super) type Day = i32;

/// "Not before the end of time": a death or an end that never happens.
pub(super) const NEVER: Day = i32::MAX;

pub(super) const FIRST_YEAR: i32 = 1800;
const LAST_YEAR: i32 = 2099;

/// Conservative year lengths for age rules: `birth + years_max(n)` is never
/// before the n-th birthday and `birth + years_min(n)` never after it.
pub(super) const fn years_max(n: i32) -> Day {
    n * 366
}
pub(super) const fn years_min(n: i32) -> Day {
    n * 365
}

pub(super) struct Calendar {
    text: Vec<[u8; 10]>,
    year: Vec<u16>,
    /// Day of 1 January of each year since `FIRST_YEAR` (one extra entry).
    jan1: Vec<Day>,
    base: i32,
}

impl Calendar {
    pub fn get() -> &'static Calendar {
        static CAL: OnceLock<Calendar> = OnceLock::new();
        CAL.get_or_init(Calendar::build)
    }

    fn build() -> Calendar {
        let first = NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).expect("valid date");
        let end = NaiveDate::from_ymd_opt(LAST_YEAR + 1, 1, 1).expect("valid date");
        let n = (end - first).num_days() as usize;
        let mut text = Vec::with_capacity(n);
        let mut year = Vec::with_capacity(n);
        let mut jan1 = Vec::new();
        let mut d = first;
        for i in 0..n {
            let (y, m, dd) = (d.year(), d.month(), d.day());
            if m == 1 && dd == 1 {
                jan1.push(i as Day);
            }
            let s = format!("{y:04}-{m:02}-{dd:02}");
            text.push(s.as_bytes().try_into().expect("10 bytes"));
            year.push(y as u16);
            d = d.succ_opt().expect("in range");
        }
        jan1.push(n as Day);
        Calendar {
            text,
            year,
            jan1,
            base: first.num_days_from_ce(),
        }
    }

    pub fn text(&self, d: Day) -> &[u8; 10] {
        &self.text[d as usize]
    }

    pub fn year(&self, d: Day) -> i32 {
        self.year[d as usize] as i32
    }

    pub fn jan1(&self, year: i32) -> Day {
        self.jan1[(year - FIRST_YEAR) as usize]
    }

    pub fn ymd(&self, y: i32, m: u32, d: u32) -> Day {
        let date = NaiveDate::from_ymd_opt(y, m, d).expect("valid date");
        date.num_days_from_ce() - self.base
    }

    pub fn date(&self, d: Day) -> NaiveDate {
        NaiveDate::from_num_days_from_ce_opt(self.base + d).expect("in range")
    }
}
