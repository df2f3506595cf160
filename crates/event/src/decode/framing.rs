//! RFC 6587 framing of syslog over TCP (and TLS): octet counting (`LEN SP MSG`) and
//! non-transparent framing (messages ended by LF, with an optional CR before it).
//!
//! The method is fixed per connection ([`Method`]): configured, or decided once by the first
//! byte of the stream (a digit 1–9: octet counting; anything else, `<` or a letter: LF). It is
//! never guessed again frame by frame, because a BSD line without `<PRI>` may start with
//! digits (`2026-12-07 …`, `12345 sshd[…]`), and taking those for a count would drop the line
//! or cut it into two corrupt events.
//!
//! With LF framing, a frame longer than the limit is reported and skipped up to the next LF,
//! so one bad line never wedges the connection. With octet counting, a frame that does not
//! start with a count, or announces more than the limit, cannot be resynchronised (the next
//! frame's start is unknown): it is reported once and the stream ends — the framer takes no
//! more frames ([`SyslogFramer::is_broken`]) and the listener closes the connection, instead
//! of swallowing or misreading what follows.

use crate::error::EventError;
use bytes::{Buf, Bytes, BytesMut};

/// Default largest frame accepted (bytes).
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;

/// How a stream is cut into frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    /// `LEN SP MSG` frames (RFC 6587 §3.4.1).
    OctetCounting,
    /// Frames ended by LF (an optional CR before it is dropped), RFC 6587 §3.4.2.
    LineFeed,
    /// Decided by the first byte of the stream: a digit 1–9 means octet counting.
    #[default]
    Auto,
}

/// Splits a byte stream into syslog frames.
#[derive(Debug)]
pub struct SyslogFramer {
    buf: BytesMut,
    max_frame: usize,
    /// The method; `Auto` until the first byte decides.
    method: Method,
    /// An octet-counted stream lost its framing: no more frames.
    broken: bool,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// Dropping the rest of an oversized LF frame.
    skipping: Option<Skip>,
}

#[derive(Debug, Clone, Copy)]
enum Skip {
    ToNewline,
}

impl Default for SyslogFramer {
    fn default() -> Self {
        SyslogFramer::new(DEFAULT_MAX_FRAME)
    }
}

impl SyslogFramer {
    /// A framer accepting frames of up to `max_frame` bytes, deciding its method by the
    /// first byte.
    pub fn new(max_frame: usize) -> SyslogFramer {
        SyslogFramer::with_method(max_frame, Method::Auto)
    }

    /// A framer with a given method.
    pub fn with_method(max_frame: usize, method: Method) -> SyslogFramer {
        SyslogFramer {
            buf: BytesMut::new(),
            max_frame,
            method,
            broken: false,
            offset: 0,
            skipping: None,
        }
    }

    /// The method in use (`Auto` until the first byte arrived).
    pub fn method(&self) -> Method {
        self.method
    }

    /// Whether an octet-counted stream lost its framing: nothing more will be framed, the
    /// connection should end.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    fn break_stream(&mut self, error: EventError) -> Option<Result<Bytes, EventError>> {
        self.broken = true;
        let n = self.buf.len();
        self.advance(n);
        Some(Err(error))
    }

    /// Appends bytes read from the connection (ignored once the stream is broken: no frame
    /// and no error will name them).
    pub fn push(&mut self, data: &[u8]) {
        if !self.broken {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn advance(&mut self, n: usize) {
        self.buf.advance(n);
        self.offset += n as u64;
    }

    /// The next complete frame, if one is buffered.
    pub fn next_frame(&mut self) -> Option<Result<Bytes, EventError>> {
        if self.broken {
            return None;
        }
        if let Some(Skip::ToNewline) = self.skipping {
            match memchr::memchr(b'\n', &self.buf) {
                Some(i) => {
                    self.advance(i + 1);
                    self.skipping = None;
                }
                None => {
                    let n = self.buf.len();
                    self.advance(n);
                    return None;
                }
            }
        }
        // Blank lines between frames are not frames.
        let blank = self
            .buf
            .iter()
            .take_while(|c| matches!(c, b'\n' | b'\r'))
            .count();
        self.advance(blank);
        let first = *self.buf.first()?;
        if self.method == Method::Auto {
            self.method = if matches!(first, b'1'..=b'9') {
                Method::OctetCounting
            } else {
                Method::LineFeed
            };
        }
        match self.method {
            Method::OctetCounting => self.octet_frame(),
            _ => self.line_frame(),
        }
    }

    fn octet_frame(&mut self) -> Option<Result<Bytes, EventError>> {
        let start = self.offset;
        let digits = self.buf.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == self.buf.len() && digits <= 9 {
            return None;
        }
        if digits == 0 || digits > 9 || self.buf[digits] != b' ' || self.buf[0] == b'0' {
            return self.break_stream(EventError::FrameBadCount { offset: start });
        }
        let len: usize = std::str::from_utf8(&self.buf[..digits])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(usize::MAX);
        if len > self.max_frame {
            return self.break_stream(EventError::FrameTooLarge {
                offset: start,
                len,
                limit: self.max_frame,
            });
        }
        if self.buf.len() < digits + 1 + len {
            return None;
        }
        self.advance(digits + 1);
        let frame = self.buf.split_to(len).freeze();
        self.offset += len as u64;
        Some(Ok(frame))
    }

    fn line_frame(&mut self) -> Option<Result<Bytes, EventError>> {
        let start = self.offset;
        match memchr::memchr(b'\n', &self.buf) {
            Some(i) if i > self.max_frame => {
                self.advance(i + 1);
                Some(Err(EventError::FrameTooLarge {
                    offset: start,
                    len: i,
                    limit: self.max_frame,
                }))
            }
            Some(i) => {
                let mut frame = self.buf.split_to(i + 1);
                self.offset += (i + 1) as u64;
                frame.truncate(i);
                if frame.last() == Some(&b'\r') {
                    frame.truncate(i - 1);
                }
                Some(Ok(frame.freeze()))
            }
            None if self.buf.len() > self.max_frame => {
                let len = self.buf.len();
                self.advance(len);
                self.skipping = Some(Skip::ToNewline);
                Some(Err(EventError::FrameTooLarge {
                    offset: start,
                    len,
                    limit: self.max_frame,
                }))
            }
            None => None,
        }
    }

    /// At end of stream: the last, unterminated LF frame, if any. A partial octet-counted
    /// frame is reported as truncated (`TooLarge` is not right for it, so it is `BadCount`).
    pub fn finish(&mut self) -> Option<Result<Bytes, EventError>> {
        if let Some(frame) = self.next_frame() {
            return Some(frame);
        }
        if self.broken || self.skipping.is_some() || self.buf.is_empty() {
            return None;
        }
        let start = self.offset;
        if self.method == Method::OctetCounting {
            return self.break_stream(EventError::FrameBadCount { offset: start });
        }
        // The stream ends here: its offset is not needed any more.
        let mut frame = std::mem::take(&mut self.buf);
        if frame.last() == Some(&b'\r') {
            frame.truncate(frame.len() - 1);
        }
        Some(Ok(frame.freeze()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn frames(f: &mut SyslogFramer) -> Vec<Result<String, EventError>> {
        let mut out = Vec::new();
        while let Some(r) = f.next_frame() {
            out.push(r.map(|b| String::from_utf8(b.to_vec()).unwrap()));
        }
        out
    }

    fn run(
        method: Method,
        max: usize,
        stream: &[u8],
        cut: usize,
    ) -> Vec<Result<String, EventError>> {
        let mut f = SyslogFramer::with_method(max, method);
        f.push(&stream[..cut]);
        let mut got = frames(&mut f);
        f.push(&stream[cut..]);
        got.extend(frames(&mut f));
        got.extend(
            f.finish()
                .into_iter()
                .map(|r| r.map(|b| String::from_utf8(b.to_vec()).unwrap())),
        );
        got
    }

    fn ok(frames: &[&str]) -> Vec<Result<String, EventError>> {
        frames.iter().map(|s| Ok((*s).to_owned())).collect()
    }

    #[test]
    fn the_first_byte_decides_once_split_anywhere() {
        let counted = b"9 <13>b\nc d5 <13>f";
        let lines = b"<13>a\r\n12345 sshd[1]: x\n\n2026-12-07 host y\n<13>e";
        for cut in 0..counted.len() {
            assert_eq!(
                run(Method::Auto, 1024, counted, cut),
                ok(&["<13>b\nc d", "<13>f"]),
                "cut {cut}"
            );
        }
        for cut in 0..lines.len() {
            assert_eq!(
                run(Method::Auto, 1024, lines, cut),
                ok(&["<13>a", "12345 sshd[1]: x", "2026-12-07 host y", "<13>e"]),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn a_bsd_line_starting_with_digits_is_a_line_under_lf_framing() {
        let stream = b"2026 12 07 sshd: a\n123 b\n";
        for cut in 0..stream.len() {
            assert_eq!(
                run(Method::LineFeed, 1024, stream, cut),
                ok(&["2026 12 07 sshd: a", "123 b"]),
                "cut {cut}"
            );
        }
        // Configured octet counting takes the same bytes as counts: the first frame is 2026
        // bytes long, past what the stream holds, so the stream ends truncated — one error,
        // not a split line.
        let got = run(Method::OctetCounting, 4096, stream, stream.len());
        assert_eq!(got, vec![Err(EventError::FrameBadCount { offset: 0 })]);
    }

    #[test]
    fn oversized_lines_are_reported_and_skipped() {
        let mut f = SyslogFramer::new(8);
        f.push(b"<13>0123456789\n<13>ok\n<13>x\n");
        let got = frames(&mut f);
        assert!(matches!(
            got[0],
            Err(EventError::FrameTooLarge { offset: 0, .. })
        ));
        assert_eq!(got[1], Ok("<13>ok".to_owned()));
        assert_eq!(got[2], Ok("<13>x".to_owned()));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn limits_offsets_and_state_at_the_edges() {
        // The default limit takes a 64 KiB frame, not one byte more.
        let mut f = SyslogFramer::default();
        let line = vec![b'x'; 65_536];
        f.push(&line);
        f.push(b"\n");
        assert_eq!(f.next_frame().map(|r| r.map(|b| b.len())), Some(Ok(65_536)));
        assert_eq!(f.method(), Method::LineFeed);
        assert!(!f.is_broken());
        // A line of exactly the limit is a frame; one byte more is an error whose offset is
        // exact, and the frames after it keep their place.
        let mut f = SyslogFramer::new(8);
        f.push(b"ab\n12345678\n123456789\nxy\n");
        assert_eq!(f.buffered(), 25);
        let got = frames(&mut f);
        assert_eq!(got[0], Ok("ab".to_owned()));
        assert_eq!(got[1], Ok("12345678".to_owned()));
        assert_eq!(
            got[2],
            Err(EventError::FrameTooLarge {
                offset: 12,
                len: 9,
                limit: 8
            })
        );
        assert_eq!(got[3], Ok("xy".to_owned()));
        assert_eq!(f.buffered(), 0);
        // Without its LF yet: waiting at the limit, an error past it, then skipped up to
        // the LF, split across pushes; the next error's offset counts every byte.
        let mut f = SyslogFramer::new(8);
        f.push(b"abcdefgh");
        assert_eq!(f.next_frame(), None);
        f.push(b"ijkl");
        assert_eq!(
            f.next_frame(),
            Some(Err(EventError::FrameTooLarge {
                offset: 0,
                len: 12,
                limit: 8
            }))
        );
        f.push(b"def");
        assert_eq!(f.next_frame(), None);
        assert!(
            f.finish().is_none(),
            "the rest of a skipped line is no frame"
        );
        f.push(b"gh\nok\n0123456789\n");
        assert_eq!(f.next_frame(), Some(Ok(Bytes::from_static(b"ok"))));
        assert_eq!(
            f.next_frame(),
            Some(Err(EventError::FrameTooLarge {
                offset: 21,
                len: 10,
                limit: 8
            }))
        );
        // The last line at the end of the stream, its CR dropped.
        let mut f = SyslogFramer::new(8);
        f.push(b"<1>x\r");
        assert_eq!(f.finish(), Some(Ok(Bytes::from_static(b"<1>x"))));
        assert_eq!(f.finish(), None);
        // Octet counting: a frame of exactly the limit; nine digits are a count (too large),
        // ten are not a count at all.
        let mut f = SyslogFramer::new(8);
        f.push(b"8 12345678");
        assert_eq!(f.next_frame(), Some(Ok(Bytes::from_static(b"12345678"))));
        assert_eq!(f.method(), Method::OctetCounting);
        assert!(!f.is_broken());
        let mut f = SyslogFramer::new(8);
        f.push(b"123456789 x");
        assert!(matches!(
            f.next_frame(),
            Some(Err(EventError::FrameTooLarge {
                len: 123_456_789,
                ..
            }))
        ));
        let mut f = SyslogFramer::new(8);
        f.push(b"1234567890");
        assert_eq!(
            f.next_frame(),
            Some(Err(EventError::FrameBadCount { offset: 0 }))
        );
        let mut f = SyslogFramer::new(8);
        f.push(b"123456789");
        assert_eq!(f.next_frame(), None, "nine digits may still be a count");
    }

    #[test]
    fn a_bogus_count_ends_the_stream_once() {
        for (stream, error) in [
            (
                &b"5 <13>a12x <13>b\n5 <13>c"[..],
                EventError::FrameBadCount { offset: 7 },
            ),
            (
                &b"5 <13>a0 \n5 <13>c"[..],
                EventError::FrameBadCount { offset: 7 },
            ),
            (
                &b"5 <13>a99999 <13>b5 <13>c"[..],
                EventError::FrameTooLarge {
                    offset: 7,
                    len: 99_999,
                    limit: 64,
                },
            ),
            (
                &b"5 <13>a1234567890 x"[..],
                EventError::FrameBadCount { offset: 7 },
            ),
        ] {
            let mut f = SyslogFramer::new(64);
            f.push(stream);
            let got = frames(&mut f);
            assert_eq!(got, vec![Ok("<13>a".to_owned()), Err(error.clone())]);
            assert!(f.is_broken());
            // Nothing after it is framed, whatever comes.
            f.push(b"5 <13>d");
            assert!(f.next_frame().is_none());
            assert!(f.finish().is_none());
        }
    }

    proptest! {
        #[test]
        fn octet_counting_round_trip(msgs in proptest::collection::vec("<[0-9]{1,3}>[ -~\n]{0,40}", 0..8), chunk in 1usize..17) {
            let mut stream = Vec::new();
            for m in &msgs {
                stream.extend_from_slice(format!("{} {}", m.len(), m).as_bytes());
            }
            let mut f = SyslogFramer::with_method(DEFAULT_MAX_FRAME, Method::OctetCounting);
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                f.push(piece);
                while let Some(r) = f.next_frame() {
                    got.push(String::from_utf8(r.unwrap().to_vec()).unwrap());
                }
            }
            prop_assert!(f.finish().is_none());
            prop_assert_eq!(got, msgs);
        }
    }
}
