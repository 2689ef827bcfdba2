//! Values with a shape, read out of free text: amounts (`1 500`, `1,5k€`, `3k/month`), email
//! addresses and phone numbers. Pure functions over a [`Message`]; which field gets what is
//! decided in `rules`, words and phrases (enum values, yes/no) are matched in the parent module.

use serde_json::Number;

use super::Message;

/// An amount found in a message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Amount {
    /// An integer when whole.
    pub value: Number,
    /// Next to a currency, a `k`, the word budget or a per-month phrase: clearly an amount.
    pub marked: bool,
}

/// A number as written: `mantissa / 10^scale`, at char positions `start..end` of the folded text.
struct Literal {
    start: usize,
    end: usize,
    mantissa: Option<u64>,
    scale: u32,
    int_digits: usize,
    grouped: bool,
}

/// Words right after a number that make it a quantity of something else than money.
#[rustfmt::skip]
const UNITS: &[&str] = &[
    "h", "min", "mn", "minutes", "heure", "heures", "hour", "hours", "jour", "jours", "day", "days",
    "semaine", "semaines", "week", "weeks", "mois", "month", "months", "an", "ans", "annee", "annees",
    "year", "years", "m", "km", "kw", "kwh", "personnes", "people", "enfants", "kids", "pm", "am",
];
const CURRENCY_WORDS: &[&str] = &["eur", "euro", "euros", "dollar", "dollars", "usd", "ht", "ttc"];
/// Words right before a bare year (`en 2026`) that make it a date.
#[rustfmt::skip]
const YEAR_PREFIXES: &[&str] = &[
    "en", "in", "depuis", "since", "avant", "before", "apres", "after", "until", "fin", "debut",
];

/// The best amount in the message: one next to a currency or `k` beats a bare number; numbers
/// inside phone numbers, dates, times, percentages and durations are never amounts.
pub(crate) fn amount(message: &Message) -> Option<Amount> {
    let chars: Vec<char> = message.folded.chars().collect();
    let skip = mask(&chars);
    let mut best: Option<(i32, Amount)> = None;
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let literal = read_literal(&chars, i);
        let glued = i > 0 && chars[i - 1].is_alphanumeric();
        let judged = if glued || skip[i] { None } else { judge(&chars, &literal) };
        if let Some((score, found)) = judged.filter(|(score, _)| best.as_ref().is_none_or(|(s, _)| score > s)) {
            best = Some((score, found));
        }
        i = literal.end.max(i + 1);
    }
    best.map(|(_, found)| found).or_else(|| word_amount(message))
}

#[rustfmt::skip]
const NUMBER_WORDS: &[(&str, u64)] = &[
    ("un", 1), ("une", 1), ("one", 1), ("a", 1), ("deux", 2), ("two", 2), ("trois", 3), ("three", 3),
    ("quatre", 4), ("four", 4), ("cinq", 5), ("five", 5), ("six", 6), ("sept", 7), ("seven", 7),
    ("huit", 8), ("eight", 8), ("neuf", 9), ("nine", 9), ("dix", 10), ("ten", 10),
];

/// A small number written in words: `mille euros`, `deux mille par mois`, `three thousand`.
fn word_amount(message: &Message) -> Option<Amount> {
    let words = &message.words;
    let at = words.iter().position(|w| w == "mille" || w == "thousand")?;
    let times =
        at.checked_sub(1).and_then(|b| NUMBER_WORDS.iter().find(|(w, _)| *w == words[b])).map_or(1, |(_, n)| *n);
    let next: Vec<&str> = words.iter().skip(at + 1).take(3).map(String::as_str).collect();
    let marked =
        next.iter().any(|w| CURRENCY_WORDS.contains(w) || matches!(*w, "mois" | "month" | "mensuel" | "monthly"));
    Some(Amount { value: Number::from(times * 1000), marked })
}

/// A count found in a message (`25 personnes`, `on est 12`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Count {
    pub value: Number,
    /// Next to a unit word or after one of the field's phrases.
    pub marked: bool,
    /// What marked it, for `simulate`.
    pub because: Option<String>,
}

/// The first whole number followed by one of `units` or right after one of `before` (within two
/// words); else the first bare whole number (not marked).
pub(crate) fn count(message: &Message, units: &[&str], before: &[String]) -> Option<Count> {
    let words = &message.words;
    let leads: Vec<(usize, &String)> = before
        .iter()
        .flat_map(|p| message.positions(p).into_iter().map(move |at| (at + super::words(&super::fold(p)).len(), p)))
        .collect();
    let mut bare = None;
    for (i, word) in words.iter().enumerate() {
        let Some(value) = word
            .parse::<u64>()
            .ok()
            .or_else(|| NUMBER_WORDS.iter().find(|(w, _)| w == word && word.len() > 1).map(|(_, n)| *n))
        else {
            continue;
        };
        if let Some(unit) = words.get(i + 1).filter(|w| units.contains(&w.as_str())) {
            return Some(Count {
                value: Number::from(value),
                marked: true,
                because: Some(format!("\"{word} {unit}\"")),
            });
        }
        if let Some((_, phrase)) = leads.iter().find(|(end, _)| *end <= i && i <= end + 2) {
            return Some(Count {
                value: Number::from(value),
                marked: true,
                because: Some(format!("after \"{phrase}\"")),
            });
        }
        if bare.is_none() && word.chars().all(|c| c.is_ascii_digit()) {
            bare = Some(Count { value: Number::from(value), marked: false, because: None });
        }
    }
    bare
}

fn digits_at(chars: &[char], from: usize) -> usize {
    chars.iter().skip(from).take_while(|c| c.is_ascii_digit()).count()
}

/// Reads `1500`, `1 500`, `1.500`, `1,5`, `2 500,00` (a 3-digit group after a separator is
/// thousands, unless a `k` follows: `1,500k` is 1.5k).
fn read_literal(chars: &[char], start: usize) -> Literal {
    let lead = digits_at(chars, start);
    let mut digits: String = chars[start..start + lead].iter().collect();
    let mut end = start + lead;
    let mut grouped = false;
    while lead <= 3 && is_group(chars, end) {
        digits.extend(&chars[end + 1..end + 4]);
        end += 4;
        grouped = true;
    }
    let int_digits = digits.len();
    let mut scale = 0;
    if matches!(chars.get(end), Some('.' | ',')) {
        let fraction = digits_at(chars, end + 1);
        if (1..=6).contains(&fraction) {
            digits.extend(&chars[end + 1..end + 1 + fraction]);
            scale = fraction as u32;
            end += 1 + fraction;
        }
    }
    let mantissa = if digits.len() <= 15 { digits.parse().ok() } else { None };
    Literal { start, end, mantissa, scale, int_digits, grouped }
}

/// A thousands group at `at`: a separator then exactly 3 digits (`,500k` is a decimal, though).
fn is_group(chars: &[char], at: usize) -> bool {
    let Some(&sep) = chars.get(at) else { return false };
    let kilo_next = chars.get(at + 4) == Some(&'k');
    matches!(sep, ' ' | '.' | ',' | '\'') && digits_at(chars, at + 1) == 3 && (sep == ' ' || !kilo_next)
}

/// Scores one literal from its surroundings; `None` when it cannot be an amount.
fn judge(chars: &[char], lit: &Literal) -> Option<(i32, Amount)> {
    let mantissa = lit.mantissa?;
    let (mut score, mut marked, mut kilo) = (0, false, false);
    let mut at = skip_spaces(chars, lit.end);
    let word = word_at(chars, at);
    if word == "k" || (word.starts_with('k') && CURRENCY_WORDS.contains(&&word[1..])) {
        kilo = true;
        score += 2;
        marked = true;
        if word.len() > 1 {
            score += 3;
        }
        at = skip_spaces(chars, at + word.chars().count());
    }
    let next = word_at(chars, at);
    if matches!(chars.get(at), Some('€' | '$' | '£')) || CURRENCY_WORDS.contains(&next.as_str()) {
        score += 3;
        marked = true;
    } else if !kilo && (UNITS.contains(&next.as_str()) || chars.get(lit.end) == Some(&'%')) {
        return None;
    }
    let colon_before = lit.start >= 2 && chars[lit.start - 1] == ':' && chars[lit.start - 2].is_ascii_digit();
    if colon_before || (chars.get(lit.end) == Some(&':') && digits_at(chars, lit.end + 1) == 2) {
        return None;
    }
    let before = lit.start.checked_sub(1).map(|b| skip_spaces_back(chars, b));
    if before.and_then(|b| chars.get(b)).is_some_and(|c| matches!(c, '€' | '$' | '£')) {
        score += 3;
        marked = true;
    }
    let prefix: String = chars[lit.start.saturating_sub(40)..lit.start].iter().collect();
    let words_before = super::words(&prefix);
    let recent: Vec<&str> = words_before.iter().rev().take(4).map(String::as_str).collect();
    if recent.contains(&"budget") {
        score += 2;
        marked = true;
    }
    let suffix: String = chars[at.min(chars.len())..].iter().take(24).collect();
    let after = super::words(&suffix);
    let mut after = after.iter().take_while(|w| !w.chars().any(|c| c.is_ascii_digit())).take(3);
    if after.any(|w| matches!(w.as_str(), "mois" | "month" | "mensuel" | "monthly" | "mensuels")) {
        score += 1;
        marked = true;
    }
    if lit.scale == 0 && !lit.grouped && !kilo && !marked {
        score -= bare_penalty(chars, lit, mantissa, recent.first().copied())?;
    }
    let value = to_number(mantissa, lit.scale, kilo)?;
    Some((score, Amount { value, marked }))
}

/// How much less a bare whole number looks like an amount: a year (`2026`) or a postcode
/// (`75011`) less, a leading zero (`06`) or a year after `en`/`since` not at all (`None`).
fn bare_penalty(chars: &[char], lit: &Literal, mantissa: u64, word_before: Option<&str>) -> Option<i32> {
    if lit.int_digits > 1 && chars[lit.start] == '0' {
        return None;
    }
    let is_year = (1900..=2100).contains(&mantissa) && lit.int_digits == 4;
    match (is_year, lit.int_digits) {
        (true, _) if word_before.is_some_and(|w| YEAR_PREFIXES.contains(&w)) => None,
        (true, _) => Some(3),
        (false, 5) => Some(1),
        _ => Some(0),
    }
}

fn skip_spaces(chars: &[char], mut at: usize) -> usize {
    while chars.get(at) == Some(&' ') {
        at += 1;
    }
    at
}

fn skip_spaces_back(chars: &[char], mut at: usize) -> usize {
    while at > 0 && chars.get(at) == Some(&' ') {
        at -= 1;
    }
    at
}

/// The run of letters starting at `at` (`"h"` in `10h30`, `"keuros"`), empty if none.
fn word_at(chars: &[char], at: usize) -> String {
    chars.iter().skip(at).take_while(|c| c.is_alphabetic()).collect()
}

fn to_number(mantissa: u64, scale: u32, kilo: bool) -> Option<Number> {
    let exponent = if kilo { 3 } else { 0 } - scale as i32;
    if exponent >= 0 {
        return mantissa.checked_mul(10u64.checked_pow(exponent as u32)?).map(Number::from);
    }
    let divisor = 10u64.checked_pow(exponent.unsigned_abs())?;
    if mantissa.is_multiple_of(divisor) {
        Some(Number::from(mantissa / divisor))
    } else {
        Number::from_f64(mantissa as f64 / divisor as f64)
    }
}

/// Char positions inside phone numbers (9 to 15 digits that are not thousands groups) and dates
/// (`12/03`, `12.03.2026`, `2026-01-15`): no amount starts there.
fn mask(chars: &[char]) -> Vec<bool> {
    let mut skip = vec![false; chars.len()];
    let mut i = 0;
    while i < chars.len() {
        if !(chars[i].is_ascii_digit() || chars[i] == '+') || (i > 0 && chars[i - 1].is_alphanumeric()) {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < chars.len() && (chars[end].is_ascii_digit() || " .-/()".contains(chars[end])) {
            end += 1;
        }
        while end > i + 1 && !chars[end - 1].is_ascii_digit() {
            end -= 1;
        }
        let run: String = chars[i..end].iter().collect();
        let chunks: Vec<&str> = run.split(|c: char| !c.is_ascii_digit()).filter(|c| !c.is_empty()).collect();
        let digits: usize = chunks.iter().map(|c| c.len()).sum();
        let thousands = chunks.first().is_some_and(|c| c.len() <= 3) && chunks.iter().skip(1).all(|c| c.len() == 3);
        let phone = (9..=15).contains(&digits) && !(thousands && !run.starts_with('+') && !run.starts_with('0'));
        if phone || is_date(&run, &chunks) {
            skip[i..end].iter_mut().for_each(|s| *s = true);
        }
        i = end.max(i + 1);
    }
    skip
}

fn is_date(run: &str, chunks: &[&str]) -> bool {
    let separators: Vec<char> = run.chars().filter(|c| !c.is_ascii_digit()).collect();
    let short = |c: &&str| c.len() <= 2;
    match chunks {
        [a, b] => separators == ['/'] && short(a) && short(b),
        [a, b, c] => {
            let same = separators.len() == 2 && separators[0] == separators[1] && separators[0] != ' ';
            same && short(b) && (short(a) || a.len() == 4) && (short(c) || c.len() == 4)
        }
        _ => false,
    }
}

/// The first word shaped like `local@domain.tld`.
pub(crate) fn email(message: &Message) -> Option<String> {
    message
        .raw
        .split(|c: char| c.is_whitespace() || ",;<>()[]\"':".contains(c))
        .map(|w| w.trim_end_matches(['.', '!', '?']))
        .find(|w| is_email(w))
        .map(str::to_string)
}

fn is_email(word: &str) -> bool {
    let Some((local, domain)) = word.split_once('@') else { return false };
    let local_ok = !local.is_empty() && local.chars().all(|c| c.is_alphanumeric() || "._%+-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let labels_ok =
        labels.len() >= 2 && labels.iter().all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
    let tld_ok = labels.last().is_some_and(|t| t.chars().count() >= 2 && t.chars().all(char::is_alphabetic));
    local_ok && labels_ok && tld_ok
}

/// The first valid phone number, as E.164; numbers without `+` are read as French.
pub(crate) fn phone(message: &Message) -> Option<String> {
    let chars: Vec<char> = message.raw.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !(chars[i].is_ascii_digit() || chars[i] == '+') {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < chars.len() && (chars[end].is_ascii_digit() || " .-()".contains(chars[end])) {
            end += 1;
        }
        let run: String = chars[i..end].iter().collect();
        let run = run.trim_end_matches(|c: char| !c.is_ascii_digit());
        let digits = run.chars().filter(char::is_ascii_digit).count();
        if (8..=15).contains(&digits) && run.len() <= 30 {
            let parsed = phonenumber::parse(Some(phonenumber::country::Id::FR), run).ok();
            if let Some(number) = parsed.filter(phonenumber::is_valid) {
                return Some(number.format().mode(phonenumber::Mode::E164).to_string());
            }
        }
        i = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Option<serde_json::Value> {
        amount(&Message::new(text)).map(|a| serde_json::Value::Number(a.value))
    }

    #[test]
    fn amounts_in_english_and_french() {
        let cases = [
            ("1500", Some(1500.0)),
            ("1 500", Some(1500.0)),
            ("1,5k€", Some(1500.0)),
            ("1.5k", Some(1500.0)),
            ("1,25 k", Some(1250.0)),
            ("2 000 euros", Some(2000.0)),
            ("3k/month", Some(3000.0)),
            ("3k par mois", Some(3000.0)),
            ("€2500", Some(2500.0)),
            ("2500$", Some(2500.0)),
            ("$2,500", Some(2500.0)),
            ("2 500,00 € HT", Some(2500.0)),
            ("2\u{a0}000\u{a0}€", Some(2000.0)),
            ("1,50 €", Some(1.5)),
            ("budget autour de 1500 euros par mois", Some(1500.0)),
            ("we can do 800 per month", Some(800.0)),
            ("rappelez-moi à 10h30, budget 800", Some(800.0)),
            ("le 12/03/2026 avec 900 euros", Some(900.0)),
            ("on démarre en 2026 avec 2k", Some(2000.0)),
            ("call me at 06 12 34 56 78", None),
            ("+33 6 12 34 56 78", None),
            ("0612345678", None),
            ("en 2026", None),
            ("rdv 10h30", None),
            ("at 10:30", None),
            ("dans 3 mois", None),
            ("50%", None),
            ("100 m2", None),
            ("A4 format", None),
            ("no idea", None),
        ];
        for (text, want) in cases {
            assert_eq!(value(text), want.map(|v| serde_json::json!(v)).map(integer_when_whole), "{text}");
        }
    }

    fn integer_when_whole(v: serde_json::Value) -> serde_json::Value {
        match v.as_f64() {
            Some(f) if f.fract() == 0.0 => serde_json::json!(f as u64),
            _ => v,
        }
    }

    #[test]
    fn whole_amounts_are_json_integers_and_marked_when_clear() {
        let found = amount(&Message::new("1,5k€")).unwrap();
        assert!(found.value.is_u64() && found.marked);
        let bare = amount(&Message::new("1500")).unwrap();
        assert!(!bare.marked);
        assert!(amount(&Message::new("budget 1500")).unwrap().marked);
        assert_eq!(value("postcode 75011, 1200€ max"), Some(serde_json::json!(1200)));
    }

    #[test]
    fn emails() {
        let cases = [
            ("jean.dupont@example.fr", Some("jean.dupont@example.fr")),
            ("Mon mail : <Jean+crm@Example.co.uk>.", Some("Jean+crm@Example.co.uk")),
            ("write to me at bob@mail.example.com!", Some("bob@mail.example.com")),
            ("a@b", None),
            ("@example.com", None),
            ("me@example.c0m", None),
            ("no address here", None),
        ];
        for (text, want) in cases {
            assert_eq!(email(&Message::new(text)).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn phones_as_e164() {
        let cases = [
            ("06 12 34 56 78", Some("+33612345678")),
            ("call me at 06.12.34.56.78 please", Some("+33612345678")),
            ("mon numéro : 0612345678", Some("+33612345678")),
            ("+33 6 12 34 56 78", Some("+33612345678")),
            ("+1 (650) 253-0000", Some("+16502530000")),
            ("2 000 euros", None),
            ("12345678901234567890", None),
            ("no phone", None),
        ];
        for (text, want) in cases {
            assert_eq!(phone(&Message::new(text)).as_deref(), want, "{text}");
        }
    }
}
