//! A tenant's asset list (issue 27): hosts with a criticality and an owner, imported from
//! CSV, which the priority of an alert weighs (`crate::priority`).
//!
//! The format: a header row naming `host` and `criticality` (any order, any case) and
//! optionally `owner`; other columns are ignored (an export from a CMDB has many). Values
//! are trimmed; a host is kept in lower case (host names are case-insensitive); criticality
//! is `low`, `medium`, `high`, `critical` or 1–4. A host listed twice, an empty host, an
//! unknown criticality or more than [`MAX_ASSETS`] rows is an error naming its line:
//! nothing of a file with an error is imported (a half-imported list is worse than the
//! previous one).

use std::collections::HashSet;

use crate::GovernError;
use crate::priority::Criticality;

/// The most hosts a tenant lists.
pub const MAX_ASSETS: usize = 100_000;

/// The longest host name or owner kept.
pub const MAX_FIELD: usize = 255;

/// One listed host.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Asset {
    /// The host's name, lower case.
    pub host: String,
    /// How much it matters.
    pub criticality: Criticality,
    /// Who answers for it.
    pub owner: Option<String>,
}

fn error(line: u64, message: impl Into<String>) -> GovernError {
    GovernError::Assets {
        line,
        message: message.into(),
    }
}

/// Reads an asset list (see the module documentation).
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<Asset>, GovernError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| error(1, format!("the header row: {e}")))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let host_col = column("host").ok_or_else(|| error(1, "no column named host"))?;
    let crit_col = column("criticality").ok_or_else(|| error(1, "no column named criticality"))?;
    let owner_col = column("owner");
    let mut seen = HashSet::new();
    let mut assets = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            error(line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        if assets.len() == MAX_ASSETS {
            return Err(error(line, format!("more than {MAX_ASSETS} hosts")));
        }
        let host = record.get(host_col).unwrap_or("").to_lowercase();
        if host.is_empty() {
            return Err(error(line, "no host"));
        }
        if host.chars().count() > MAX_FIELD {
            return Err(error(
                line,
                format!("a host name has at most {MAX_FIELD} characters"),
            ));
        }
        let criticality = record
            .get(crit_col)
            .unwrap_or("")
            .parse::<Criticality>()
            .map_err(|e| error(line, e.to_string()))?;
        let owner = owner_col
            .and_then(|c| record.get(c))
            .filter(|o| !o.is_empty())
            .map(str::to_owned);
        if owner
            .as_ref()
            .is_some_and(|o| o.chars().count() > MAX_FIELD)
        {
            return Err(error(
                line,
                format!("an owner has at most {MAX_FIELD} characters"),
            ));
        }
        if !seen.insert(host.clone()) {
            return Err(error(line, format!("host {host:?} is listed twice")));
        }
        assets.push(Asset {
            host,
            criticality,
            owner,
        });
    }
    Ok(assets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cmdb_export_reads() {
        let text = "Owner,Host,Site,Criticality\n\
                    \"Dupont, IT\",DC01,Paris,critical\n\
                    ,web-1 ,Lyon, 2\n\
                    \n\
                    ops,kiosk,Lyon,LOW\n";
        let got = parse_csv(text.as_bytes()).expect("reads");
        assert_eq!(
            got,
            vec![
                Asset {
                    host: "dc01".into(),
                    criticality: Criticality::Critical,
                    owner: Some("Dupont, IT".into())
                },
                Asset {
                    host: "web-1".into(),
                    criticality: Criticality::Medium,
                    owner: None
                },
                Asset {
                    host: "kiosk".into(),
                    criticality: Criticality::Low,
                    owner: Some("ops".into())
                },
            ]
        );
    }

    fn fails(text: &str) -> (u64, String) {
        match parse_csv(text.as_bytes()) {
            Err(GovernError::Assets { line, message }) => (line, message),
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(fails("name,criticality\nx,low\n").0, 1);
        assert!(fails("host,level\nx,low\n").1.contains("criticality"));
        let (line, message) = fails("host,criticality\na,low\nb,urgent\n");
        assert_eq!(line, 3);
        assert!(message.contains("urgent"), "{message}");
        let (line, message) = fails("host,criticality\na,low\nA,high\n");
        assert_eq!(line, 3);
        assert!(message.contains("twice"), "{message}");
        assert_eq!(fails("host,criticality\n,low\n").0, 2);
        assert_eq!(fails("host,criticality\na\n").0, 2);
        let longest = format!(
            "host,criticality,owner\n{},low,{}\n",
            "h".repeat(MAX_FIELD),
            "o".repeat(MAX_FIELD)
        );
        assert_eq!(
            parse_csv(longest.as_bytes()).expect("at the bound").len(),
            1
        );
        let long = format!("host,criticality\n{},low\n", "h".repeat(MAX_FIELD + 1));
        assert_eq!(fails(&long).0, 2);
        let long = format!(
            "host,criticality,owner\nh,low,{}\n",
            "o".repeat(MAX_FIELD + 1)
        );
        assert_eq!(fails(&long).0, 2);
        assert!(!fails("host,criticality\n\"a,low\n").1.is_empty());
        assert_eq!(fails("").0, 1);
    }

    #[test]
    fn the_size_is_bounded() {
        let mut text = String::from("host,criticality\n");
        for i in 0..MAX_ASSETS {
            text.push_str(&format!("h{i},low\n"));
        }
        assert_eq!(parse_csv(text.as_bytes()).expect("fits").len(), MAX_ASSETS);
        text.push_str("one-more,low\n");
        let (line, _) = fails(&text);
        assert_eq!(line, MAX_ASSETS as u64 + 2);
    }
}
