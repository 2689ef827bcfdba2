//! Time vocabulary shared by settings and workflows: durations (`36h`, `2d`), week days, daily
//! hour ranges and send windows, with the "next open slot" computation; public holidays
//! ([`Holidays`], with the Easter computation) and the window as it applies to one prospect
//! ([`LocalWindow`]: a [`SendWindow`] that also stays shut on holidays).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
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

    /// Open every day around the clock, whatever the timezone: the operator chose not to restrict
    /// send times at all.
    pub fn is_always_open(&self) -> bool {
        self.days.iter().all(|d| *d) && self.start == NaiveTime::MIN && self.end == END_OF_DAY
    }

    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.is_open_except(at, Holidays::None)
    }

    /// `at` itself when the window is open, else the start of the next open slot.
    pub fn next_open(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.next_open_except(at, Holidays::None)
    }

    fn is_open_except(&self, at: DateTime<Utc>, holidays: Holidays) -> bool {
        let local = at.with_timezone(&self.timezone);
        let time = local.time();
        let before_end = time < self.end || self.end == END_OF_DAY;
        self.open_on(local.date_naive(), holidays) && time >= self.start && before_end
    }

    fn open_on(&self, date: NaiveDate, holidays: Holidays) -> bool {
        self.days[date.weekday().num_days_from_monday() as usize] && !holidays.contains(date)
    }

    fn next_open_except(&self, at: DateTime<Utc>, holidays: Holidays) -> DateTime<Utc> {
        if self.is_open_except(at, holidays) {
            return at;
        }
        let local = at.with_timezone(&self.timezone);
        // Two weeks cover any run of closed week days and holidays.
        for offset in 0..15 {
            let date = local.date_naive() + Duration::days(offset);
            if !self.open_on(date, holidays) {
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

/// The public holidays a window stays shut on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Holidays {
    #[default]
    None,
    /// French public holidays: the eight fixed-date ones, Easter Monday, Ascension, Whit Monday.
    France,
}

impl Holidays {
    /// The codes `send_window.holidays` accepts (ISO 3166 country codes, lower case).
    pub const CODES: [&'static str; 2] = ["fr", "none"];

    /// Parses a `send_window.holidays` value (`fr`; `none` turns them off).
    pub fn parse(code: &str) -> Result<Holidays, String> {
        match code.trim().to_ascii_lowercase().as_str() {
            "fr" => Ok(Holidays::France),
            "none" => Ok(Holidays::None),
            other => Err(format!(
                "unknown holiday calendar `{other}`{}: write one of {}",
                crate::diagnostic::did_you_mean_suffix(other, Holidays::CODES.iter().copied()),
                Holidays::CODES.join(", ")
            )),
        }
    }

    pub fn contains(self, date: NaiveDate) -> bool {
        match self {
            Holidays::None => false,
            Holidays::France => is_french_holiday(date),
        }
    }
}

/// New Year, Labour Day, Victory in Europe, Bastille Day, Assumption, All Saints, Armistice,
/// Christmas; then the days that follow Easter.
fn is_french_holiday(date: NaiveDate) -> bool {
    const FIXED: [(u32, u32); 8] = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)];
    if FIXED.contains(&(date.month(), date.day())) {
        return true;
    }
    let Some(easter) = easter_sunday(date.year()) else { return false };
    // Easter Monday (+1), Ascension Thursday (+39), Whit Monday (+50).
    [1, 39, 50].iter().any(|days| easter + Duration::days(*days) == date)
}

/// Easter Sunday of the Gregorian calendar (the anonymous "Meeus/Jones/Butcher" algorithm).
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let (b, c) = (year.div_euclid(100), year.rem_euclid(100));
    let (d, e) = (b / 4, b % 4);
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// The send window as it applies to one prospect: a [`SendWindow`] (already in the prospect's
/// timezone) that also stays shut on the public holidays of the prospect's country.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalWindow {
    /// The timezone of `window`, where "today" is counted (daily caps, cron waits).
    pub timezone: Tz,
    window: SendWindow,
    holidays: Holidays,
}

impl LocalWindow {
    pub fn new(window: SendWindow, holidays: Holidays) -> LocalWindow {
        LocalWindow { timezone: window.timezone, window, holidays }
    }

    pub fn window(&self) -> &SendWindow {
        &self.window
    }

    pub fn holidays(&self) -> Holidays {
        self.holidays
    }

    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.window.is_open_except(at, self.holidays)
    }

    /// `at` itself when the window is open, else the start of the next open slot (not a holiday).
    pub fn next_open(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.window.next_open_except(at, self.holidays)
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

    #[test]
    fn easter_sundays() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        for (year, month, day) in [
            (1818, 3, 22), // the earliest possible date
            (2000, 4, 23),
            (2008, 3, 23),
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2038, 4, 25), // the latest possible date
        ] {
            assert_eq!(easter_sunday(year), Some(date(year, month, day)), "{year}");
        }
    }

    #[test]
    fn french_holidays() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let france = Holidays::France;
        // 2026: Easter 5 April -> Easter Monday 6 April, Ascension 14 May, Whit Monday 25 May.
        for (m, d) in [(1, 1), (4, 6), (5, 1), (5, 8), (5, 14), (5, 25), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
        {
            assert!(france.contains(date(2026, m, d)), "2026-{m}-{d}");
        }
        for (m, d) in [(4, 5), (4, 7), (5, 13), (5, 24), (12, 24), (12, 26)] {
            assert!(!france.contains(date(2026, m, d)), "2026-{m}-{d}");
        }
        assert!(france.contains(date(2025, 6, 9)), "Whit Monday 2025");
        assert!(!Holidays::None.contains(date(2026, 12, 25)));
    }

    #[test]
    fn holidays_keep_the_window_shut() {
        let (start, end) = parse_hours("08:00-20:00").unwrap();
        let mut days = [true; 7];
        days[6] = false;
        let window = SendWindow { timezone: chrono_tz::Europe::Paris, days, start, end };
        let local = LocalWindow::new(window.clone(), Holidays::France);
        // Saturday 4 April 2026 21:00 Paris; Sunday is closed, Monday 6 April is Easter Monday.
        let at = Utc.with_ymd_and_hms(2026, 4, 4, 19, 0, 0).unwrap();
        assert_eq!(window.next_open(at), Utc.with_ymd_and_hms(2026, 4, 6, 6, 0, 0).unwrap());
        assert_eq!(local.next_open(at), Utc.with_ymd_and_hms(2026, 4, 7, 6, 0, 0).unwrap());
        // Christmas Day 2026 (a Friday), 10:00 Paris: shut; it opens on Saturday the 26th.
        let christmas = Utc.with_ymd_and_hms(2026, 12, 25, 9, 0, 0).unwrap();
        assert!(window.is_open(christmas) && !local.is_open(christmas));
        assert_eq!(local.next_open(christmas), Utc.with_ymd_and_hms(2026, 12, 26, 7, 0, 0).unwrap());
        assert_eq!(local.timezone, chrono_tz::Europe::Paris);
        assert!(SendWindow::always().is_always_open() && !window.is_always_open());
    }
}
