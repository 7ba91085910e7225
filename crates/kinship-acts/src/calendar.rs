//! The day in Kazakhstan (UTC+5 throughout since 2024): the day a record
//! is received, and the default `as_of` of every question.

use chrono::NaiveDate;

pub fn today() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(5)).date_naive()
}
