//! Reading a CSV file the way spreadsheets write it: UTF-8 with or without a byte-order mark,
//! or Windows-1252 (what Excel writes for "CSV (séparateur: point-virgule)" in a French
//! locale); `;` or `,` between fields, detected from the header line; quoted fields.

use std::path::Path;

use super::Error;

/// The cells of a file: its header and every record with the line it starts on.
#[derive(Debug, Clone)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
    pub delimiter: u8,
    /// The text was not UTF-8 and was read as Windows-1252.
    pub windows_1252: bool,
}

#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based line of the file where the record starts (the header is line 1).
    pub line: u64,
    pub cells: Vec<String>,
}

/// Splits file contents (pure); a record that does not split is an error naming its line.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Table, Error> {
    let (text, windows_1252) = decode(bytes);
    // One line ending, so that record line numbers count the way an editor does.
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let delimiter = detect_delimiter(&text);
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(true).from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|err| Error::Csv { file: path.display().to_string(), line: 1, message: err.to_string() })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect::<Vec<_>>();
    if headers.iter().all(String::is_empty) {
        return Err(Error::Csv {
            file: path.display().to_string(),
            line: 1,
            message: "the first line must name the columns (for example `Nom;Téléphone;Email`)".into(),
        });
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| {
            let line = err.position().map(|p| p.line()).unwrap_or(0);
            Error::Csv { file: path.display().to_string(), line, message: err.to_string() }
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let cells: Vec<String> = record.iter().map(|c| c.trim().to_string()).collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        rows.push(Row { line, cells });
    }
    Ok(Table { headers, rows, delimiter, windows_1252 })
}

/// UTF-8 (a leading BOM dropped), else Windows-1252.
fn decode(bytes: &[u8]) -> (String, bool) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (bytes.iter().map(|&b| windows_1252(b)).collect(), true),
    }
}

/// One Windows-1252 byte as a character (0x80-0x9F differ from Latin-1).
fn windows_1252(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž', '\u{8F}', '\u{90}', '‘',
        '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}', 'ž', 'Ÿ',
    ];
    match byte {
        0x80..=0x9F => HIGH[usize::from(byte - 0x80)],
        _ => char::from(byte),
    }
}

/// `;` when the header line has more semicolons than commas (outside quotes), else `,`.
fn detect_delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    let (mut semicolons, mut commas, mut quoted) = (0, 0, false);
    for c in header.chars() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => semicolons += 1,
            ',' if !quoted => commas += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(bytes: &[u8]) -> Table {
        parse(Path::new("t.csv"), bytes).unwrap()
    }

    #[test]
    fn a_french_excel_export_reads_with_its_bom_semicolons_and_accents() {
        let t =
            table("\u{feff}Nom;Téléphone;Délai\r\n\"Dupont; Hélène\";06 12 34 56 78;dès que possible\r\n".as_bytes());
        assert_eq!(t.delimiter, b';');
        assert_eq!(t.headers, ["Nom", "Téléphone", "Délai"]);
        assert_eq!(t.rows[0].cells, ["Dupont; Hélène", "06 12 34 56 78", "dès que possible"]);
        assert_eq!(t.rows[0].line, 2);
        assert!(!t.windows_1252);
    }

    #[test]
    fn windows_1252_is_read_when_the_file_is_not_utf8() {
        let t = table(b"Nom;Pr\xe9nom;Budget\nL\xe9a;Zo\xe9;1500 \x80\n");
        assert!(t.windows_1252);
        assert_eq!(t.headers[1], "Prénom");
        assert_eq!(t.rows[0].cells, ["Léa", "Zoé", "1500 €"]);
    }

    #[test]
    fn commas_quotes_blank_lines_and_line_numbers() {
        let t = table(b"name,phone\n\"Ada, Countess\",+33612345678\n\n,\nBob,\"06\n12\"\nEve,1\n");
        assert_eq!(t.delimiter, b',');
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[0].cells[0], "Ada, Countess");
        assert_eq!((t.rows[1].line, t.rows[2].line), (5, 7));
    }

    #[test]
    fn a_file_without_a_header_is_refused() {
        let err = parse(Path::new("t.csv"), b"").unwrap_err();
        assert!(err.to_string().starts_with("t.csv:1: "), "{err}");
    }
}
