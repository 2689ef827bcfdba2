//! Which CSV column feeds which part of an import: automatic by header name (French and
//! English, accents and case ignored), or explicit with `--map "Column=target"`.

use crate::catalog::Workflow;
use crate::diagnostic::did_you_mean_suffix;

use super::Error;

/// Where a column's value goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Put before the `Name` columns (`Prénom` + `Nom` -> "Hélène Dupont").
    FirstName,
    Name,
    Phone,
    Email,
    MessengerPsid,
    Source,
    Timezone,
    /// A field the workflow declares.
    Field(String),
    /// Not imported.
    Ignore,
}

/// The target of every column, in column order.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub targets: Vec<Target>,
    /// Headers nothing maps to (reported, not imported).
    pub unmapped: Vec<String>,
}

const CONTACT_TARGETS: &str = "name, first_name, phone, email, messenger_psid, source, timezone";

/// Lower case, French accents folded, only letters and digits kept: `Téléphone portable` ->
/// `telephoneportable`.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.to_lowercase().chars() {
        match c {
            'à' | 'â' | 'ä' | 'á' => out.push('a'),
            'é' | 'è' | 'ê' | 'ë' => out.push('e'),
            'î' | 'ï' | 'í' => out.push('i'),
            'ô' | 'ö' | 'ó' => out.push('o'),
            'ù' | 'û' | 'ü' | 'ú' => out.push('u'),
            'ç' => out.push('c'),
            'œ' => out.push_str("oe"),
            'æ' => out.push_str("ae"),
            c if c.is_alphanumeric() => out.push(c),
            _ => {}
        }
    }
    out
}

fn automatic(header: &str, workflow: &Workflow) -> Option<Target> {
    let key = normalise(header);
    let target = match key.as_str() {
        "prenom" | "firstname" | "givenname" => Target::FirstName,
        "nom" | "name" | "nomcomplet" | "fullname" | "lastname" | "nomdefamille" | "contact" | "client" => Target::Name,
        "telephone" | "tel" | "phone" | "mobile" | "portable" | "telephoneportable" | "telephonemobile" | "gsm"
        | "phonenumber" | "numerodetelephone" | "numero" | "telportable" => Target::Phone,
        "email" | "mail" | "courriel" | "adresseemail" | "adressemail" | "emailaddress" | "adressecourriel" => {
            Target::Email
        }
        "messengerpsid" | "psid" => Target::MessengerPsid,
        "source" | "origine" => Target::Source,
        "timezone" | "fuseauhoraire" => Target::Timezone,
        _ => {
            let field = workflow.fields.iter().find(|f| normalise(&f.name) == key)?;
            Target::Field(field.name.clone())
        }
    };
    Some(target)
}

fn target_named(name: &str, workflow: &Workflow) -> Result<Target, String> {
    let name = name.trim();
    let target = match name {
        "-" => Target::Ignore,
        "name" => Target::Name,
        "first_name" => Target::FirstName,
        "phone" => Target::Phone,
        "email" => Target::Email,
        "messenger_psid" => Target::MessengerPsid,
        "source" => Target::Source,
        "timezone" => Target::Timezone,
        other => {
            let field = other.strip_prefix("fields.").unwrap_or(other);
            if workflow.field(field).is_none() {
                let mut known: Vec<&str> = CONTACT_TARGETS.split(", ").collect();
                known.extend(workflow.fields.iter().map(|f| f.name.as_str()));
                return Err(format!(
                    "`{other}` is not a target{}: use one of {CONTACT_TARGETS}, a field of workflow `{}` ({}), or \
                     `-` to leave the column out",
                    did_you_mean_suffix(field, known),
                    workflow.id,
                    workflow.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
            Target::Field(field.to_string())
        }
    };
    Ok(target)
}

/// Maps every header: `--map` entries first (`Column=target`), then automatic names.
pub fn build(headers: &[String], maps: &[String], workflow: &Workflow) -> Result<Mapping, Error> {
    let mut targets: Vec<Option<Target>> = vec![None; headers.len()];
    let mut problems = Vec::new();
    for map in maps {
        let Some((column, target)) = map.rsplit_once('=') else {
            problems
                .push(format!("--map `{map}`: write it as `Column=target`, for example `--map \"Délai=timeline\"`"));
            continue;
        };
        let column = column.trim();
        let index = headers
            .iter()
            .position(|h| h == column)
            .or_else(|| headers.iter().position(|h| normalise(h) == normalise(column)));
        let Some(index) = index else {
            problems.push(format!(
                "--map `{map}`: the file has no column `{column}`{}; its columns are {}",
                did_you_mean_suffix(column, headers.iter().map(String::as_str)),
                headers.join(", ")
            ));
            continue;
        };
        match target_named(target, workflow) {
            Ok(target) => targets[index] = Some(target),
            Err(message) => problems.push(format!("--map `{map}`: {message}")),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Usage(problems.join("\n")));
    }
    let mut unmapped = Vec::new();
    let targets = targets
        .into_iter()
        .zip(headers)
        .map(|(target, header)| {
            target.or_else(|| automatic(header, workflow)).unwrap_or_else(|| {
                unmapped.push(header.clone());
                Target::Ignore
            })
        })
        .collect();
    Ok(Mapping { targets, unmapped })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workflow() -> std::sync::Arc<Workflow> {
        crate::ops::import::rows::tests::workflow()
    }

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn french_headers_map_themselves() {
        let h =
            headers(&["Prénom", "NOM", "Téléphone portable", "Adresse e-mail", "Budget", "Decision maker", "Ville"]);
        let mapping = build(&h, &[], &workflow()).unwrap();
        assert_eq!(
            mapping.targets,
            [
                Target::FirstName,
                Target::Name,
                Target::Phone,
                Target::Email,
                Target::Field("budget".into()),
                Target::Field("decision_maker".into()),
                Target::Ignore
            ]
        );
        assert_eq!(mapping.unmapped, ["Ville"]);
    }

    #[test]
    fn explicit_maps_win_and_mistakes_are_all_reported() {
        let h = headers(&["Délai", "Tel", "Ville"]);
        let maps = ["Délai=timeline".to_string(), "Tel=-".to_string()];
        let mapping = build(&h, &maps, &workflow()).unwrap();
        assert_eq!(mapping.targets, [Target::Field("timeline".into()), Target::Ignore, Target::Ignore]);
        let maps = ["Delay=timeline".to_string(), "Ville=timelne".to_string(), "Ville".to_string()];
        let err = build(&h, &maps, &workflow()).unwrap_err().to_string();
        assert!(err.contains("no column `Delay`"), "{err}");
        assert!(err.contains("did you mean `timeline`"), "{err}");
        assert!(err.contains("write it as `Column=target`"), "{err}");
    }
}
