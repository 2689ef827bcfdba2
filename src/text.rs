//! Text folding shared by every reader of what people write (the opt-out lexicon, the rules
//! provider): lower-case, accents stripped, typographic apostrophes and spaces made plain, and
//! the cut into words. One home, so "Désabonnez-moi" reads the same everywhere.

/// Lower-cases `text`, strips the accents of common Latin letters (`É` -> `e`, `œ` -> `oe`),
/// turns typographic apostrophes into `'` and non-breaking spaces into spaces.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => out.push('a'),
            'ç' => out.push('c'),
            'è' | 'é' | 'ê' | 'ë' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' => out.push('i'),
            'ñ' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => out.push('o'),
            'ù' | 'ú' | 'û' | 'ü' => out.push('u'),
            'ý' | 'ÿ' => out.push('y'),
            'œ' => out.push_str("oe"),
            'æ' => out.push_str("ae"),
            'ß' => out.push_str("ss"),
            '’' | '‘' | '`' | 'ʼ' => out.push('\''),
            '\u{a0}' | '\u{202f}' | '\u{2009}' => out.push(' '),
            other => out.push(other),
        }
    }
    out
}

/// The words of already folded text: runs of alphanumeric characters (`_` separates words, so
/// an enum value `this_quarter` reads as `this quarter`).
pub fn words(folded: &str) -> Vec<String> {
    folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_strips_case_and_accents() {
        let cases = [
            ("Élève À ÇA", "eleve a ca"),
            ("L’Année Prochaine", "l'annee prochaine"),
            ("Œuvre, Straße", "oeuvre, strasse"),
            ("1\u{a0}500\u{202f}€", "1 500 €"),
            ("déjà vu ?", "deja vu ?"),
        ];
        for (text, want) in cases {
            assert_eq!(fold(text), want, "{text}");
        }
    }
}
