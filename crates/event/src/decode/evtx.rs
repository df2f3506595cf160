//! Windows EVTX files.
//!
//! The `evtx` crate parses the binary XML of each record and renders it as JSON; we then
//! decode that JSON with the same code as any evtx-shaped JSON ([`super::json`]), so an EVTX
//! file and its evtx_dump rendering give identical events. The JSON rendering is also the
//! event's raw bytes: a binary record means nothing outside its chunk (templates and strings
//! live in the chunk), while the rendering is self-contained.
//!
//! Names, as Sigma rules use them:
//! - `System` children by their element name (`EventID`, `Channel`, `Computer`,
//!   `EventRecordID`, …); their attributes as `Element_Attribute` (`Provider_Name`,
//!   `Provider_Guid`, `EventID_Qualifiers`, `TimeCreated_SystemTime`,
//!   `Execution_ProcessID`, `Security_UserID`);
//! - every `EventData` item by its `Name` (`Image`, `CommandLine`, …), unnamed `<Data>` items
//!   as `Data` (an array when there are several), and `Binary`;
//! - the children of the one element under `UserData` by their own names, deeper levels as
//!   dotted paths;
//! - whitespace is removed from these names: Defender's `Threat Name` is exposed as
//!   `ThreatName`, which is what Sigma rules say (the raw rendering keeps the original);
//! - an `EventData`/`UserData` name that collides with a `System` one is kept as
//!   `EventData.Name` / `UserData.Name`, so nothing overwrites the System fields rules
//!   route on.

use std::collections::VecDeque;
use std::io::{Cursor, Read};
use std::sync::Arc;

use bytes::Bytes;
use evtx::{EvtxChunkData, EvtxParser, IntoIterChunks, ParserSettings};

use super::Decoder;
use crate::error::EventError;
use crate::event::{Event, Format};

/// Size of the EVTX file header block, before the first chunk.
pub const EVTX_HEADER_BYTES: usize = 4096;

/// Size of one EVTX chunk: records, their strings and templates, self-contained.
pub const EVTX_CHUNK_BYTES: usize = 65536;

/// Whether `head` (the first bytes of a file) starts like an EVTX file.
pub fn is_evtx_header(head: &[u8]) -> bool {
    head.starts_with(b"ElfFile\0")
}

/// Where the chunks come from: the whole file (the `evtx` parser, which walks a wrapped-around
/// log from its oldest chunk), or consecutive chunks read from a reader (see
/// [`EvtxRecords::from_reader`]), each into a buffer reused from chunk to chunk.
enum Chunks {
    File(IntoIterChunks<Cursor<Vec<u8>>>),
    Reader {
        reader: Box<dyn Read + Send>,
        spare: Option<Vec<u8>>,
    },
}

/// Reads the next chunk into `buf` (emptied first): up to [`EVTX_CHUNK_BYTES`], fewer at the
/// end of the reader; returns the bytes read. Reads into the buffer's spare capacity, so a
/// reused buffer is not zeroed first (that was 2 % of a hunt's decoding, one 64 KiB memset
/// per file).
fn fill(reader: &mut dyn Read, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    buf.clear();
    buf.reserve_exact(EVTX_CHUNK_BYTES);
    reader.take(EVTX_CHUNK_BYTES as u64).read_to_end(buf)
}

/// The records of one EVTX file, rendered as JSON, in record order.
///
/// Owns the file's bytes; renders one chunk (64 KiB, up to a few hundred records) at a time.
pub struct EvtxRecords {
    chunks: Chunks,
    settings: Arc<ParserSettings>,
    pending: VecDeque<Result<Bytes, EventError>>,
    chunk_index: u64,
    done: bool,
}

impl std::fmt::Debug for EvtxRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvtxRecords")
            .field("chunk_index", &self.chunk_index)
            .field("pending", &self.pending.len())
            .finish()
    }
}

fn evtx_error(context: String, err: &dyn std::error::Error) -> EventError {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    EventError::Evtx { context, message }
}

impl EvtxRecords {
    /// Opens an EVTX file held in memory; fails when its header is not an EVTX header.
    pub fn new(file: Vec<u8>) -> Result<EvtxRecords, EventError> {
        if !is_evtx_header(&file) {
            return Err(EventError::Evtx {
                context: "file header".to_owned(),
                message: "not an EVTX file: it does not start with the ElfFile signature"
                    .to_owned(),
            });
        }
        let settings = ParserSettings::new().indent(false).num_threads(1);
        let parser = EvtxParser::from_buffer(file)
            .map_err(|e| evtx_error("file header".to_owned(), &e))?
            .with_configuration(settings.clone());
        Ok(EvtxRecords {
            chunks: Chunks::File(parser.into_chunks()),
            settings: Arc::new(settings),
            pending: VecDeque::new(),
            chunk_index: 0,
            done: false,
        })
    }

    /// The records of consecutive chunks cut out of an EVTX file: `data` holds whole 64 KiB
    /// chunks (a shorter tail is reported as an incomplete chunk), the first being chunk
    /// number `first_chunk` of the file. See [`EvtxRecords::from_reader`].
    pub fn from_chunks(data: Vec<u8>, first_chunk: u64) -> EvtxRecords {
        EvtxRecords::from_reader(Cursor::new(data), first_chunk)
    }

    /// The records of the consecutive chunks `reader` yields (positioned at the start of
    /// chunk number `first_chunk` of an EVTX file, and limited to the chunks wanted). This
    /// lets several threads share one large file, and reads each chunk straight into a
    /// reused buffer; the caller checks the file header ([`is_evtx_header`]). A shorter
    /// tail is reported as an incomplete chunk; all-zero chunks (unused space of a log) are
    /// skipped, as the file parser does. Records come in file order, not in the order of a
    /// wrapped-around log.
    pub fn from_reader(reader: impl Read + Send + 'static, first_chunk: u64) -> EvtxRecords {
        EvtxRecords::from_reader_with_buffer(reader, first_chunk, None)
    }

    /// [`EvtxRecords::from_reader`], reading chunks into `buffer` when given (the buffer a
    /// previous file gave back to the decoder).
    fn from_reader_with_buffer(
        reader: impl Read + Send + 'static,
        first_chunk: u64,
        buffer: Option<Vec<u8>>,
    ) -> EvtxRecords {
        let settings = ParserSettings::new().indent(false).num_threads(1);
        EvtxRecords {
            chunks: Chunks::Reader {
                reader: Box::new(reader),
                spare: buffer,
            },
            settings: Arc::new(settings),
            pending: VecDeque::new(),
            chunk_index: first_chunk,
            done: false,
        }
    }

    /// The chunk buffer, for the next file's [`EvtxRecords::from_reader_with_buffer`].
    fn take_buffer(&mut self) -> Option<Vec<u8>> {
        match &mut self.chunks {
            Chunks::Reader { spare, .. } => spare.take(),
            Chunks::File(_) => None,
        }
    }

    /// The next chunk of the source, `None` at its end.
    fn next_chunk(&mut self) -> Option<Result<EvtxChunkData, EventError>> {
        let index = self.chunk_index;
        match &mut self.chunks {
            Chunks::File(chunks) => Some(
                chunks
                    .next()?
                    .map_err(|e| evtx_error(format!("chunk {index}"), &e)),
            ),
            Chunks::Reader { reader, spare } => loop {
                let mut buf = spare.take().unwrap_or_default();
                let context = || format!("chunk {}", self.chunk_index);
                let n = fill(reader.as_mut(), &mut buf);
                if !matches!(n, Ok(EVTX_CHUNK_BYTES)) {
                    // Not a chunk: the buffer stays for the next file.
                    *spare = Some(buf);
                    return match n {
                        Ok(0) => None,
                        Ok(n) => Some(Err(EventError::Evtx {
                            context: context(),
                            message: format!("incomplete chunk: {n} bytes of {EVTX_CHUNK_BYTES}"),
                        })),
                        Err(e) => {
                            self.done = true;
                            Some(Err(evtx_error(context(), &e)))
                        }
                    };
                }
                if buf.iter().all(|b| *b == 0) {
                    self.chunk_index += 1;
                    *spare = Some(buf);
                    continue;
                }
                let mut chunk =
                    EvtxChunkData::new(buf, false).map_err(|e| evtx_error(context(), &e));
                if let Ok(chunk) = &mut chunk {
                    chunk.number = Some(self.chunk_index);
                }
                return Some(chunk);
            },
        }
    }

    fn render_next_chunk(&mut self) {
        self.next_chunk_records(None);
    }

    /// Reads the next chunk: with `direct`, decodes its records straight into events when the
    /// direct decoder takes the chunk ([`super::binxml`]); otherwise renders its records as
    /// JSON into `pending`.
    fn next_chunk_records(&mut self, direct: Option<(&mut Decoder, &mut VecDeque<Event>)>) {
        let next = self.next_chunk();
        let index = self.chunk_index;
        self.chunk_index += 1;
        let mut data = match next {
            None => {
                self.done = true;
                return;
            }
            Some(Err(e)) => {
                self.pending.push_back(Err(e));
                return;
            }
            Some(Ok(data)) => data,
        };
        if let Some((decoder, events)) = direct {
            let header = &data.header;
            let taken = decoder.decode_chunk_direct(
                &data.data,
                header.free_space_offset,
                header.last_event_record_id,
                events,
            );
            if taken.is_ok() {
                self.recycle(data);
                return;
            }
        }
        let mut chunk = match data.parse(Arc::clone(&self.settings)) {
            Ok(chunk) => chunk,
            Err(e) => {
                self.pending
                    .push_back(Err(evtx_error(format!("chunk {index}"), &e)));
                return;
            }
        };
        for record in chunk.iter() {
            let rendered = record.and_then(|r| {
                let id = r.event_record_id;
                r.into_json_bytes()
                    .map_err(|e| evtx::err::EvtxError::FailedToParseRecord {
                        record_id: id,
                        source: Box::new(e),
                    })
            });
            self.pending.push_back(match rendered {
                Ok(record) => Ok(Bytes::from(record.data)),
                Err(e) => Err(evtx_error(format!("chunk {index}"), &e)),
            });
        }
        drop(chunk);
        self.recycle(data);
    }

    /// Keeps a chunk's buffer for the next chunk read.
    fn recycle(&mut self, mut data: EvtxChunkData) {
        if let Chunks::Reader { spare, .. } = &mut self.chunks {
            *spare = Some(std::mem::take(&mut data.data));
        }
    }
}

impl Iterator for EvtxRecords {
    type Item = Result<Bytes, EventError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            self.render_next_chunk();
        }
    }
}

/// Events decoded from an EVTX file (see [`Decoder::decode_evtx_file`]).
#[derive(Debug)]
pub struct EvtxEvents<'d> {
    decoder: &'d mut Decoder,
    records: EvtxRecords,
    /// Events of the current chunk, when decoded straight from binary XML.
    events: VecDeque<Event>,
}

impl Drop for EvtxEvents<'_> {
    /// Gives the chunk buffer back to the decoder for its next file.
    fn drop(&mut self) {
        if let Some(buffer) = self.records.take_buffer() {
            self.decoder.evtx_chunk = Some(buffer);
        }
    }
}

impl Iterator for EvtxEvents<'_> {
    type Item = Result<Event, EventError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.decoder.evtx_rendering {
            let record = self.records.next()?;
            return Some(record.and_then(|json| self.decoder.decode_evtx_record(json)));
        }
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(Ok(event));
            }
            if let Some(record) = self.records.pending.pop_front() {
                return Some(record.and_then(|json| self.decoder.decode_evtx_record(json)));
            }
            if self.records.done {
                return None;
            }
            self.records
                .next_chunk_records(Some((&mut *self.decoder, &mut self.events)));
        }
    }
}

impl Decoder {
    /// Decodes every record of an EVTX file held in memory. A damaged chunk or record yields
    /// an error item and decoding goes on with the next one.
    pub fn decode_evtx_file(&mut self, file: Vec<u8>) -> Result<EvtxEvents<'_>, EventError> {
        Ok(EvtxEvents {
            records: EvtxRecords::new(file)?,
            decoder: self,
            events: VecDeque::new(),
        })
    }

    /// Decodes the records of chunks cut out of an EVTX file (see
    /// [`EvtxRecords::from_chunks`]).
    pub fn decode_evtx_chunks(&mut self, data: Vec<u8>, first_chunk: u64) -> EvtxEvents<'_> {
        self.decode_evtx_reader(Cursor::new(data), first_chunk)
    }

    /// Decodes the records of the chunks a reader yields (see
    /// [`EvtxRecords::from_reader`]).
    pub fn decode_evtx_reader(
        &mut self,
        reader: impl Read + Send + 'static,
        first_chunk: u64,
    ) -> EvtxEvents<'_> {
        EvtxEvents {
            records: EvtxRecords::from_reader_with_buffer(
                reader,
                first_chunk,
                self.evtx_chunk.take(),
            ),
            decoder: self,
            events: VecDeque::new(),
        }
    }

    /// Decodes one record rendered as JSON by [`EvtxRecords`] (or evtx_dump).
    pub fn decode_evtx_record(&mut self, json: Bytes) -> Result<Event, EventError> {
        let (fields, facts) = self.json_fields(&json, Format::Evtx)?;
        Ok(self.finish(Format::Evtx, fields, json, &facts))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value as Json;

    use super::*;
    use crate::decode::json::JsonSplitter;
    use crate::decode::tests::decoder;

    /// The text Vigie should hold for a JSON leaf of the evtx_dump rendering.
    fn leaf_text(v: &Json) -> Option<String> {
        match v {
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            Json::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Checks, independently of the decoder's flattening code, that every `EventData` /
    /// `UserData` leaf and the routing `System` fields of the rendering are present under
    /// the documented names.
    fn check_documented_names(event: &Event, json: &Json, file: &std::path::Path) {
        let root = &json["Event"];
        let sys = &root["System"];
        let expect = |name: &str, want: Option<String>| {
            let got = event
                .fields
                .get_by_name(name)
                .and_then(|v| v.as_text().map(str::to_owned));
            let same = match (&got, &want) {
                (Some(a), Some(b)) => same_value(a, b),
                _ => got == want,
            };
            assert!(
                same,
                "{}: field {name}: {got:?} vs {want:?}",
                file.display()
            );
        };
        expect("Channel", leaf_text(&sys["Channel"]));
        expect("Computer", leaf_text(&sys["Computer"]));
        expect(
            "EventID",
            leaf_text(&sys["EventID"]).or_else(|| leaf_text(&sys["EventID"]["#text"])),
        );
        expect(
            "Provider_Name",
            leaf_text(&sys["Provider"]["#attributes"]["Name"]),
        );
        let mut sections = Vec::new();
        if let Some(data) = root["EventData"].as_object() {
            sections.push(data);
        }
        if let Some(user) = root["UserData"].as_object() {
            sections.extend(user.values().filter_map(Json::as_object));
        }
        for section in sections {
            for (key, value) in section {
                if key == "#attributes" {
                    continue;
                }
                let Some(text) = leaf_text(value) else {
                    continue;
                };
                let name: String = key.chars().filter(|c| !c.is_whitespace()).collect();
                let got = event
                    .fields
                    .get_by_name(&name)
                    .and_then(|v| v.as_text())
                    .filter(|t| same_value(t, &text))
                    .or_else(|| {
                        ["EventData.", "UserData."].iter().find_map(|p| {
                            event
                                .fields
                                .get_by_name(&format!("{p}{name}"))
                                .and_then(|v| v.as_text())
                        })
                    });
                assert!(
                    got.is_some_and(|g| same_value(g, &text)),
                    "{}: field {key}: {got:?} vs {text:?}",
                    file.display()
                );
            }
        }
    }

    /// The renderings in the corpus were written by an older evtx_dump, which printed GUIDs
    /// upper-case without braces, times to the microsecond, and trimmed whitespace at the
    /// end of strings; the evtx crate we use prints them as Windows does (`{lower-case}`
    /// GUIDs, 100 ns precision, strings as recorded: Sysmon's `ParentCommandLine` often ends
    /// with a space, which `endswith` rules see). Values are compared modulo exactly these
    /// three differences.
    fn same_value(a: &str, b: &str) -> bool {
        fn guid(s: &str) -> Option<String> {
            let inner = s
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .unwrap_or(s);
            let shape = inner.len() == 36
                && inner.bytes().enumerate().all(|(i, c)| {
                    if [8, 13, 18, 23].contains(&i) {
                        c == b'-'
                    } else {
                        c.is_ascii_hexdigit()
                    }
                });
            shape.then(|| inner.to_ascii_lowercase())
        }
        fn time(s: &str) -> Option<i64> {
            crate::time::parse_rfc3339(s, crate::time::UtcOffset::UTC)
                .ok()
                .map(|(t, _)| t.as_nanos())
        }
        if a == b || a.trim_end() == b {
            return true;
        }
        if let (Some(x), Some(y)) = (guid(a), guid(b)) {
            return x == y;
        }
        if let (Some(x), Some(y)) = (time(a), time(b)) {
            return (x - y).abs() < 1_000;
        }
        false
    }

    fn assert_same_fields(ours: &Event, theirs: &Event, file: &std::path::Path) {
        let names = |e: &Event| e.fields.iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(
            names(ours),
            names(theirs),
            "{}: field names",
            file.display()
        );
        for (id, value) in ours.fields.iter() {
            let other = theirs.fields.get(id).unwrap();
            let same = match (value.as_text(), other.as_text()) {
                (Some(a), Some(b)) => same_value(a, b),
                _ => value == other,
            };
            assert!(
                same,
                "{}: field {id}: {value:?} vs {other:?}",
                file.display()
            );
        }
    }

    #[test]
    fn every_regression_sample_matches_its_json_rendering() {
        let Some(dir) = vigie_testkit::shared("regression/regression_data") else {
            return;
        };
        let files = vigie_testkit::files_with_suffix(&dir, ".evtx");
        assert!(files.len() >= 90, "only {} EVTX samples found", files.len());
        let mut d = decoder();
        let mut records = 0;
        for evtx_path in &files {
            let from_evtx: Vec<Event> = d
                .decode_evtx_file(std::fs::read(evtx_path).unwrap())
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{}: {e}", evtx_path.display()));
            let json_path = evtx_path.with_extension("json");
            let json_bytes = Bytes::from(std::fs::read(&json_path).unwrap());
            let renderings: Vec<Bytes> = JsonSplitter::new(json_bytes)
                .map(|r| r.unwrap().1)
                .collect();
            assert_eq!(
                from_evtx.len(),
                renderings.len(),
                "{}: record count",
                evtx_path.display()
            );
            for (event, rendering) in from_evtx.iter().zip(&renderings) {
                let from_json = d.decode_json(rendering.clone()).unwrap();
                assert_same_fields(event, &from_json, evtx_path);
                let skew = (event.time.as_nanos() - from_json.time.as_nanos()).abs();
                assert!(
                    skew < 1_000,
                    "{}: time {} vs {}",
                    evtx_path.display(),
                    event.time,
                    from_json.time
                );
                assert_eq!(event.host, from_json.host);
                assert_eq!(event.logsource, from_json.logsource);
                assert_eq!(event.logsource.product(), Some("windows"));
                let json: Json = serde_json::from_slice(rendering).unwrap();
                check_documented_names(event, &json, evtx_path);
                records += 1;
            }
        }
        assert!(records >= files.len());
    }

    /// Everything a decoded event carries but its id, receive time and raw bytes.
    fn summary(e: &Event) -> Vec<String> {
        let mut out = vec![
            format!("time={} offset={:?}", e.time, e.time_offset),
            format!("host={:?} logsource={:?}", e.host, e.logsource),
        ];
        out.extend(
            e.fields
                .iter()
                .map(|(id, v)| format!("{}={v:?}", id.name())),
        );
        out
    }

    #[test]
    fn the_direct_decoder_gives_the_fields_of_the_json_rendering() {
        let Some(dir) = vigie_testkit::shared("regression/regression_data") else {
            return;
        };
        let files = vigie_testkit::files_with_suffix(&dir, ".evtx");
        let mut rendering = decoder();
        let mut direct = decoder();
        direct.set_evtx_rendering(false);
        let (mut records, mut decoded_directly) = (0, 0);
        for path in &files {
            let file = std::fs::read(path).unwrap();
            let expected: Vec<_> = rendering
                .decode_evtx_file(file.clone())
                .unwrap()
                .map(|e| e.map(|e| summary(&e)).map_err(|e| e.to_string()))
                .collect();
            let got: Vec<_> = direct
                .decode_evtx_file(file)
                .unwrap()
                .map(|e| {
                    e.map(|e| {
                        decoded_directly += usize::from(e.raw.is_empty());
                        summary(&e)
                    })
                    .map_err(|e| e.to_string())
                })
                .collect();
            assert_eq!(got.len(), expected.len(), "{}", path.display());
            for (got, expected) in got.iter().zip(&expected) {
                assert_eq!(got, expected, "{}", path.display());
            }
            records += expected.len();
        }
        // The direct decoder must take the shapes Windows writes, not leave them all to the
        // rendering.
        assert!(
            decoded_directly * 100 >= records * 95,
            "only {decoded_directly} of {records} records decoded directly"
        );
    }

    #[test]
    fn chunks_cut_out_of_files_decode_like_the_files() {
        let Some(dir) = vigie_testkit::shared("regression/regression_data") else {
            return;
        };
        let files = vigie_testkit::files_with_suffix(&dir, ".evtx");
        let mut d = decoder();
        // Three files' chunks in a row, an unused (all-zero) chunk between them and a torn
        // tail: the events of each file, in order, then one error for the tail.
        let mut run = Vec::new();
        let mut expected = Vec::new();
        for (n, path) in files.iter().take(3).enumerate() {
            let file = std::fs::read(path).unwrap();
            assert!(is_evtx_header(&file));
            for e in d.decode_evtx_file(file.clone()).unwrap() {
                expected.push(summary(&e.unwrap()));
            }
            run.extend_from_slice(&file[EVTX_HEADER_BYTES..EVTX_HEADER_BYTES + EVTX_CHUNK_BYTES]);
            if n == 0 {
                run.resize(run.len() + EVTX_CHUNK_BYTES, 0);
            }
        }
        run.extend_from_slice(&[1; 100]);
        // Twice with the same decoder: the second run reads into the chunk buffer the first
        // one gave back (holding the torn tail's bytes), and must not see them.
        for _ in 0..2 {
            let items: Vec<_> = d.decode_evtx_chunks(run.clone(), 7).collect();
            let (events, errors): (Vec<_>, Vec<_>) = items.into_iter().partition(Result::is_ok);
            let got: Vec<_> = events.into_iter().map(|e| summary(&e.unwrap())).collect();
            assert_eq!(got, expected);
            assert_eq!(errors.len(), 1);
            let err = errors[0].as_ref().unwrap_err().to_string();
            assert!(
                err.contains("chunk 11") && err.contains("incomplete"),
                "{err}"
            );
            assert!(
                d.evtx_chunk.is_some(),
                "the chunk buffer went back to the decoder"
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut d = decoder();
        let err = d
            .decode_evtx_file(b"not an evtx file".to_vec())
            .unwrap_err();
        assert!(err.to_string().contains("evtx"), "{err}");
        let mut header = b"ElfFile\0".to_vec();
        header.resize(8192, 0);
        if let Ok(events) = d.decode_evtx_file(header) {
            for item in events {
                let _ = item;
            }
        }
    }
}
