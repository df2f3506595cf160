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

use vigie_detect::Level;

use super::detection::Detection;
use vigie_event::render;

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
        self.write_head(out, d);
        self.write_tail(out, d.event);
    }

    /// A detection's line without its tail, the part that only depends on the event (see
    /// [`Writer::write_tail`]).
    pub(crate) fn write_head(&self, out: &mut Vec<u8>, d: &Detection) {
        // Writing to a Vec cannot fail.
        match self.format {
            Format::Table => self.table(out, d),
            Format::Jsonl => self.jsonl(out, d),
            Format::Csv => {
                let _ = self.csv(out, d);
            }
        }
    }

    /// The end of a line that only depends on the event: in `jsonl` and `csv`, the event's
    /// fields and the line end; nothing in a table. A hunt writes it once per event and
    /// shares it between the event's detections (on the 107k-event bench, 150,000
    /// detections of 4,000 events: 198 of the report's 289 MB were copies of it).
    pub(crate) fn write_tail(&self, out: &mut Vec<u8>, event: Option<&[u8]>) {
        match self.format {
            Format::Table => {}
            Format::Jsonl => {
                out.extend_from_slice(b",\"event\":");
                out.extend_from_slice(event.unwrap_or(b"null"));
                out.extend_from_slice(b"}\n");
            }
            Format::Csv => {
                let event = String::from_utf8_lossy(event.unwrap_or(b""));
                out.extend_from_slice(csv_cell(&event).as_bytes());
                out.push(b'\n');
            }
        }
    }

    fn file(&self, d: &Detection) -> Option<&str> {
        d.file.and_then(|f| self.files.get(f)).map(String::as_str)
    }

    /// A table line, written straight into `out`: a report can hold hundreds of thousands
    /// of lines, and building each cell as a `String` cost about 20 k instructions a line
    /// (a fifth of a large hunt's work).
    fn table(&self, out: &mut Vec<u8>, d: &Detection) {
        let start = out.len();
        let c = d.time.to_civil(UtcOffset::UTC);
        // Writing to a Vec cannot fail.
        let _ = write!(
            out,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}  ",
            c.year,
            c.month,
            c.day,
            c.hour,
            c.minute,
            c.second,
            c.nanos / 1_000_000
        );
        if self.colour {
            let code = match d.rule.level {
                Level::Critical => "1;31",
                Level::High => "31",
                Level::Medium => "33",
                Level::Low => "32",
                Level::Informational => "2",
            };
            let _ = write!(out, "\x1b[{code}m");
        }
        let level = d.rule.level.as_str();
        out.extend_from_slice(level.as_bytes());
        pad(out, level.len(), 13);
        if self.colour {
            out.extend_from_slice(b"\x1b[0m");
        }
        out.extend_from_slice(b"  ");
        let n = write_cut(out, &d.rule.title, self.title_width, false);
        pad(out, n, self.title_width);
        out.extend_from_slice(b"  ");
        let computer = d.computer.as_deref().unwrap_or("-");
        let n = write_cut(out, computer, COMPUTER_WIDTH, false);
        pad(out, n, COMPUTER_WIDTH);
        out.extend_from_slice(b"  ");
        for (i, (k, v)) in d.matched.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(" ¦ ".as_bytes());
            }
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            match v {
                Json::Null => {}
                Json::String(s) => {
                    write_cut(out, s, VALUE_WIDTH, true);
                }
                other => {
                    write_cut(out, &other.to_string(), VALUE_WIDTH, true);
                }
            }
        }
        // Everything written is UTF-8; trailing blanks (padding, blank values) go.
        if let Ok(line) = std::str::from_utf8(&out[start..]) {
            let keep = line.trim_end().len();
            out.truncate(start + keep);
        }
        out.push(b'\n');
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
        render::write_str(out, d.rule.id.as_deref().unwrap_or(""));
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
    }

    fn csv(&self, out: &mut (impl Write + ?Sized), d: &Detection) -> io::Result<()> {
        let cells = [
            d.timestamp(),
            d.rule.level.as_str().to_owned(),
            d.rule.id.clone().unwrap_or_default(),
            d.rule.title.clone(),
            d.rule.tags.join(";"),
            d.computer.as_deref().unwrap_or("").to_owned(),
            d.channel.as_deref().unwrap_or("").to_owned(),
            plain(&d.event_id),
            plain(&d.record_id),
            self.file(d).unwrap_or("").to_owned(),
            matched_json(d),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        write!(out, "{},", line.join(","))
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

/// Writes at most `width` characters of `text`, the last one `…` when cut; with `clean`,
/// control characters (line breaks, tabs, escapes) become spaces, so that a table row stays
/// one line and a value cannot drive the terminal. Returns the characters written.
fn write_cut(out: &mut Vec<u8>, text: &str, width: usize, clean: bool) -> usize {
    // Most values are printable ASCII: one byte, one character, nothing to clean.
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        if text.len() <= width {
            out.extend_from_slice(text.as_bytes());
            return text.len();
        }
        let keep = width.saturating_sub(1);
        out.extend_from_slice(&text.as_bytes()[..keep]);
        out.extend_from_slice("…".as_bytes());
        return keep + 1;
    }
    let count = text.chars().count();
    let fits = count <= width;
    if fits && !clean {
        out.extend_from_slice(text.as_bytes());
        return count;
    }
    let take = if fits {
        usize::MAX
    } else {
        width.saturating_sub(1)
    };
    let mut written = 0;
    let mut buf = [0u8; 4];
    for c in text.chars().take(take) {
        let c = if clean && c.is_control() { ' ' } else { c };
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        written += 1;
    }
    if !fits {
        out.extend_from_slice("…".as_bytes());
        written += 1;
    }
    written
}

/// Spaces after `written` characters up to `width` (as `{:<width$}`).
fn pad(out: &mut Vec<u8>, written: usize, width: usize) {
    for _ in written..width {
        out.push(b' ');
    }
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
    use vigie_event::Timestamp;

    use super::*;
    use vigie_detect::RuleMeta;

    #[test]
    fn csv_cells_quote_what_needs_it() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn long_text_is_cut_by_characters() {
        let cut = |text: &str, width, clean| {
            let mut out = Vec::new();
            let n = write_cut(&mut out, text, width, clean);
            let text = String::from_utf8(out).unwrap();
            assert_eq!(n, text.chars().count());
            text
        };
        assert_eq!(cut("abcdef", 4, false), "abc…");
        assert_eq!(cut("ééé", 3, false), "ééé");
        assert_eq!(cut("éééé", 3, false), "éé…");
        assert_eq!(cut("a\tb", 3, false), "a\tb");
        assert_eq!(cut("a\tb\x1b[31m", 20, true), "a b [31m");
        assert_eq!(cut("ééé\u{85}", 4, true), "ééé ");
        assert_eq!(cut("ééé\néé", 4, true), "ééé…");
        assert_eq!(cut("abc", 0, true), "…");
    }

    fn detection(
        title: &str,
        computer: Option<&str>,
        matched: Vec<(&str, Json)>,
    ) -> Detection<'static> {
        Detection {
            rule: Arc::new(RuleMeta {
                id: Some("r".to_owned()),
                title: title.to_owned(),
                level: Level::High,
                tags: Vec::new(),
                logsource: String::new(),
                file: String::new(),
                line: 1,
                alerts: true,
            }),
            time: Timestamp::from_nanos(1_700_000_000_123_456_789),
            computer: computer.map(Box::from),
            channel: None,
            event_id: Json::Null,
            record_id: Json::Null,
            file: None,
            matched: matched
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            event: None,
        }
    }

    fn line(colour: bool, titles: &[&str], d: &Detection) -> String {
        let w = Writer::new(
            Format::Table,
            colour,
            Arc::from(Vec::new()),
            titles.iter().copied(),
        );
        let mut out = Vec::new();
        w.write(&mut out, d);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_lines_are_aligned_cut_cleaned_and_trimmed() {
        let d = detection(
            "Suspicious Thing",
            Some("ws-01.corp"),
            vec![
                ("CommandLine", Json::from("cmd.exe /c \"whoami\"\r\n")),
                ("EventID", Json::from(4688)),
                ("Missing", Json::Null),
            ],
        );
        assert_eq!(
            line(false, &["Suspicious Thing", "A longer rule title"], &d),
            "2023-11-14 22:13:20.123  high           Suspicious Thing     ws-01.corp                \
             CommandLine: cmd.exe /c \"whoami\"   ¦ EventID: 4688 ¦ Missing:\n"
        );
        // No details: the padding of the last column goes; colour codes wrap the level.
        let d = detection(
            "Ünïcode title that is far too long for its column",
            None,
            vec![],
        );
        assert_eq!(
            line(true, &["ab"], &d),
            "2023-11-14 22:13:20.123  \x1b[31mhigh         \x1b[0m  Ünï…  -\n"
        );
        let long = "x".repeat(200);
        let d = detection(
            &long,
            Some(&"c".repeat(30)),
            vec![("v", Json::from(long.as_str()))],
        );
        let text = line(false, &[long.as_str()], &d);
        let expected = format!(
            "2023-11-14 22:13:20.123  high           {}…  {}…  v: {}…\n",
            "x".repeat(59),
            "c".repeat(23),
            "x".repeat(119)
        );
        assert_eq!(text, expected);
    }
}
