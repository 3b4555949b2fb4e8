//! The tiered account list as clients send it: one JSON object, a JSON array of them, or CSV
//! with a header row. Decoding only finds the rows and their cells; what a value must look
//! like is checked by [`usecase::accounts`](crate::usecase::accounts), which names every
//! problem by the row label kept here (`row 3`, `[2]`).

use serde::{Deserialize, Deserializer};

use super::json;
use crate::error::{ApiError, FieldError};

/// The CSV columns, as named in the header row (any order, any case). Only `domain` is
/// required; a column left out leaves that attribute of existing accounts as it is.
pub const COLUMNS: [&str; 4] = ["domain", "name", "tier", "owner_email"];

/// One account as sent, not yet validated.
///
/// For each optional attribute: `None` means absent (an existing account keeps its value),
/// `Some(None)` means JSON `null` or an empty CSV cell (the value is cleared).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    pub domain: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub tier: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub owner_email: Option<Option<String>>,
}

/// Called only when the key is present, so `null` becomes `Some(None)`, not `None`.
fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// An input row with its label: `row 3` (CSV line, the header being line 1), `[2]` (JSON
/// array index) or empty (a single account). Error fields are `<label>.<column>`.
#[derive(Debug)]
pub struct Row {
    pub label: String,
    pub input: AccountInput,
}

impl Row {
    /// The name of `column` of this row in an error.
    pub fn field(&self, column: &str) -> String {
        if self.label.is_empty() {
            column.to_owned()
        } else {
            format!("{}.{column}", self.label)
        }
    }
}

/// The rows of an import, and the cells that could not even be read (reported together with
/// the validation errors, so one answer lists every problem).
#[derive(Debug, Default)]
pub struct Decoded {
    pub rows: Vec<Row>,
    pub errors: Vec<FieldError>,
}

/// The body formats of an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

/// Splits an import body into rows. The body as a whole being unusable (empty, no rows, more
/// than `max_rows`, a bad header, not JSON) is an error; a bad cell is listed in `errors`.
pub fn decode(format: Format, body: &[u8], max_rows: usize) -> Result<Decoded, ApiError> {
    let decoded = match format {
        Format::Csv => decode_csv(body, max_rows)?,
        Format::Json => decode_json(body, max_rows)?,
    };
    if decoded.rows.is_empty() && decoded.errors.is_empty() {
        return Err(ApiError::field(
            "body",
            "has no rows; send at least one account",
        ));
    }
    Ok(decoded)
}

fn too_many(max_rows: usize) -> ApiError {
    ApiError::field(
        "body",
        format!("holds more than {max_rows} rows; split the import into several"),
    )
}

fn decode_json(body: &[u8], max_rows: usize) -> Result<Decoded, ApiError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {}
        Some(_) => return Err(ApiError::field("body", "must be a JSON array of accounts")),
        None => {
            return Err(ApiError::field(
                "body",
                "is empty; send a JSON array of accounts",
            ));
        }
    }
    let inputs: Vec<AccountInput> = json::decode(body)?;
    if inputs.len() > max_rows {
        return Err(too_many(max_rows));
    }
    let rows = inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| Row {
            label: format!("[{i}]"),
            input,
        })
        .collect();
    Ok(Decoded {
        rows,
        errors: Vec::new(),
    })
}

/// The csv crate reads a quote left open to the end of the body as one last cell, so a
/// missing quote would silently swallow every row after it: a 422 naming its line instead.
fn refuse_unterminated_quote(body: &[u8]) -> Result<(), ApiError> {
    let Some(line) = unterminated_quote(body) else {
        return Ok(());
    };
    let field = if line == 1 {
        "header".to_owned()
    } else {
        format!("row {line}")
    };
    Err(ApiError::field(
        field,
        "opens a quoted cell that is never closed: a closing \" is missing",
    ))
}

fn decode_csv(body: &[u8], max_rows: usize) -> Result<Decoded, ApiError> {
    // Spreadsheets often save UTF-8 with a byte-order mark, which would stick to `domain`.
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    refuse_unterminated_quote(body)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(body);
    let header = reader
        .byte_headers()
        .map_err(|e| ApiError::field("header", csv_problem(&e)))?;
    if header.iter().all(|h| h.iter().all(u8::is_ascii_whitespace)) {
        return Err(ApiError::field(
            "header",
            format!(
                "is missing; the first line names the columns: {}",
                COLUMNS.join(",")
            ),
        ));
    }
    let columns = header_columns(header)?;

    let mut decoded = Decoded::default();
    let mut record = csv::ByteRecord::new();
    loop {
        let line = match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => record.position().map_or(0, |p| p.line()),
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                decoded
                    .errors
                    .push(FieldError::new(format!("row {line}"), csv_problem(&e)));
                // A row with the wrong number of cells leaves the reader usable; anything
                // else (a broken quote) does not.
                if matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    continue;
                }
                break;
            }
        };
        if decoded.rows.len() == max_rows {
            return Err(too_many(max_rows));
        }
        let mut row = Row {
            label: format!("row {line}"),
            input: AccountInput::default(),
        };
        for (column, cell) in columns.iter().zip(record.iter()) {
            read_cell(&mut row, *column, cell, &mut decoded.errors);
        }
        decoded.rows.push(row);
    }
    Ok(decoded)
}

/// The line (1 = the header) of a quote that opens a cell and is never closed, read as the
/// csv crate reads quotes: only a `"` at the start of a cell opens one, and `""` inside it is
/// a literal quote.
fn unterminated_quote(body: &[u8]) -> Option<u64> {
    let (mut line, mut opened_at) = (1u64, None);
    let mut cell_start = true;
    let mut bytes = body.iter().peekable();
    while let Some(&b) = bytes.next() {
        if b == b'\n' {
            line += 1;
        }
        match opened_at {
            None if b == b'"' && cell_start => opened_at = Some(line),
            None => {}
            Some(_) if b == b'"' && bytes.peek() == Some(&&b'"') => {
                bytes.next();
            }
            Some(_) if b == b'"' => opened_at = None,
            Some(_) => {}
        }
        cell_start = opened_at.is_none() && matches!(b, b',' | b'\n' | b'\r');
    }
    opened_at
}

/// The attribute a CSV column carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Domain,
    Name,
    Tier,
    OwnerEmail,
}

impl Column {
    const ALL: [Column; 4] = [
        Column::Domain,
        Column::Name,
        Column::Tier,
        Column::OwnerEmail,
    ];

    fn name(self) -> &'static str {
        match self {
            Column::Domain => "domain",
            Column::Name => "name",
            Column::Tier => "tier",
            Column::OwnerEmail => "owner_email",
        }
    }
}

/// Maps the header row to the columns, in their order in the file.
fn header_columns(header: &csv::ByteRecord) -> Result<Vec<Column>, ApiError> {
    let mut columns = Vec::with_capacity(header.len());
    let mut errors = Vec::new();
    for name in header {
        let name = String::from_utf8_lossy(name).trim().to_lowercase();
        match Column::ALL.into_iter().find(|c| c.name() == name) {
            Some(c) if columns.contains(&c) => {
                errors.push(format!("column {name} appears more than once"));
            }
            Some(c) => columns.push(c),
            None => errors.push(format!(
                "unknown column {name:?}; the columns are {}",
                COLUMNS.join(", ")
            )),
        }
    }
    if !columns.contains(&Column::Domain) {
        errors.push(format!(
            "has no domain column; the columns are {} (only domain is required)",
            COLUMNS.join(", ")
        ));
    }
    if errors.is_empty() {
        Ok(columns)
    } else {
        Err(ApiError::Validation(
            errors
                .into_iter()
                .map(|detail| FieldError::new("header", detail))
                .collect(),
        ))
    }
}

fn read_cell(row: &mut Row, column: Column, cell: &[u8], errors: &mut Vec<FieldError>) {
    let Ok(text) = std::str::from_utf8(cell) else {
        errors.push(FieldError::new(
            row.field(column.name()),
            "is not UTF-8 text",
        ));
        return;
    };
    let text = text.trim();
    let value = (!text.is_empty()).then(|| text.to_owned());
    let input = &mut row.input;
    match column {
        Column::Domain => input.domain = value,
        Column::Name => input.name = Some(value),
        Column::OwnerEmail => input.owner_email = Some(value),
        Column::Tier => match value.map(|v| v.parse::<i64>().map_err(|_| v)).transpose() {
            Ok(tier) => input.tier = Some(tier),
            Err(v) => errors.push(FieldError::new(
                row.field(column.name()),
                format!("{v:?} is not a tier; allowed: 1, 2, 3"),
            )),
        },
    }
}

/// The csv crate's message without its position, which the field name already gives.
fn csv_problem(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} cells; the header has {expected_len}"),
        _ => format!("cannot be read as CSV: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(body: &str) -> Result<Decoded, ApiError> {
        decode(Format::Csv, body.as_bytes(), 3)
    }

    fn fields(result: Result<Decoded, ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Ok(decoded) => decoded.errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    /// Left open, a quote would swallow the rest of the body into one cell.
    #[test]
    fn an_unterminated_quote_is_refused_naming_its_line() {
        assert_eq!(
            fields(csv("domain,name\nacme.io,\"Acme\nbeta.io,Beta\n")),
            ["row 2"]
        );
        assert_eq!(
            fields(csv("domain,name\na.io,A\nb.io,\"B, \"\"Inc\n")),
            ["row 3"]
        );
        assert_eq!(fields(csv("\"domain,name\na.io,A\n")), ["header"]);
        // Closed quotes (across lines, doubled inside, or a quote inside an unquoted cell)
        // are fine.
        let fine = "domain,name\na.io,\"A\nB\"\nb.io,\"say \"\"hi\"\"\"\nc.io,5\" disk\n";
        let decoded = csv(fine).unwrap();
        assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
        assert_eq!(decoded.rows.len(), 3);
        assert_eq!(decoded.rows[2].label, "row 5");
    }

    #[test]
    fn csv_columns_come_in_any_order_and_empty_cells_clear() {
        let body = "\u{feff}Tier, domain ,name\n1,Acme.io,\"Acme, Inc.\"\n,beta.io,\n";
        let decoded = csv(body).unwrap();
        assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
        let [acme, beta] = &decoded.rows[..] else {
            panic!("two rows expected: {:?}", decoded.rows)
        };
        assert_eq!(acme.label, "row 2");
        assert_eq!(acme.input.domain.as_deref(), Some("Acme.io"));
        assert_eq!(acme.input.name, Some(Some("Acme, Inc.".to_owned())));
        assert_eq!(acme.input.tier, Some(Some(1)));
        assert_eq!(acme.input.owner_email, None, "no column: left as is");
        assert_eq!(beta.label, "row 3");
        assert_eq!(beta.input.tier, Some(None));
        assert_eq!(beta.input.name, Some(None));
    }

    #[test]
    fn csv_rows_are_named_by_line_even_after_a_multi_line_cell() {
        let body = "domain,name,tier\nacme.io,\"Acme\nHoldings\",1\nbeta.io,Beta,gold\n";
        assert_eq!(fields(csv(body)), ["row 4.tier"]);
        let body = "domain,tier\nacme.io,1,extra\nbeta.io,2\n";
        let decoded = csv(body).unwrap();
        assert_eq!(decoded.errors[0].field, "row 2");
        assert_eq!(decoded.errors[0].detail, "has 3 cells; the header has 2");
        assert_eq!(
            decoded.rows.len(),
            1,
            "the reader goes on after a short row"
        );
    }

    #[test]
    fn csv_header_problems_name_the_header() {
        assert_eq!(fields(csv("name,tier\nAcme,1\n")), ["header"]);
        assert_eq!(fields(csv("domain,colour\nacme.io,red\n")), ["header"]);
        assert_eq!(fields(csv("domain,Domain\nacme.io,acme.io\n")), ["header"]);
        assert_eq!(fields(csv("")), ["header"]);
        assert_eq!(Column::ALL.map(Column::name), COLUMNS);
    }

    #[test]
    fn empty_and_oversized_imports_are_refused() {
        assert_eq!(fields(csv("domain,tier\n")), ["body"]);
        assert_eq!(fields(csv("domain\na.io\nb.io\nc.io\n")).len(), 0);
        assert_eq!(fields(csv("domain\na.io\nb.io\nc.io\nd.io\n")), ["body"]);
        let json = |body: &str| decode(Format::Json, body.as_bytes(), 3);
        assert_eq!(fields(json("[]")), ["body"]);
        assert_eq!(fields(json("{}")), ["body"]);
        assert_eq!(
            fields(json(&format!("[{}]", ["{}"; 4].join(",")))),
            ["body"]
        );
    }

    #[test]
    fn json_rows_tell_absent_from_null() {
        let body = r#"[{"domain":"acme.io","tier":null},{"domain":"beta.io","name":"Beta"}]"#;
        let decoded = decode(Format::Json, body.as_bytes(), 3).unwrap();
        assert_eq!(decoded.rows[0].label, "[0]");
        assert_eq!(decoded.rows[0].input.tier, Some(None));
        assert_eq!(decoded.rows[0].input.name, None);
        assert_eq!(decoded.rows[1].input.tier, None);
        assert_eq!(decoded.rows[1].field("tier"), "[1].tier");
    }

    #[test]
    fn json_type_errors_and_unknown_fields_name_the_path() {
        let json = |body: &str| decode(Format::Json, body.as_bytes(), 3);
        assert_eq!(
            fields(json(r#"[{"domain":"a.io"},{"domain":"b.io","tier":"1"}]"#)),
            ["[1].tier"]
        );
        assert_eq!(
            fields(json(r#"[{"domain":"a.io","colour":"red"}]"#)),
            ["[0].colour"]
        );
    }
}
