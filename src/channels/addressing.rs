//! How an email reply finds its way back to its prospect: the `Message-ID` we give each email
//! (derived from its outbox action id, `{prospect}:{seq}`), the plus-addressed `Reply-To`
//! (`leads+{prospect}@reply-domain`), reading both back from an inbound email, and stripping
//! the quoted text of a reply.

/// `<p_0123.4@example.com>` for the action `p_0123:4`: unique per send, stable across retries
/// (a receiving server may drop a retried duplicate), and the prospect id can be read back from
/// the `In-Reply-To` of an answer.
pub fn message_id(action_id: &str, domain: &str) -> String {
    format!("<{}@{domain}>", action_id.replace(':', "."))
}

/// The prospect a `Message-ID` (or an `In-Reply-To` / `References` value listing several) was
/// made for by [`message_id`].
pub fn prospect_of_message_id(header: &str) -> Option<String> {
    header.split_whitespace().find_map(|id| {
        let id = id.trim_matches(|c| c == '<' || c == '>' || c == ',');
        let (local, _domain) = id.split_once('@')?;
        let prospect = local.split('.').next()?;
        is_prospect_id(prospect).then(|| prospect.to_string())
    })
}

/// The address replies to a prospect's emails go to: the sender's local part, `+`, the prospect
/// id, at `reply_domain` (else the sender's own domain). `None` when `from` is no address.
pub fn reply_address(from: &str, reply_domain: Option<&str>, prospect: &str) -> Option<String> {
    let (local, domain) = bare_address(from).split_once('@')?;
    let local = local.split('+').next().unwrap_or(local);
    Some(format!("{local}+{prospect}@{}", reply_domain.unwrap_or(domain)))
}

/// The prospect named by the plus-address of any recipient in `recipients` (a comma-separated
/// list, bare or with names): `leads+p_0123@replies.example.com` -> `p_0123`.
pub fn prospect_of_address(recipients: &str) -> Option<String> {
    recipients.split(',').find_map(|recipient| {
        let (local, _domain) = bare_address(recipient).split_once('@')?;
        let (_, tag) = local.split_once('+')?;
        is_prospect_id(tag).then(|| tag.to_string())
    })
}

/// The address inside `Name <address>`, or the trimmed text itself.
pub fn bare_address(text: &str) -> &str {
    match (text.find('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => text[open + 1..close].trim(),
        _ => text.trim(),
    }
}

/// The domain of an address (bare or with a name).
pub fn domain_of(address: &str) -> Option<&str> {
    bare_address(address).rsplit_once('@').map(|(_, domain)| domain).filter(|d| !d.is_empty())
}

/// What the daemon's prospect ids look like (`p_` then letters, digits, `-` or `_`).
pub fn is_prospect_id(text: &str) -> bool {
    text.len() > 2
        && text.starts_with("p_")
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The new text of an email reply: quoted lines (`> ...`) are dropped, and so is everything from
/// the attribution line on (`On <date>, <name> wrote:`, `Le <date>, <nom> a écrit :`, or a
/// `-----Original Message-----` separator). The attribution may be wrapped over two lines.
pub fn strip_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for (index, line) in lines.iter().enumerate() {
        let line = line.trim();
        if line.starts_with("-----Original Message-----") || line.starts_with("----- Original Message -----") {
            end = index;
            break;
        }
        if is_attribution_end(line) {
            let wrapped = !starts_attribution(line) && index > 0 && starts_attribution(lines[index - 1].trim());
            end = if wrapped { index - 1 } else { index };
            break;
        }
    }
    let kept: Vec<&str> = lines[..end].iter().copied().filter(|l| !l.trim_start().starts_with('>')).collect();
    kept.join("\n").trim().to_string()
}

fn starts_attribution(line: &str) -> bool {
    line.starts_with("On ") || line.starts_with("Le ")
}

fn is_attribution_end(line: &str) -> bool {
    let line = line.trim_start_matches('>').trim();
    let ends = line.ends_with("wrote:") || line.ends_with("a écrit :") || line.ends_with("a écrit:");
    ends && (starts_attribution(line) || line.split_whitespace().count() <= 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_carry_the_prospect() {
        let id = message_id("p_0a1b2c3d:17", "example.com");
        assert_eq!(id, "<p_0a1b2c3d.17@example.com>");
        assert_eq!(prospect_of_message_id(&id).as_deref(), Some("p_0a1b2c3d"));
        assert_eq!(prospect_of_message_id("<p_01JDXK8V3Q.3@leads.example.com>").as_deref(), Some("p_01JDXK8V3Q"));
        assert_eq!(prospect_of_message_id("<CAF=abc@mail> <p_9.1@x.org>").as_deref(), Some("p_9"));
        assert_eq!(prospect_of_message_id("<CAF=abc123@mail.example.org>"), None);
        assert_eq!(prospect_of_message_id(""), None);
    }

    #[test]
    fn plus_addresses_route_replies() {
        let reply = reply_address("Qualifyd <leads@example.com>", Some("mail.example.com"), "p_42");
        assert_eq!(reply.as_deref(), Some("leads+p_42@mail.example.com"));
        assert_eq!(reply_address("leads+old@example.com", None, "p_1").as_deref(), Some("leads+p_1@example.com"));
        assert_eq!(reply_address("nobody", None, "p_1"), None);
        assert_eq!(prospect_of_address("leads+p_01JDXK8V3Q@mail.example.com").as_deref(), Some("p_01JDXK8V3Q"));
        let list = "\"Sales\" <sales@example.com>, Leads <leads+p_7@mail.example.com>";
        assert_eq!(prospect_of_address(list).as_deref(), Some("p_7"));
        assert_eq!(prospect_of_address("leads+newsletter@example.com"), None);
        assert_eq!(prospect_of_address("leads@example.com"), None);
        assert_eq!(domain_of("Qualifyd <leads@example.com>"), Some("example.com"));
    }

    #[test]
    fn quoted_text_is_stripped() {
        let french = "Bonjour,\n\nOui, 40 personnes.\n\nCamille\n\n> Le 28 nov. 2026, Qualifyd a écrit :\n> Combien ?";
        assert_eq!(strip_quoted(french), "Bonjour,\n\nOui, 40 personnes.\n\nCamille");
        let english =
            "Sounds good.\r\n\r\nOn Mon, Nov 30, 2026 at 10:00 AM Qualifyd <leads@example.com> wrote:\r\nHow many?\r\n";
        assert_eq!(strip_quoted(english), "Sounds good.");
        let wrapped = "Yes.\nOn Mon, Nov 30, 2026 at 10:00 AM Qualifyd\n<leads@example.com> wrote:\n\nHow many?";
        assert_eq!(strip_quoted(wrapped), "Yes.");
        let outlook = "Ok\n-----Original Message-----\nFrom: Qualifyd";
        assert_eq!(strip_quoted(outlook), "Ok");
        assert_eq!(
            strip_quoted("Le budget est de 3000.\nJe l'ai écrit: merci"),
            "Le budget est de 3000.\nJe l'ai écrit: merci"
        );
        assert_eq!(strip_quoted("> only a quote"), "");
    }
}
