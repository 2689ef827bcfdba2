//! Time vocabulary shared by settings and workflows: durations (`36h`, `2d`), week days, daily
//! hour ranges and send windows, with the "next open slot" computation.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// Parses `90s`, `15m`, `36h`, `2d`, `1w` (one number, one unit). Zero is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let hint = "write a whole number and a unit: s, m, h, d or w (for example `36h` or `2d`)";
    let value: i64 = number.parse().map_err(|_| format!("invalid duration `{text}`: {hint}"))?;
    let duration = match unit {
        "s" => Duration::seconds(value),
        "m" => Duration::minutes(value),
        "h" => Duration::hours(value),
        "d" => Duration::days(value),
        "w" => Duration::weeks(value),
        _ => return Err(format!("invalid duration `{text}`: {hint}")),
    };
    if value == 0 {
        return Err(format!("invalid duration `{text}`: it must be longer than zero"));
    }
    Ok(duration)
}

/// Parses `mon`..`sun` (or full English names), case-insensitive.
pub fn parse_weekday(text: &str) -> Result<Weekday, String> {
    let lower = text.trim().to_ascii_lowercase();
    let day = match lower.get(..3).unwrap_or("") {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return Err(format!("unknown day `{text}`: use mon, tue, wed, thu, fri, sat or sun")),
    };
    Ok(day)
}

/// Parses `08:00-20:00` into its start (inclusive) and end (exclusive).
pub fn parse_hours(text: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let hint = "write the hours as `HH:MM-HH:MM`, for example `08:00-20:00`";
    let (start, end) = text.split_once('-').ok_or_else(|| format!("invalid hours `{text}`: {hint}"))?;
    let parse = |t: &str| {
        if t.trim() == "24:00" {
            return Ok(END_OF_DAY);
        }
        NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| format!("invalid hours `{text}`: {hint}"))
    };
    let (start, end) = (parse(start)?, parse(end)?);
    if start >= end {
        return Err(format!("invalid hours `{text}`: the start must be before the end"));
    }
    Ok((start, end))
}

/// `24:00` as an end of hours: the last instant of the day.
const END_OF_DAY: NaiveTime = match NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999) {
    Some(t) => t,
    None => NaiveTime::MIN,
};

/// When messages may go out: days of the week and hours of the day, in a timezone.
#[derive(Debug, Clone, PartialEq)]
pub struct SendWindow {
    pub timezone: Tz,
    /// Indexed by `Weekday::num_days_from_monday()`.
    pub days: [bool; 7],
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl SendWindow {
    /// Always open, in UTC.
    pub fn always() -> SendWindow {
        SendWindow { timezone: Tz::UTC, days: [true; 7], start: NaiveTime::MIN, end: END_OF_DAY }
    }

    pub fn with_timezone(&self, timezone: Tz) -> SendWindow {
        SendWindow { timezone, ..self.clone() }
    }

    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.timezone);
        let time = local.time();
        let before_end = time < self.end || self.end == END_OF_DAY;
        self.days[local.weekday().num_days_from_monday() as usize] && time >= self.start && before_end
    }

    /// `at` itself when the window is open, else the start of the next open slot.
    pub fn next_open(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.is_open(at) {
            return at;
        }
        let local = at.with_timezone(&self.timezone);
        for offset in 0..8 {
            let date = local.date_naive() + Duration::days(offset);
            if !self.days[date.weekday().num_days_from_monday() as usize] {
                continue;
            }
            let candidate = match self.timezone.from_local_datetime(&date.and_time(self.start)).earliest() {
                Some(c) => c.with_timezone(&Utc),
                // The start falls in a DST gap: one hour later exists.
                None => match self
                    .timezone
                    .from_local_datetime(&(date.and_time(self.start) + Duration::hours(1)))
                    .earliest()
                {
                    Some(c) => c.with_timezone(&Utc),
                    None => continue,
                },
            };
            if candidate > at {
                return candidate;
            }
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("36h"), Ok(Duration::hours(36)));
        assert_eq!(parse_duration("2d"), Ok(Duration::days(2)));
        assert!(parse_duration("2 days").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_hours("00:00-24:00").is_ok());
        assert!(parse_hours("20:00-08:00").is_err());
    }

    #[test]
    fn late_evening_send_moves_to_next_morning() {
        let (start, end) = parse_hours("08:00-20:00").unwrap();
        let mut days = [true; 7];
        days[6] = false; // no Sunday
        let window = SendWindow { timezone: chrono_tz::Europe::Paris, days, start, end };
        // Saturday 2026-11-28 23:00 Paris = 22:00 UTC -> Monday 08:00 Paris = 07:00 UTC.
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 22, 0, 0).unwrap();
        assert_eq!(window.next_open(at), Utc.with_ymd_and_hms(2026, 11, 30, 7, 0, 0).unwrap());
        let open = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        assert_eq!(window.next_open(open), open);
    }
}
