//! Masks contact details in text that leaves the machine for an AI provider
//! (`ai.mask_contact_details`): email addresses become `[email]`, phone numbers `[phone]`.
//!
//! The rules err towards masking: a phone number is a run of 8 to 15 digits written with
//! spaces, dots, dashes or parentheses between them, optionally after a `+`, that is not a date
//! (`12.03.2026`, `2026-01-15`) and not an amount grouped in thousands (`1 500 000`, unless it
//! starts with `+` or `0`). A bare 8-digit amount is masked too: losing an amount costs less
//! than leaking a number. An email address is `local@domain.tld`.

/// `text` with every email address and phone number replaced.
pub fn mask_contact_details(text: &str) -> String {
    mask_phones(&mask_emails(text))
}

fn is_local(c: char) -> bool {
    c.is_alphanumeric() || "._%+-".contains(c)
}

fn is_domain(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '.'
}

fn mask_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut done = 0; // chars[..done] are in `out`
    for at in 0..chars.len() {
        if chars[at] != '@' || at < done {
            continue;
        }
        let mut start = at;
        while start > done && is_local(chars[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < chars.len() && is_domain(chars[end]) {
            end += 1;
        }
        while end > at + 1 && chars[end - 1] == '.' {
            end -= 1;
        }
        let domain: String = chars[at + 1..end].iter().collect();
        let labels: Vec<&str> = domain.split('.').collect();
        let tld_ok = labels.last().is_some_and(|t| t.chars().count() >= 2 && t.chars().all(char::is_alphabetic));
        if start < at && labels.len() >= 2 && labels.iter().all(|l| !l.is_empty()) && tld_ok {
            out.extend(&chars[done..start]);
            out.push_str("[email]");
            done = end;
        }
    }
    out.extend(&chars[done..]);
    out
}

fn mask_phones(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit()
            || ("+(".contains(chars[i]) && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit() || *c == '('));
        if !starts || (i > 0 && chars[i - 1].is_alphanumeric()) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < chars.len() && (chars[end].is_ascii_digit() || " .-()".contains(chars[end])) {
            end += 1;
        }
        while end > i + 1 && !(chars[end - 1].is_ascii_digit() || (chars[end - 1] == ')' && chars[i] == '(')) {
            end -= 1;
        }
        let run: String = chars[i..end].iter().collect();
        if is_phone(&run) {
            out.push_str("[phone]");
        } else {
            out.push_str(&run);
        }
        i = end;
    }
    out
}

fn is_phone(run: &str) -> bool {
    let chunks: Vec<&str> = run.split(|c: char| !c.is_ascii_digit()).filter(|c| !c.is_empty()).collect();
    let digits: usize = chunks.iter().map(|c| c.len()).sum();
    let prefixed = run.starts_with('+') || run.trim_start_matches('(').starts_with('0');
    let thousands =
        chunks.len() > 1 && chunks[0].len() <= 3 && chunks.iter().skip(1).all(|c| c.len() == 3) && !prefixed;
    (8..=15).contains(&digits) && !thousands && !is_date(run, &chunks)
}

fn is_date(run: &str, chunks: &[&str]) -> bool {
    let separators: Vec<char> = run.chars().filter(|c| !c.is_ascii_digit()).collect();
    let short = |c: &str| c.len() <= 2;
    match chunks {
        [a, b, c] => {
            let same = separators.len() == 2 && separators[0] == separators[1] && separators[0] != ' ';
            same && short(b) && ((short(a) && c.len() == 4) || (a.len() == 4 && short(c)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_and_emails_are_masked() {
        let cases = [
            ("call me at 06 12 34 56 78 please", "call me at [phone] please"),
            ("+33 6 12 34 56 78.", "[phone]."),
            ("06.12.34.56.78 or 0612345678", "[phone] or [phone]"),
            ("US: +1 (650) 253-0000, UK 07700 900123", "US: [phone], UK [phone]"),
            ("(650) 253-0000", "[phone]"),
            ("write to ada.lovelace+leads@example.co.uk.", "write to [email]."),
            ("<ada@example.com>, bob@mail.example.org", "<[email]>, [email]"),
            ("Ada: ada@example.com / 06 12 34 56 78", "Ada: [email] / [phone]"),
        ];
        for (text, want) in cases {
            assert_eq!(mask_contact_details(text), want, "{text}");
        }
    }

    #[test]
    fn amounts_dates_and_lookalikes_are_kept() {
        let cases = [
            "Budget 1500 euros par mois, 1 500 000 au total",
            "on commence le 12.03.2026 ou le 2026-01-15",
            "3 personnes, 2 voitures, 10:30",
            "user@localhost and @handle and a@b.c1",
            "ref A12345678",
            "",
        ];
        for text in cases {
            assert_eq!(mask_contact_details(text), text, "{text}");
        }
    }
}
