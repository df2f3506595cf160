//! Turning an HTTP ingest body into the messages of a journal batch: NDJSON or one JSON
//! array, optionally gzip-compressed, each message checked by the same decoder the pipeline
//! will use, so that what is acknowledged as accepted will decode.

use std::io::Read;

use bytes::Bytes;
use vigie_event::decode::json::JsonSplitter;
use vigie_event::{Decoder, Event, Scalar, Timestamp};

use crate::ServerError;
use crate::limits::{TenantLimits, TimeVerdict, judge_time};

/// A message the body held that was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    /// Its line in the (decompressed) body, from 1.
    pub line: usize,
    /// Why, with the byte position inside the line where the decoder says.
    pub reason: String,
}

/// Rejections listed per body at most; the count stays exact.
pub const MAX_LISTED_REJECTIONS: usize = 1000;

/// What a body held.
#[derive(Debug, Default)]
pub struct Split {
    /// The messages that decode.
    pub accepted: Vec<Bytes>,
    /// The first [`MAX_LISTED_REJECTIONS`] that do not.
    pub rejected: Vec<Rejection>,
    /// How many do not.
    pub rejected_count: usize,
    /// Splitting stopped at the limit of accepted messages: the body holds more.
    pub over_limit: bool,
}

impl Split {
    fn reject(&mut self, line: usize, reason: impl FnOnce() -> String) {
        self.rejected_count += 1;
        if self.rejected.len() < MAX_LISTED_REJECTIONS {
            self.rejected.push(Rejection {
                line,
                reason: reason(),
            });
        }
    }
}

/// What ingest checks each message against, beyond decoding.
#[derive(Clone, Debug)]
pub struct Checks {
    /// The tenant's limits (event-time window, messages per body).
    pub limits: TenantLimits,
    /// The receive time the window is measured from.
    pub received: Timestamp,
}

/// Undoes gzip, refusing to inflate past `max` bytes. Every member of a multi-member body
/// (RFC 1952 §2.2: concatenated gzip files, as `cat a.gz b.gz` or `pigz` make) is inflated;
/// bytes after the last member that are not one are an error, not dropped. `grow` is asked
/// before the output passes each further MiB: memory is taken as it is used, not reserved
/// for the worst case, and a `false` stops inflating ([`ServerError::BodyNoMemory`]).
pub fn gunzip(
    body: &[u8],
    max: usize,
    grow: &mut dyn FnMut(usize) -> bool,
) -> Result<Bytes, ServerError> {
    const STEP: usize = 1 << 20;
    let mut out: Vec<u8> = Vec::with_capacity(body.len().saturating_mul(2).min(max).min(STEP));
    let mut granted = 0usize;
    let mut decoder = flate2::read::MultiGzDecoder::new(body);
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = decoder
            .read(&mut chunk)
            .map_err(|e| ServerError::BodyGzip(e.to_string()))?;
        if n == 0 {
            break;
        }
        if out.len() + n > max {
            return Err(ServerError::BodyTooLarge(max));
        }
        while out.len() + n > granted {
            if !grow(STEP) {
                return Err(ServerError::BodyNoMemory);
            }
            granted += STEP;
        }
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(Bytes::from(out))
}

/// Splits a body into messages: a JSON array (first non-blank byte `[`) element by element,
/// anything else line by line (blank lines ignored). Each message is decoded with `decoder`
/// to decide whether it is accepted, then its time checked against the tenant's window.
/// Memory stays bounded by the body whatever it holds: at most
/// `limits.max_events_per_batch` messages are kept (one more stops the split, `over_limit`),
/// and rejections are counted, only the first [`MAX_LISTED_REJECTIONS`] listed.
pub fn split_json(body: &Bytes, decoder: &mut Decoder, checks: &Checks) -> Split {
    let mut split = Split::default();
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|i| body[i] == b'[') {
        let mut line = 1;
        let mut counted = 0;
        for item in JsonSplitter::new(body.clone()) {
            match item {
                Ok((offset, bytes)) => {
                    line += memchr::memchr_iter(b'\n', &body[counted..offset]).count();
                    counted = offset;
                    if !check(decoder, checks, bytes, line, &mut split) {
                        break;
                    }
                }
                Err(e) => {
                    split.reject(line, || format!("{e} (the rest of the array is not read)"));
                    break;
                }
            }
        }
        return split;
    }
    let mut start = 0;
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        let len = line.len();
        if !line.iter().all(u8::is_ascii_whitespace)
            && !check(
                decoder,
                checks,
                body.slice(start..start + len),
                i + 1,
                &mut split,
            )
        {
            break;
        }
        start += len + 1;
    }
    split
}

/// Decides one message; `false` once the body holds more messages than allowed.
fn check(
    decoder: &mut Decoder,
    checks: &Checks,
    message: Bytes,
    line: usize,
    split: &mut Split,
) -> bool {
    match decoder.decode_json(message.clone()) {
        Ok(event) => match judge_time(&checks.limits, event.time, checks.received) {
            TimeVerdict::Reject(why) => split.reject(line, || why.to_owned()),
            TimeVerdict::Keep | TimeVerdict::Clamp(_) => {
                if split.accepted.len() >= checks.limits.max_events_per_batch {
                    split.over_limit = true;
                    return false;
                }
                split.accepted.push(message);
            }
        },
        Err(e) => split.reject(line, || e.to_string()),
    }
    true
}

/// The field that keeps the time an event carried when the tenant's window clamped it.
pub const ORIGINAL_TIME_FIELD: &str = "vigie.original_time";

/// Moves `event` to `at` (its receive time), keeping the time it carried in
/// [`ORIGINAL_TIME_FIELD`] (RFC 3339), so nothing the source said is lost.
pub fn clamp_time(event: &mut Event, at: Timestamp) {
    let original = event.time.to_rfc3339(event.time_offset);
    // A constant name: interning it cannot fail, and a full event keeps its raw bytes anyway.
    let _ = event
        .fields
        .insert_named(ORIGINAL_TIME_FIELD, Scalar::Str(&original));
    event.time = at;
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use vigie_event::{Origin, Source, SourceKind, TenantId};

    use super::*;

    fn decoder() -> Decoder {
        let tenant = TenantId::new("t").expect("tenant");
        Decoder::new(Origin::new(tenant, Source::new(SourceKind::Http, "http")))
    }

    fn checks() -> Checks {
        Checks {
            limits: TenantLimits::default(),
            received: Timestamp::now(),
        }
    }

    #[test]
    fn ndjson_lines_are_checked_one_by_one() {
        let body =
            Bytes::from_static(b"{\"a\":1}\n\n{\"a\":\nnot json\n{\"b\":\"\xff\"}\r\n{\"c\":2}");
        let split = split_json(&body, &mut decoder(), &checks());
        assert_eq!(split.accepted.len(), 2);
        let lines: Vec<usize> = split.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(split.rejected.iter().all(|r| !r.reason.is_empty()));
    }

    #[test]
    fn arrays_are_split_by_element_with_lines() {
        let body = Bytes::from_static(b"[\n{\"a\":1},\n{\"a\":[}, {\"b\":2}\n]");
        let split = split_json(&body, &mut decoder(), &checks());
        assert_eq!(split.accepted.len(), 2);
        assert_eq!(split.rejected.len(), 1);
        assert_eq!(split.rejected[0].line, 3);
    }

    #[test]
    fn splitting_stops_past_the_limit_and_counts_every_rejection() {
        let mut body = Vec::new();
        for _ in 0..5000 {
            body.extend_from_slice(b"not json\n");
        }
        let body = Bytes::from(body);
        let split = split_json(&body, &mut decoder(), &checks());
        assert_eq!(split.rejected_count, 5000);
        assert_eq!(split.rejected.len(), MAX_LISTED_REJECTIONS);
        assert_eq!(split.rejected[999].line, 1000);
        let small = Checks {
            limits: TenantLimits {
                max_events_per_batch: 3,
                ..TenantLimits::default()
            },
            ..checks()
        };
        let body = Bytes::from_static(b"{}\n{}\n{}\n");
        let split = split_json(&body, &mut decoder(), &small);
        assert_eq!((split.accepted.len(), split.over_limit), (3, false));
        let body = Bytes::from_static(b"{}\n{}\n{}\n{}\n{}\n");
        let split = split_json(&body, &mut decoder(), &small);
        assert_eq!((split.accepted.len(), split.over_limit), (3, true));
        let body = Bytes::from_static(b"[{},{},{},{}]");
        assert!(split_json(&body, &mut decoder(), &small).over_limit);
    }

    #[test]
    fn times_outside_the_window_are_refused_or_kept_for_clamping() {
        let reject = Checks {
            limits: TenantLimits {
                out_of_window: crate::limits::OutOfWindow::Reject,
                ..TenantLimits::default()
            },
            received: Timestamp::from_nanos(1_795_132_800 * 1_000_000_000),
        };
        let body = Bytes::from_static(
            b"{\"@timestamp\":\"1700-01-01T00:00:00Z\"}\n{\"@timestamp\":\"2026-11-20T00:00:00Z\"}\n{\"@timestamp\":\"2200-01-01T00:00:00Z\"}\n",
        );
        let split = split_json(&body, &mut decoder(), &reject);
        assert_eq!(split.accepted.len(), 1);
        let lines: Vec<usize> = split.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![1, 3]);
        assert!(split.rejected[0].reason.contains("max_event_age_days"));
        assert!(split.rejected[1].reason.contains("max_event_future_hours"));
        let clamp = Checks {
            limits: TenantLimits::default(),
            ..reject
        };
        assert_eq!(split_json(&body, &mut decoder(), &clamp).accepted.len(), 3);
    }

    #[test]
    fn a_clamped_event_keeps_the_time_it_carried() {
        let body = Bytes::from_static(b"{\"@timestamp\":\"1700-01-01T00:00:00+02:00\",\"a\":1}");
        let mut event = decoder().decode_json(body).expect("decodes");
        let at = Timestamp::from_nanos(1_795_132_800 * 1_000_000_000);
        clamp_time(&mut event, at);
        assert_eq!(event.time, at);
        assert_eq!(
            event
                .fields
                .get_by_name(ORIGINAL_TIME_FIELD)
                .and_then(|v| v.as_str()),
            Some("1700-01-01T00:00:00+02:00")
        );
    }

    #[test]
    fn every_gzip_member_is_inflated() {
        let member = |text: &[u8]| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(text).expect("write");
            enc.finish().expect("finish")
        };
        let mut body = member(b"{\"a\":1}\n");
        body.extend(member(b"{\"a\":2}\n"));
        body.extend(member(b"{\"a\":3}\n"));
        let out = gunzip(&body, 1000, &mut |_| true).expect("inflates");
        assert_eq!(&out[..], b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
        // Garbage after the last member is an error, not silently dropped.
        body.extend_from_slice(b"trailing garbage");
        assert!(matches!(
            gunzip(&body, 1000, &mut |_| true),
            Err(ServerError::BodyGzip(_))
        ));
    }

    #[test]
    fn gzip_is_bounded() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 10_000]).expect("write");
        let gz = enc.finish().expect("finish");
        let mut asked = 0;
        let out = gunzip(&gz, 10_000, &mut |n| {
            asked += n;
            true
        });
        assert_eq!(out.expect("fits").len(), 10_000);
        assert_eq!(asked, 1 << 20);
        assert!(matches!(
            gunzip(&gz, 9_999, &mut |_| true),
            Err(ServerError::BodyTooLarge(9_999))
        ));
        assert!(matches!(
            gunzip(&gz, 10_000, &mut |_| false),
            Err(ServerError::BodyNoMemory)
        ));
        assert!(matches!(
            gunzip(b"not gzip", 100, &mut |_| true),
            Err(ServerError::BodyGzip(_))
        ));
        // Memory is asked a MiB at a time, as the output grows.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 3 << 20]).expect("write");
        let gz = enc.finish().expect("finish");
        let mut steps = 0;
        let out = gunzip(&gz, 4 << 20, &mut |_| {
            steps += 1;
            true
        });
        assert_eq!(out.expect("fits").len(), 3 << 20);
        assert_eq!(steps, 3);
        let mut allowed = 2;
        let refused = gunzip(&gz, 4 << 20, &mut |_| {
            allowed -= 1;
            allowed >= 0
        });
        assert!(matches!(refused, Err(ServerError::BodyNoMemory)));
    }
}
