//! Turning an HTTP ingest body into the messages of a journal batch: NDJSON or one JSON
//! array, optionally gzip-compressed, each message checked by the same decoder the pipeline
//! will use, so that what is acknowledged as accepted will decode.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use vigie_event::decode::json::JsonSplitter;
use vigie_event::{Decoder, LogSource};

/// A message the body held that was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    /// Its line in the (decompressed) body, from 1.
    pub line: usize,
    /// Why, with the byte position inside the line where the decoder says.
    pub reason: String,
}

/// What a body held.
#[derive(Debug, Default)]
pub struct Split {
    /// The messages that decode.
    pub accepted: Vec<Bytes>,
    /// The ones that do not.
    pub rejected: Vec<Rejection>,
}

/// Why a body could not be read at all.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Inflating it passes the limit.
    #[error("the body inflates past {0} bytes")]
    TooLarge(usize),
    /// It says gzip but is not.
    #[error("invalid gzip body: {0}")]
    Gzip(String),
}

/// Undoes gzip, refusing to inflate past `max` bytes.
pub fn gunzip(body: &[u8], max: usize) -> Result<Bytes, BodyError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max));
    let decoder = flate2::read::GzDecoder::new(body);
    decoder
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Gzip(e.to_string()))?;
    if out.len() > max {
        return Err(BodyError::TooLarge(max));
    }
    Ok(Bytes::from(out))
}

/// Splits a body into messages: a JSON array (first non-blank byte `[`) element by element,
/// anything else line by line (blank lines ignored). Each message is decoded with `decoder`
/// to decide whether it is accepted.
pub fn split_json(body: &Bytes, decoder: &mut Decoder) -> Split {
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
                    check(decoder, bytes, line, &mut split);
                }
                Err(e) => {
                    split.rejected.push(Rejection {
                        line,
                        reason: format!("{e} (the rest of the array is not read)"),
                    });
                    break;
                }
            }
        }
        return split;
    }
    let mut start = 0;
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        let len = line.len();
        if !line.iter().all(u8::is_ascii_whitespace) {
            check(decoder, body.slice(start..start + len), i + 1, &mut split);
        }
        start += len + 1;
    }
    split
}

fn check(decoder: &mut Decoder, message: Bytes, line: usize, split: &mut Split) {
    match decoder.decode_json(message.clone()) {
        Ok(_) => split.accepted.push(message),
        Err(e) => split.rejected.push(Rejection {
            line,
            reason: e.to_string(),
        }),
    }
}

/// Reads `product/service/category` (each part optional, e.g. `windows/sysmon`,
/// `linux//process_creation`) into a logsource; an empty text means "classify".
pub fn parse_logsource(text: &str) -> Result<Option<Arc<LogSource>>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let parts: Vec<&str> = text.split('/').collect();
    let valid = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    };
    if parts.len() > 3 || !parts.iter().all(|p| valid(p)) {
        return Err(format!(
            "logsource {text:?}: expected product/service/category (letters, digits, _ - .)"
        ));
    }
    let get = |i: usize| parts.get(i).copied().filter(|p| !p.is_empty());
    let services: Vec<&str> = get(1).into_iter().collect();
    let categories: Vec<&str> = get(2).into_iter().collect();
    Ok(Some(Arc::new(LogSource::new(
        get(0),
        &services,
        &categories,
    ))))
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

    #[test]
    fn ndjson_lines_are_checked_one_by_one() {
        let body =
            Bytes::from_static(b"{\"a\":1}\n\n{\"a\":\nnot json\n{\"b\":\"\xff\"}\r\n{\"c\":2}");
        let split = split_json(&body, &mut decoder());
        assert_eq!(split.accepted.len(), 2);
        let lines: Vec<usize> = split.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(split.rejected.iter().all(|r| !r.reason.is_empty()));
    }

    #[test]
    fn arrays_are_split_by_element_with_lines() {
        let body = Bytes::from_static(b"[\n{\"a\":1},\n{\"a\":[}, {\"b\":2}\n]");
        let split = split_json(&body, &mut decoder());
        assert_eq!(split.accepted.len(), 2);
        assert_eq!(split.rejected.len(), 1);
        assert_eq!(split.rejected[0].line, 3);
    }

    #[test]
    fn gzip_is_bounded() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 10_000]).expect("write");
        let gz = enc.finish().expect("finish");
        assert_eq!(gunzip(&gz, 10_000).expect("fits").len(), 10_000);
        assert_eq!(gunzip(&gz, 9_999), Err(BodyError::TooLarge(9_999)));
        assert!(matches!(gunzip(b"not gzip", 100), Err(BodyError::Gzip(_))));
    }

    #[test]
    fn logsources_parse() {
        let ls = parse_logsource("windows/sysmon")
            .expect("ok")
            .expect("some");
        assert_eq!(ls.product(), Some("windows"));
        assert_eq!(ls.services().collect::<Vec<_>>(), vec!["sysmon"]);
        let ls = parse_logsource("linux//process_creation")
            .expect("ok")
            .expect("some");
        assert_eq!(
            ls.categories().collect::<Vec<_>>(),
            vec!["process_creation"]
        );
        assert!(parse_logsource("").expect("ok").is_none());
        assert!(parse_logsource("a/b/c/d").is_err());
        assert!(parse_logsource("a b").is_err());
    }
}
