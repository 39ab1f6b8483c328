//! Calendar arithmetic for the `created_at`/`updated_at` stamps and `material_data` dates:
//! milliseconds since the Unix epoch to and from RFC 3339 (`2024-12-31T11:32:15Z`).
//!
//! The crate may only use a handful of dependencies, so the civil-calendar conversion is
//! done here (Howard Hinnant's algorithms) instead of pulling in a date library.

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number from [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // The ranges are bounded by construction: month 1..=12, day 1..=31.
    (year as i32, month as u32, day as u32)
}

/// Milliseconds since the epoch of midnight UTC on a date.
pub fn millis_of_date(year: i32, month: u32, day: u32) -> i64 {
    days_from_civil(year, month, day) * MS_PER_DAY
}

/// `2024-12-31T11:32:15Z`; sub-second precision is dropped, as upstream does.
pub fn rfc3339(millis: i64) -> String {
    let days = millis.div_euclid(MS_PER_DAY);
    let secs = millis.rem_euclid(MS_PER_DAY) / 1000;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `2024-12-31`.
pub fn date(millis: i64) -> String {
    let (y, m, d) = civil_from_days(millis.div_euclid(MS_PER_DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(
            civil_from_days(days_from_civil(2000, 12, 31)),
            (2000, 12, 31)
        );
    }

    #[test]
    fn formats_rfc3339_with_z() {
        // The first row of the public /list sample.
        assert_eq!(rfc3339(1_735_644_735_000), "2024-12-31T11:32:15Z");
        assert_eq!(date(1_735_644_735_000), "2024-12-31");
    }
}
