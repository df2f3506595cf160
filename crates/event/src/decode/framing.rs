//! RFC 6587 framing of syslog over TCP (and TLS): octet counting (`LEN SP MSG`) and
//! non-transparent framing (messages ended by LF, with an optional CR before it).
//!
//! The method is chosen per frame, as RFC 6587 §3.4 lets a receiver do: a frame that starts
//! with a digit is octet-counted (a syslog message itself starts with `<`), anything else
//! runs to the next LF. A frame longer than the limit is reported and skipped (up to the
//! next LF for LF framing; the announced length for octet counting), so one bad sender line
//! never wedges the connection.

use bytes::{Buf, Bytes, BytesMut};

/// Default largest frame accepted (bytes).
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;

/// Why a frame was rejected. The framer has already skipped it when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame exceeded the size limit.
    #[error("syslog frame at stream byte {offset}: {len} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Offset of the frame in the stream.
        offset: u64,
        /// Its length (announced or seen so far).
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// An octet count that is not a number followed by a space.
    #[error("syslog frame at stream byte {offset}: expected an octet count (digits then a space)")]
    BadCount {
        /// Offset of the frame in the stream.
        offset: u64,
    },
}

/// Splits a byte stream into syslog frames.
#[derive(Debug)]
pub struct SyslogFramer {
    buf: BytesMut,
    max_frame: usize,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// Bytes still to drop from a skipped oversized frame (`None`: drop until the next LF).
    skipping: Option<Skip>,
}

#[derive(Debug, Clone, Copy)]
enum Skip {
    Bytes(usize),
    ToNewline,
}

impl Default for SyslogFramer {
    fn default() -> Self {
        SyslogFramer::new(DEFAULT_MAX_FRAME)
    }
}

impl SyslogFramer {
    /// A framer accepting frames of up to `max_frame` bytes.
    pub fn new(max_frame: usize) -> SyslogFramer {
        SyslogFramer {
            buf: BytesMut::new(),
            max_frame,
            offset: 0,
            skipping: None,
        }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
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
    pub fn next_frame(&mut self) -> Option<Result<Bytes, FrameError>> {
        match self.skipping {
            Some(Skip::Bytes(n)) => {
                let take = n.min(self.buf.len());
                self.advance(take);
                if take < n {
                    self.skipping = Some(Skip::Bytes(n - take));
                    return None;
                }
                self.skipping = None;
            }
            Some(Skip::ToNewline) => match memchr::memchr(b'\n', &self.buf) {
                Some(i) => {
                    self.advance(i + 1);
                    self.skipping = None;
                }
                None => {
                    let n = self.buf.len();
                    self.advance(n);
                    return None;
                }
            },
            None => {}
        }
        // Blank lines between frames are not frames.
        let blank = self
            .buf
            .iter()
            .take_while(|c| matches!(c, b'\n' | b'\r'))
            .count();
        self.advance(blank);
        let first = *self.buf.first()?;
        let start = self.offset;
        if first.is_ascii_digit() {
            let digits = self.buf.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == self.buf.len() {
                if digits > 9 {
                    self.skipping = Some(Skip::ToNewline);
                    return Some(Err(FrameError::BadCount { offset: start }));
                }
                return None;
            }
            if self.buf[digits] != b' ' || digits > 9 {
                self.skipping = Some(Skip::ToNewline);
                return Some(Err(FrameError::BadCount { offset: start }));
            }
            let len: usize = std::str::from_utf8(&self.buf[..digits])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(usize::MAX);
            if len > self.max_frame {
                self.advance(digits + 1);
                self.skipping = Some(Skip::Bytes(len));
                return Some(Err(FrameError::TooLarge {
                    offset: start,
                    len,
                    limit: self.max_frame,
                }));
            }
            if self.buf.len() < digits + 1 + len {
                return None;
            }
            self.advance(digits + 1);
            let frame = self.buf.split_to(len).freeze();
            self.offset += len as u64;
            return Some(Ok(frame));
        }
        match memchr::memchr(b'\n', &self.buf) {
            Some(i) if i > self.max_frame => {
                self.advance(i + 1);
                Some(Err(FrameError::TooLarge {
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
                Some(Err(FrameError::TooLarge {
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
    pub fn finish(&mut self) -> Option<Result<Bytes, FrameError>> {
        if let Some(frame) = self.next_frame() {
            return Some(frame);
        }
        if self.skipping.is_some() || self.buf.is_empty() {
            return None;
        }
        let start = self.offset;
        if self.buf[0].is_ascii_digit() {
            let n = self.buf.len();
            self.advance(n);
            return Some(Err(FrameError::BadCount { offset: start }));
        }
        let n = self.buf.len();
        let mut frame = self.buf.split_to(n);
        self.offset += n as u64;
        if frame.last() == Some(&b'\r') {
            frame.truncate(n - 1);
        }
        Some(Ok(frame.freeze()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn frames(f: &mut SyslogFramer) -> Vec<Result<String, FrameError>> {
        let mut out = Vec::new();
        while let Some(r) = f.next_frame() {
            out.push(r.map(|b| String::from_utf8(b.to_vec()).unwrap()));
        }
        out
    }

    #[test]
    fn both_methods_mixed_and_split_anywhere() {
        let stream = b"<13>a\r\n9 <13>b\nc d\n\n<13>e\n5 <13>f";
        for cut in 0..stream.len() {
            let mut f = SyslogFramer::default();
            f.push(&stream[..cut]);
            let mut got = frames(&mut f);
            f.push(&stream[cut..]);
            got.extend(frames(&mut f));
            got.extend(
                f.finish()
                    .into_iter()
                    .map(|r| r.map(|b| String::from_utf8(b.to_vec()).unwrap())),
            );
            let want: Vec<Result<String, FrameError>> = ["<13>a", "<13>b\nc d", "<13>e", "<13>f"]
                .iter()
                .map(|s| Ok(s.to_string()))
                .collect();
            assert_eq!(got, want, "cut at {cut}");
        }
    }

    #[test]
    fn oversized_frames_are_reported_and_skipped() {
        let mut f = SyslogFramer::new(8);
        f.push(b"<13>0123456789\n<13>ok\n22 <13>too-long-for-8-byt<13>x\n");
        let got = frames(&mut f);
        assert!(matches!(
            got[0],
            Err(FrameError::TooLarge { offset: 0, .. })
        ));
        assert_eq!(got[1], Ok("<13>ok".to_owned()));
        assert!(matches!(
            got[2],
            Err(FrameError::TooLarge {
                offset: 22,
                len: 22,
                ..
            })
        ));
        assert_eq!(got[3], Ok("<13>x".to_owned()));
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn bad_counts_resync_at_newline() {
        let mut f = SyslogFramer::default();
        f.push(b"12x <13>a\n<13>b\n");
        let got = frames(&mut f);
        assert_eq!(got[0], Err(FrameError::BadCount { offset: 0 }));
        assert_eq!(got[1], Ok("<13>b".to_owned()));
    }

    proptest! {
        #[test]
        fn octet_counting_round_trip(msgs in proptest::collection::vec("<[0-9]{1,3}>[ -~\n]{0,40}", 0..8), chunk in 1usize..17) {
            let mut stream = Vec::new();
            for m in &msgs {
                stream.extend_from_slice(format!("{} {}", m.len(), m).as_bytes());
            }
            let mut f = SyslogFramer::default();
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
