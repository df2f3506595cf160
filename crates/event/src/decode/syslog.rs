//! syslog messages: RFC 5424, RFC 3164 (BSD) and the deviations real senders make.
//!
//! Fields (names chosen to be short and stable; ECS-style aliases are the store's business):
//! `priority` (number), `facility` and `severity` (names such as `auth`, `err`), `hostname`,
//! `appname` (APP-NAME, or the 3164 TAG's program), `procid` (the PID in `tag[pid]:`),
//! `msgid`, `message`, `syslog_version`, and each structured-data parameter as
//! `sd.<SD-ID>.<PARAM-NAME>`.
//!
//! Tolerated deviations, each seen in the wild:
//! - no `<PRI>` at all: taken as `<13>` (user.notice), as RFC 3164 §4.3.3 tells relays;
//! - `<PRI>` followed by nothing, or by a message with no header;
//! - 3164 timestamps without a year (the year is the receive time's, or the one before when
//!   that would put the event more than a week in the future: a December line read in
//!   January), with a year, with fractional seconds, with a leading `*` or `.` (Cisco's
//!   unsynchronised clock marks), RFC 3339 timestamps in a 3164 header (rsyslog's
//!   high-precision format), and a sequence number before the time (`6705: Feb 17 …`);
//! - a missing HOSTNAME (the token after the time is already the `tag:`);
//! - a UTF-8 BOM before a 5424 MSG (removed); bytes that are not UTF-8 in MSG (replaced by
//!   U+FFFD in `message`, kept as they were in the raw bytes).
//!
//! Times written without an offset are read at the origin's `default_offset`.

use bytes::Bytes;

use super::{Decoder, Facts, known, message_end};
use crate::error::EventError;
use crate::event::{Event, Format};
use crate::fields::{Fields, Scalar};
use crate::time::{CivilTime, Timestamp, UtcOffset, parse_rfc3339};

pub(crate) const APPNAME: &str = "appname";
pub(crate) const FACILITY: &str = "facility";
pub(crate) const HOSTNAME: &str = "hostname";

/// Facility names by code (RFC 5424 table 1, with the names syslog.conf uses).
pub const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// Severity names by code.
pub const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// English month abbreviations, as BSD syslog and CEF/LEEF device times write them.
pub(crate) const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Cursor over the message bytes with error helpers.
struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    format: Format,
}

impl<'a> Parser<'a> {
    fn err(&self, expected: &'static str) -> EventError {
        EventError::syntax(self.format, self.b, self.i, expected)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// A token up to the next space (or the end).
    fn token(&mut self) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(|c| c != b' ') {
            self.i += 1;
        }
        &self.b[start..self.i]
    }

    fn rest(&self) -> &'a [u8] {
        &self.b[self.i.min(self.b.len())..]
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }
}

/// Parses `<PRI>`; `None` when the message has none.
fn priority(p: &mut Parser<'_>) -> Result<Option<u8>, EventError> {
    if !p.eat(b'<') {
        return Ok(None);
    }
    let start = p.i;
    let mut value: u32 = 0;
    while let Some(c @ b'0'..=b'9') = p.peek() {
        value = value * 10 + u32::from(c - b'0');
        p.i += 1;
        if p.i - start > 3 {
            return Err(p.err("a priority of at most 3 digits"));
        }
    }
    if p.i == start {
        return Err(p.err("a priority number after '<'"));
    }
    if value > 191 {
        p.i = start;
        return Err(p.err("a priority between 0 and 191"));
    }
    if !p.eat(b'>') {
        return Err(p.err("'>' closing the priority"));
    }
    Ok(Some(value as u8))
}

fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

impl Decoder {
    /// Decodes one syslog message (one datagram or one frame), RFC 5424 or RFC 3164.
    pub fn decode_syslog(&mut self, input: Bytes) -> Result<Event, EventError> {
        let end = message_end(Format::Rfc3164, &input)?;
        let b = &input[..end];
        let mut p = Parser {
            b,
            i: 0,
            format: Format::Rfc3164,
        };
        let pri = priority(&mut p)?;
        let is_5424 = pri.is_some()
            && matches!(p.peek(), Some(b'1'..=b'9'))
            && b[p.i..]
                .iter()
                .take(4)
                .position(|c| *c == b' ')
                .is_some_and(|sp| sp > 0 && b[p.i..p.i + sp].iter().all(u8::is_ascii_digit));
        let mut fields = Fields::with_capacity(12, b.len());
        let pri = pri.unwrap_or(13);
        let (format, time) = if is_5424 {
            p.format = Format::Rfc5424;
            let time = self.rfc5424(&mut p, &mut fields)?;
            (Format::Rfc5424, time)
        } else {
            (Format::Rfc3164, self.rfc3164(&mut p, &mut fields)?)
        };
        self.put(
            &mut fields,
            format,
            0,
            "priority",
            Scalar::Num(&pri.to_string()),
        )?;
        self.put(
            &mut fields,
            format,
            0,
            FACILITY,
            Scalar::Str(FACILITIES[usize::from(pri >> 3)]),
        )?;
        self.put(
            &mut fields,
            format,
            0,
            "severity",
            Scalar::Str(SEVERITIES[usize::from(pri & 7)]),
        )?;
        let k = known();
        let facts = Facts {
            time,
            host: Some(k.hostname),
            program: Some(k.program),
            facility: Some(k.facility),
            ..Facts::default()
        };
        Ok(self.finish(format, fields, input, &facts))
    }

    fn rfc5424(
        &mut self,
        p: &mut Parser<'_>,
        fields: &mut Fields,
    ) -> Result<Option<(Timestamp, Option<UtcOffset>)>, EventError> {
        let f = Format::Rfc5424;
        let version = p.token();
        self.put(
            fields,
            f,
            p.i,
            "syslog_version",
            Scalar::Num(&text(version)),
        )?;
        let header_field = |p: &mut Parser<'_>, what: &'static str| -> Result<(), EventError> {
            if !p.eat(b' ') {
                return Err(p.err(what));
            }
            Ok(())
        };
        header_field(p, "a space before TIMESTAMP")?;
        let ts_start = p.i;
        let ts = p.token();
        let time = if ts == b"-" {
            None
        } else {
            let ts = std::str::from_utf8(ts).map_err(|_| p.err("an ASCII timestamp"))?;
            match parse_rfc3339(ts, self.origin.default_offset) {
                Ok(t) => Some(t),
                Err(e) => {
                    return Err(EventError::syntax(f, p.b, ts_start + e.offset, e.expected));
                }
            }
        };
        for (name, what) in [
            (HOSTNAME, "a space before HOSTNAME"),
            (APPNAME, "a space before APP-NAME"),
            ("procid", "a space before PROCID"),
            ("msgid", "a space before MSGID"),
        ] {
            header_field(p, what)?;
            let at = p.i;
            let value = p.token();
            if value.is_empty() {
                return Err(p.err("a header field (or '-' for none)"));
            }
            if value != b"-" {
                self.put(fields, f, at, name, Scalar::Str(&text(value)))?;
            }
        }
        header_field(p, "a space before STRUCTURED-DATA")?;
        if p.eat(b'-') {
        } else if p.peek() == Some(b'[') {
            self.structured_data(p, fields)?;
        } else {
            return Err(p.err("STRUCTURED-DATA ('[' or '-')"));
        }
        if p.peek().is_some() {
            if !p.eat(b' ') {
                return Err(p.err("a space before MSG"));
            }
            let mut msg = p.rest();
            if let Some(stripped) = msg.strip_prefix(b"\xEF\xBB\xBF") {
                msg = stripped;
            }
            self.put(fields, f, p.i, "message", Scalar::Str(&text(msg)))?;
        }
        Ok(time)
    }

    fn structured_data(
        &mut self,
        p: &mut Parser<'_>,
        fields: &mut Fields,
    ) -> Result<(), EventError> {
        let f = Format::Rfc5424;
        let name_char = |c: u8| c.is_ascii_graphic() && !matches!(c, b'=' | b']' | b'"' | b' ');
        while p.eat(b'[') {
            let id_start = p.i;
            while p.peek().is_some_and(name_char) {
                p.i += 1;
            }
            if p.i == id_start {
                return Err(p.err("an SD-ID after '['"));
            }
            let sd_id = text(&p.b[id_start..p.i]).into_owned();
            loop {
                if p.eat(b']') {
                    break;
                }
                if !p.eat(b' ') {
                    return Err(p.err("' ' or ']' after an SD element part"));
                }
                let name_start = p.i;
                while p.peek().is_some_and(name_char) {
                    p.i += 1;
                }
                if p.i == name_start {
                    return Err(p.err("a PARAM-NAME"));
                }
                let name = text(&p.b[name_start..p.i]).into_owned();
                if !p.eat(b'=') {
                    return Err(p.err("'=' after PARAM-NAME"));
                }
                if !p.eat(b'"') {
                    return Err(p.err("'\"' opening PARAM-VALUE"));
                }
                let mut value = Vec::new();
                loop {
                    match p.peek() {
                        None => return Err(p.err("'\"' closing PARAM-VALUE")),
                        Some(b'"') => {
                            p.i += 1;
                            break;
                        }
                        // Only `\"`, `\\` and `\]` are escapes; any other backslash is literal.
                        Some(b'\\') if matches!(p.b.get(p.i + 1), Some(b'"' | b'\\' | b']')) => {
                            value.push(p.b[p.i + 1]);
                            p.i += 2;
                        }
                        Some(c) => {
                            value.push(c);
                            p.i += 1;
                        }
                    }
                }
                let field = format!("sd.{sd_id}.{name}");
                self.put(fields, f, name_start, &field, Scalar::Str(&text(&value)))?;
            }
        }
        Ok(())
    }

    fn rfc3164(
        &mut self,
        p: &mut Parser<'_>,
        fields: &mut Fields,
    ) -> Result<Option<(Timestamp, Option<UtcOffset>)>, EventError> {
        let f = Format::Rfc3164;
        let received = self.received.unwrap_or_else(Timestamp::now);
        let header_start = p.i;
        let time = match bsd_timestamp(p, received, self.origin.default_offset) {
            Some(time) => Some(time),
            None => {
                p.i = header_start;
                None
            }
        };
        if time.is_some() {
            p.skip_spaces();
            // HOSTNAME, unless the next token is already the tag (`sshd[12]:`, `kernel:`).
            let save = p.i;
            let token = p.token();
            let is_tag = token.ends_with(b":") || token.contains(&b'[') || p.peek().is_none();
            if is_tag || token.is_empty() {
                p.i = save;
            } else {
                self.put(fields, f, save, HOSTNAME, Scalar::Str(&text(token)))?;
                p.skip_spaces();
            }
        }
        // TAG: program[pid]: — only when the token really has that shape.
        let tag_start = p.i;
        let mut j = p.i;
        while j < p.b.len() && j - tag_start < 64 && !matches!(p.b[j], b' ' | b'[' | b':') {
            j += 1;
        }
        let program = &p.b[tag_start..j];
        let mut pid: Option<&[u8]> = None;
        let mut after = j;
        if p.b.get(j) == Some(&b'[')
            && let Some(close) = p.b[j..].iter().position(|c| *c == b']')
        {
            pid = Some(&p.b[j + 1..j + close]);
            after = j + close + 1;
        }
        // RFC 3164 says alphanumeric; real tags also use '-', '_', '.', '/' and '@'. A
        // leading '%' is a Cisco mnemonic, which belongs to the message.
        let tagged = !program.is_empty()
            && program.iter().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/' | b'@')
            })
            && p.b.get(after) == Some(&b':')
            && matches!(p.b.get(after + 1), None | Some(b' '));
        if tagged {
            self.put(fields, f, tag_start, APPNAME, Scalar::Str(&text(program)))?;
            if let Some(pid) = pid {
                self.put(fields, f, j + 1, "procid", Scalar::Str(&text(pid)))?;
            }
            p.i = (after + 2).min(p.b.len());
        }
        let msg = p.rest();
        if !msg.is_empty() {
            self.put(fields, f, p.i, "message", Scalar::Str(&text(msg)))?;
        }
        Ok(time)
    }
}

fn two_digits(b: &[u8], i: usize) -> Option<u32> {
    let hi = b.get(i).filter(|c| c.is_ascii_digit())?;
    let lo = b.get(i + 1).filter(|c| c.is_ascii_digit())?;
    Some(u32::from(hi - b'0') * 10 + u32::from(lo - b'0'))
}

/// Reads a BSD-style timestamp (and the variants listed in the module docs), leaving the
/// cursor after it. `None` when there is none (the cursor is then unspecified).
fn bsd_timestamp(
    p: &mut Parser<'_>,
    received: Timestamp,
    default_offset: UtcOffset,
) -> Option<(Timestamp, Option<UtcOffset>)> {
    // A leading sequence number (`6705: `) as Cisco devices send.
    let start = p.i;
    let mut j = p.i;
    while p.b.get(j).is_some_and(u8::is_ascii_digit) {
        j += 1;
    }
    if j > start && p.b.get(j) == Some(&b':') && p.b.get(j + 1) == Some(&b' ') {
        p.i = j + 2;
    }
    // RFC 3339 inside a 3164 header.
    if p.b.get(p.i + 4) == Some(&b'-')
        && p.b.get(p.i + 10).is_some_and(|c| matches!(c, b'T' | b' '))
    {
        let save = p.i;
        let token = p.token();
        if let Ok(text) = std::str::from_utf8(token)
            && let Ok(t) = parse_rfc3339(text, default_offset)
        {
            return Some(t);
        }
        p.i = save;
        return None;
    }
    while matches!(p.peek(), Some(b'*' | b'.')) {
        p.i += 1;
    }
    let b = p.b;
    let i = p.i;
    let month = MONTHS
        .iter()
        .position(|m| b.get(i..i + 3) == Some(&m[..]))? as u32
        + 1;
    if b.get(i + 3) != Some(&b' ') {
        return None;
    }
    let mut k = i + 4;
    if b.get(k) == Some(&b' ') {
        k += 1;
    }
    let mut day = 0;
    let day_start = k;
    while let Some(c @ b'0'..=b'9') = b.get(k)
        && k - day_start < 2
    {
        day = day * 10 + u32::from(c - b'0');
        k += 1;
    }
    if k == day_start || b.get(k) != Some(&b' ') {
        return None;
    }
    k += 1;
    // Optional year before the time: `Feb 17 2026 13:40:03`.
    let mut year = None;
    if b.get(k..k + 4)
        .is_some_and(|y| y.iter().all(u8::is_ascii_digit))
        && b.get(k + 4) == Some(&b' ')
    {
        year = Some(
            b[k..k + 4]
                .iter()
                .fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0')),
        );
        k += 5;
    }
    let hour = two_digits(b, k)?;
    let minute = two_digits(b, k + 3)?;
    let second = two_digits(b, k + 6)?;
    if b.get(k + 2) != Some(&b':') || b.get(k + 5) != Some(&b':') {
        return None;
    }
    k += 8;
    let mut nanos = 0u32;
    if b.get(k) == Some(&b'.') && b.get(k + 1).is_some_and(u8::is_ascii_digit) {
        k += 1;
        let mut scale = 100_000_000u32;
        while let Some(c @ b'0'..=b'9') = b.get(k) {
            nanos += u32::from(c - b'0') * scale;
            scale /= 10;
            k += 1;
        }
    }
    // Cisco ends the time with ':'; some senders add a zone name we cannot resolve.
    if b.get(k) == Some(&b':') {
        k += 1;
    }
    if !matches!(b.get(k), None | Some(b' ')) {
        return None;
    }
    p.i = k;
    let civil = |year| CivilTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
    };
    let time = match year {
        Some(year) => civil(year).to_timestamp(default_offset)?,
        None => {
            let this_year = received.to_civil(default_offset).year;
            let guess = civil(this_year).to_timestamp(default_offset);
            const WEEK: i64 = 7 * 86_400 * 1_000_000_000;
            match guess {
                Some(t) if t.as_nanos() - received.as_nanos() <= WEEK => t,
                _ => civil(this_year - 1).to_timestamp(default_offset)?,
            }
        }
    };
    Some((time, None))
}

/// Renders an RFC 5424 message (used by tests, benches and the demo's sample data).
#[allow(clippy::too_many_arguments)]
pub fn render_rfc5424(
    pri: u8,
    time: &str,
    hostname: &str,
    appname: &str,
    procid: &str,
    msgid: &str,
    sd: &[(&str, &[(&str, &str)])],
    msg: &str,
) -> String {
    let mut out = format!("<{pri}>1 {time} {hostname} {appname} {procid} {msgid} ");
    if sd.is_empty() {
        out.push('-');
    }
    for (id, params) in sd {
        out.push('[');
        out.push_str(id);
        for (name, value) in *params {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            for c in value.chars() {
                if matches!(c, '"' | '\\' | ']') {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        out.push(']');
    }
    if !msg.is_empty() {
        out.push(' ');
        out.push_str(msg);
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::decode::tests::decoder;

    fn decode(line: &str) -> Event {
        decoder()
            .decode_syslog(Bytes::copy_from_slice(line.as_bytes()))
            .unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn field<'e>(e: &'e Event, name: &str) -> Option<&'e str> {
        e.fields.get_by_name(name)?.as_text()
    }

    #[test]
    fn rfc5424_with_structured_data_escapes() {
        let e = decode(
            r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Appli\"cation\]" eventID="10\11"][x y="z"] BOMAn application event"#,
        );
        assert_eq!(e.format, Format::Rfc5424);
        assert_eq!(field(&e, "facility"), Some("local4"));
        assert_eq!(field(&e, "severity"), Some("notice"));
        assert_eq!(field(&e, "hostname"), Some("mymachine.example.com"));
        assert_eq!(field(&e, "appname"), Some("evntslog"));
        assert_eq!(field(&e, "procid"), None);
        assert_eq!(field(&e, "msgid"), Some("ID47"));
        assert_eq!(
            field(&e, "sd.exampleSDID@32473.eventSource"),
            Some("Appli\"cation]")
        );
        assert_eq!(field(&e, "sd.exampleSDID@32473.eventID"), Some("10\\11"));
        assert_eq!(field(&e, "sd.x.y"), Some("z"));
        assert_eq!(field(&e, "message"), Some("BOMAn application event"));
        assert_eq!(e.time.to_string(), "2003-10-11T22:14:15.003Z");
        assert_eq!(e.host.as_deref(), Some("mymachine.example.com"));
    }

    #[test]
    fn rfc5424_nil_values_and_bom() {
        let e = decode("<34>1 - - - - - -");
        assert_eq!(e.time, e.received);
        assert_eq!(e.host, None);
        assert_eq!(field(&e, "message"), None);
        let e = decode("<34>1 2026-01-01T10:00:00+02:00 h su 77 - - \u{FEFF}'su root' failed\n");
        assert_eq!(field(&e, "message"), Some("'su root' failed"));
        assert_eq!(e.time.to_string(), "2026-01-01T08:00:00Z");
        assert_eq!(e.time_offset.seconds(), 7200);
    }

    #[test]
    fn rfc3164_classic_and_variants() {
        let e = decode("<38>Feb  5 17:32:18 web01 sshd[4242]: Accepted password for bob");
        assert_eq!(e.format, Format::Rfc3164);
        assert_eq!(field(&e, "hostname"), Some("web01"));
        assert_eq!(field(&e, "appname"), Some("sshd"));
        assert_eq!(field(&e, "procid"), Some("4242"));
        assert_eq!(field(&e, "message"), Some("Accepted password for bob"));
        assert_eq!(field(&e, "facility"), Some("auth"));
        // Received on 2026-01-01 (see `decoder()`): a February time without a year would be
        // in the future, so it is last February.
        assert_eq!(e.time.to_string(), "2025-02-05T17:32:18Z");
        assert!(e.logsource.matches(Some("linux"), None, Some("sshd")));
        assert!(e.logsource.matches(Some("linux"), None, Some("auth")));

        // No hostname: the tag follows the time.
        let e = decode("<13>Feb  5 17:32:18 sudo: bob : TTY=pts/0 ; COMMAND=/bin/id");
        assert_eq!(field(&e, "hostname"), None);
        assert_eq!(field(&e, "appname"), Some("sudo"));
        assert!(e.logsource.matches(Some("linux"), None, Some("sudo")));

        // December line received on 1 January: last year.
        let e = decode("<13>Dec 31 23:59:59 h cron[1]: x");
        assert_eq!(e.time.to_string(), "2025-12-31T23:59:59Z");

        // Year, fraction, Cisco sequence number and trailing ':'.
        let e =
            decode("<189>6705: *Feb 17 2026 13:40:03.673: %PARSER-5-CFGLOG_LOGGEDCMD: User:admin");
        assert_eq!(e.time.to_string(), "2026-02-17T13:40:03.673Z");
        assert_eq!(
            field(&e, "message"),
            Some("%PARSER-5-CFGLOG_LOGGEDCMD: User:admin")
        );

        // RFC 3339 in a 3164 header (rsyslog high precision).
        let e = decode("<30>2026-03-01T10:00:00.123456+01:00 host1 systemd[1]: Started x.");
        assert_eq!(e.time.to_string(), "2026-03-01T09:00:00.123456Z");
        assert_eq!(field(&e, "hostname"), Some("host1"));
        assert_eq!(field(&e, "appname"), Some("systemd"));
    }

    #[test]
    fn degenerate_messages() {
        let e = decode("<13>");
        assert_eq!(field(&e, "message"), None);
        assert_eq!(field(&e, "severity"), Some("notice"));
        let e = decode("<13>just text, no header");
        assert_eq!(field(&e, "message"), Some("just text, no header"));
        assert_eq!(e.time, e.received);
        let e = decode("no priority at all");
        assert_eq!(field(&e, "priority"), Some("13"));
        assert_eq!(field(&e, "message"), Some("no priority at all"));
        // Found by fuzzing: a day of many digits overflowed.
        let e = decode("<13>Feb  22222222222222222222 15");
        assert_eq!(field(&e, "message"), Some("Feb  22222222222222222222 15"));
        let e = decoder()
            .decode_syslog(Bytes::from_static(b"<13>Feb  5 17:32:18 h app: caf\xe9"))
            .unwrap();
        assert_eq!(field(&e, "message"), Some("caf\u{FFFD}"));
    }

    #[test]
    fn errors_name_the_position() {
        let mut d = decoder();
        for (line, offset) in [
            ("<192>x", 1),
            ("<1a>x", 2),
            ("<>x", 1),
            ("<13", 3),
            ("<13>1 2026-13-01T00:00:00Z h a p m -", 6),
            ("<13>1 2026-01-01T00:00:00Q h a p m -", 25),
            ("<13>1 2026-01-01T00:00:00Z h a p m [x y=z]", 40),
            ("<13>1 2026-01-01T00:00:00Z h a p m [x y=\"z]", 43),
            ("<13>1 2026-01-01T00:00:00Z h a p m x", 35),
            ("<13>1 2026-01-01T00:00:00Z", 26),
        ] {
            let err = d
                .decode_syslog(Bytes::copy_from_slice(line.as_bytes()))
                .unwrap_err();
            assert_eq!(err.offset(), Some(offset), "{line:?}: {err}");
        }
    }

    proptest! {
        #[test]
        fn rfc5424_round_trip(
            pri in 0u8..192,
            host in "[!-~]{1,20}",
            app in "[!-~]{1,20}",
            procid in "[0-9]{1,6}",
            msgid in "[A-Z]{1,8}",
            sd_id in "[a-zA-Z0-9@.]{1,12}",
            param in "[a-z]{1,8}",
            value in "[ -~]{0,30}",
            msg in "[ -~]{0,60}",
        ) {
            let line = render_rfc5424(
                pri, "2026-05-06T07:08:09.5Z", &host, &app, &procid, &msgid,
                &[(&sd_id, &[(&param, &value)])], &msg,
            );
            let e = decoder().decode_syslog(Bytes::from(line)).unwrap();
            let get = |n: &str| e.fields.get_by_name(n).and_then(|v| v.as_text()).map(str::to_owned);
            let nil = |s: &str| (s != "-").then(|| s.to_owned());
            prop_assert_eq!(get("hostname"), nil(&host));
            prop_assert_eq!(get("appname"), nil(&app));
            prop_assert_eq!(get("procid"), Some(procid));
            prop_assert_eq!(get(&format!("sd.{sd_id}.{param}")), Some(value));
            prop_assert_eq!(get("message"), (!msg.is_empty()).then_some(msg));
            prop_assert_eq!(get("priority"), Some(pri.to_string()));
        }
    }
}
