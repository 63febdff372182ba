//! Unix seconds as a UTC calendar date and time, for people to read.
//!
//! Days since 1970-01-01 become a proleptic Gregorian year, month and day by counting whole
//! 400-year eras (146,097 days each) and the year within the era counted from March, so
//! February's leap day falls at the end of a year and needs no special case.

/// `seconds` after 1970-01-01 00:00:00 UTC as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc_text(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The year, month (1–12) and day (1–31) of `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Count from 0000-03-01, the start of an era, which lies 719,468 days before the epoch.
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    // Years of the era: 365 days each, plus a leap day every 4 years except the 100th,
    // with the 400th year's leap day at the era's very end.
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: 153 days per 5 months (31, 30, 31, 30, 31).
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
