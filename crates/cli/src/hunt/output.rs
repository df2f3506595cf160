//! The three report formats of `vigie hunt`.
//!
//! - `table`: one line per detection with aligned columns (time UTC to the millisecond,
//!   level, rule title, computer, matched fields), the level coloured when the output is a
//!   terminal. Titles longer than [`TITLE_WIDTH`] and computers longer than
//!   [`COMPUTER_WIDTH`] are cut with `…`; control characters in values become spaces.
//! - `jsonl`: one JSON object per detection, keys in a fixed order: `timestamp`, `level`,
//!   `rule_id`, `rule_title`, `tags`, `computer`, `channel`, `event_id`, `record_id`, `file`,
//!   `matched` (field → value), `event` (all fields). Absent values are `null`.
//! - `csv`: RFC 4180, a header row then the same columns; `tags` joined with `;`, `matched`
//!   and `event` as compact JSON text (a value can hold any character, JSON keeps it
//!   unambiguous).

use std::io::{self, Write};
use std::sync::Arc;

use clap::ValueEnum;
use serde_json::Value as Json;
use vigie_event::time::UtcOffset;

use super::detection::{Detection, Level};
use crate::render::{self, cut};

/// Widest rule title shown in a table.
pub(crate) const TITLE_WIDTH: usize = 60;
/// Widest computer name shown in a table.
pub(crate) const COMPUTER_WIDTH: usize = 24;
/// Widest single matched value shown in a table.
const VALUE_WIDTH: usize = 120;

/// How detections are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Table,
    Jsonl,
    Csv,
}

impl Format {
    /// Whether the format shows all the event's fields.
    pub(crate) fn shows_events(self) -> bool {
        self != Format::Table
    }
}

/// Writes detections in one format.
#[derive(Debug)]
pub(crate) struct Writer {
    format: Format,
    colour: bool,
    files: Arc<[String]>,
    title_width: usize,
}

const COLUMNS: [&str; 12] = [
    "timestamp",
    "level",
    "rule_id",
    "rule_title",
    "tags",
    "computer",
    "channel",
    "event_id",
    "record_id",
    "file",
    "matched",
    "event",
];

/// The CSV header row: a CSV report always has one, so that an empty report still names
/// its columns.
pub(crate) fn csv_header(out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    writeln!(out, "{}", COLUMNS.join(","))
}

impl Writer {
    /// A writer; `files` names the inputs by index. In a table, the rule column is as wide
    /// as the longest of `titles` (the rules that can be reported), up to [`TITLE_WIDTH`]:
    /// known before the first detection, so that workers can write lines in parallel.
    pub(crate) fn new<'t>(
        format: Format,
        colour: bool,
        files: Arc<[String]>,
        titles: impl Iterator<Item = &'t str>,
    ) -> Writer {
        let widest = titles.map(|t| t.chars().count()).max().unwrap_or(0);
        Writer {
            format,
            colour,
            files,
            title_width: widest.clamp(4, TITLE_WIDTH),
        }
    }

    /// The report format.
    pub(crate) fn format(&self) -> Format {
        self.format
    }

    /// The header line of a table, written before its first detection (its widths come from
    /// the rules). The CSV header is [`csv_header`], written even when nothing is found.
    pub(crate) fn header(&self, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
        match self.format {
            Format::Table => writeln!(
                out,
                "{:<23}  {:<13}  {:<tw$}  {:<cw$}  DETAILS",
                "TIME (UTC)",
                "LEVEL",
                "RULE",
                "COMPUTER",
                tw = self.title_width,
                cw = COMPUTER_WIDTH
            ),
            Format::Csv | Format::Jsonl => Ok(()),
        }
    }

    /// One detection's line.
    pub(crate) fn write(&self, out: &mut Vec<u8>, d: &Detection) {
        // Writing to a Vec cannot fail.
        let _ = match self.format {
            Format::Table => self.table(out, d),
            Format::Jsonl => {
                self.jsonl(out, d);
                Ok(())
            }
            Format::Csv => self.csv(out, d),
        };
    }

    fn file(&self, d: &Detection) -> Option<&str> {
        d.file.and_then(|f| self.files.get(f)).map(String::as_str)
    }

    fn table(&self, out: &mut (impl Write + ?Sized), d: &Detection) -> io::Result<()> {
        let c = d.time.to_civil(UtcOffset::UTC);
        let time = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
            c.year,
            c.month,
            c.day,
            c.hour,
            c.minute,
            c.second,
            c.nanos / 1_000_000
        );
        let level = format!("{:<13}", d.rule.level.as_str());
        let level = if self.colour {
            let code = match d.rule.level {
                Level::Critical => "1;31",
                Level::High => "31",
                Level::Medium => "33",
                Level::Low => "32",
                Level::Informational => "2",
            };
            format!("\x1b[{code}m{level}\x1b[0m")
        } else {
            level
        };
        let title = cut(&d.rule.title, self.title_width);
        let computer = cut(d.computer.as_deref().unwrap_or("-"), COMPUTER_WIDTH);
        let details: Vec<String> = d
            .matched
            .iter()
            .map(|(k, v)| format!("{k}: {}", cut(&clean(&plain(v)), VALUE_WIDTH)))
            .collect();
        let line = format!(
            "{time}  {level}  {title:<tw$}  {computer:<cw$}  {}",
            details.join(" ¦ "),
            tw = self.title_width,
            cw = COMPUTER_WIDTH
        );
        writeln!(out, "{}", line.trim_end())
    }

    fn jsonl(&self, out: &mut Vec<u8>, d: &Detection) {
        let opt = |out: &mut Vec<u8>, t: Option<&str>| match t {
            Some(t) => render::write_str(out, t),
            None => out.extend_from_slice(b"null"),
        };
        let json = |out: &mut Vec<u8>, v: &Json| {
            let _ = serde_json::to_writer(&mut *out, v);
        };
        out.extend_from_slice(b"{\"timestamp\":");
        render::write_str(out, &d.timestamp());
        out.extend_from_slice(b",\"level\":");
        render::write_str(out, d.rule.level.as_str());
        out.extend_from_slice(b",\"rule_id\":");
        render::write_str(out, &d.rule.id);
        out.extend_from_slice(b",\"rule_title\":");
        render::write_str(out, &d.rule.title);
        out.extend_from_slice(b",\"tags\":[");
        for (i, tag) in d.rule.tags.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            render::write_str(out, tag);
        }
        out.extend_from_slice(b"],\"computer\":");
        opt(out, d.computer.as_deref());
        out.extend_from_slice(b",\"channel\":");
        opt(out, d.channel.as_deref());
        out.extend_from_slice(b",\"event_id\":");
        json(out, &d.event_id);
        out.extend_from_slice(b",\"record_id\":");
        json(out, &d.record_id);
        out.extend_from_slice(b",\"file\":");
        opt(out, self.file(d));
        out.extend_from_slice(b",\"matched\":");
        write_matched(out, d);
        out.extend_from_slice(b",\"event\":");
        out.extend_from_slice(d.event.unwrap_or(b"null"));
        out.extend_from_slice(b"}\n");
    }

    fn csv(&self, out: &mut (impl Write + ?Sized), d: &Detection) -> io::Result<()> {
        let cells = [
            d.timestamp(),
            d.rule.level.as_str().to_owned(),
            d.rule.id.clone(),
            d.rule.title.clone(),
            d.rule.tags.join(";"),
            d.computer.as_deref().unwrap_or("").to_owned(),
            d.channel.as_deref().unwrap_or("").to_owned(),
            plain(&d.event_id),
            plain(&d.record_id),
            self.file(d).unwrap_or("").to_owned(),
            matched_json(d),
            String::from_utf8_lossy(d.event.unwrap_or(b"")).into_owned(),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        writeln!(out, "{}", line.join(","))
    }
}

/// Writes `matched` as a JSON object in match order.
fn write_matched(out: &mut Vec<u8>, d: &Detection) {
    out.push(b'{');
    for (n, (k, v)) in d.matched.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        render::write_str(out, k);
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, v);
    }
    out.push(b'}');
}

/// `matched` as JSON text.
fn matched_json(d: &Detection) -> String {
    let mut out = Vec::new();
    write_matched(&mut out, d);
    String::from_utf8_lossy(&out).into_owned()
}

/// A value as plain text: strings unquoted, `null` empty, the rest as JSON.
fn plain(v: &Json) -> String {
    match v {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Control characters (line breaks, tabs, escapes) replaced by spaces: a table row stays
/// one line and a value cannot drive the terminal.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An RFC 4180 cell: quoted when it holds a comma, a quote or a line break.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_quote_what_needs_it() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn long_text_is_cut_by_characters() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("ééé", 3), "ééé");
        assert_eq!(clean("a\tb\x1b[31m"), "a b [31m");
    }
}
