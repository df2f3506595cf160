//! The one choice of decoder for a line whose format is not declared: a syslog listener's
//! message, a line of a text file given to `vigie decode` or `vigie hunt`.
//!
//! Decided once, here, so that the server and the offline commands decode the same bytes
//! the same way: CEF and LEEF travel inside syslog, so a message is CEF (or LEEF) when its
//! marker appears in the first [`MARKER_WINDOW`] bytes *and* it decodes as such; otherwise
//! it is plain syslog (a message that merely mentions `CEF:` in its text stays readable).

use bytes::Bytes;

use super::Decoder;
use crate::error::EventError;
use crate::event::Event;

/// How far into a message the `CEF:` and `LEEF:` markers are looked for: past a syslog
/// header (at most a few hundred bytes), with room for relays that prepend their own.
pub const MARKER_WINDOW: usize = 1024;

impl Decoder {
    /// A syslog message, with CEF or LEEF inside when it carries their marker (see the
    /// module documentation).
    pub fn decode_syslog_line(&mut self, message: Bytes) -> Result<Event, EventError> {
        let head = &message[..message.len().min(MARKER_WINDOW)];
        if memchr::memmem::find(head, b"CEF:").is_some()
            && let Ok(event) = self.decode_cef(message.clone())
        {
            return Ok(event);
        }
        if memchr::memmem::find(head, b"LEEF:").is_some()
            && let Ok(event) = self.decode_leef(message.clone())
        {
            return Ok(event);
        }
        self.decode_syslog(message)
    }

    /// A line of unknown format: a JSON object when it starts with `{`, else as
    /// [`Decoder::decode_syslog_line`].
    pub fn decode_line(&mut self, line: Bytes) -> Result<Event, EventError> {
        if line.first() == Some(&b'{') {
            self.decode_json(line)
        } else {
            self.decode_syslog_line(line)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::event::{Format, Source, SourceKind};
    use crate::{Decoder, Origin, TenantId};
    use bytes::Bytes;

    fn decoder() -> Decoder {
        Decoder::new(Origin::new(
            TenantId::new("t").unwrap(),
            Source::new(SourceKind::File, "f"),
        ))
    }

    fn format(line: &str) -> Format {
        decoder()
            .decode_line(Bytes::from(line.to_owned()))
            .unwrap()
            .format
    }

    #[test]
    fn each_line_goes_to_its_decoder() {
        assert_eq!(format(r#"{"a":1}"#), Format::Json);
        assert_eq!(
            format("<134>Oct 11 22:14:15 fw CEF:0|V|P|1|100|blocked|5|src=10.0.0.1"),
            Format::Cef
        );
        assert_eq!(
            format("<134>Oct 11 22:14:15 ids LEEF:1.0|V|P|2.0|4625|src=10.0.0.5"),
            Format::Leef
        );
        assert_eq!(
            format("<134>Oct 11 22:14:15 host sshd[1]: Accepted password"),
            Format::Rfc3164
        );
    }

    #[test]
    fn a_marker_that_does_not_decode_falls_back_to_syslog() {
        // Mentions the marker in its text: still readable as syslog.
        assert_eq!(
            format("<134>Oct 11 22:14:15 host app: grep CEF: in the logs"),
            Format::Rfc3164
        );
    }

    #[test]
    fn a_marker_past_the_window_is_plain_syslog() {
        let padding = "x".repeat(super::MARKER_WINDOW);
        let line = format!("<134>Oct 11 22:14:15 host app: {padding} CEF:0|V|P|1|100|n|5|a=b");
        assert_eq!(format(&line), Format::Rfc3164);
    }
}
