//! `vigie bench corpus` builds a hunt corpus of any size from real EVTX files (the SigmaHQ
//! regression samples): their chunks, each self-contained (records, strings, templates),
//! are copied round-robin into new multi-chunk EVTX files with a valid file header. The
//! events are real Windows records; only their number and the files' shape are chosen.
//! With `--json` the same records are written as evtx-shaped NDJSON.
//!
//! The regression samples hold one or two records per 64 KiB chunk, where a real log holds
//! dozens to hundreds: every record then pays for parsing its template, which real logs
//! share. `--records-per-chunk R` fills each chunk up to R records with copies of its own
//! records ([`densify`]), so that the EVTX work per event is that of a real log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use vigie_event::decode::evtx::{EVTX_CHUNK_BYTES, EVTX_HEADER_BYTES, EvtxRecords, is_evtx_header};

#[derive(Debug, Args)]
pub(crate) struct CorpusArgs {
    /// Folder of EVTX files to take chunks from (walked recursively).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// Events to write (at least; whole chunks are copied).
    #[arg(long, default_value_t = 8255)]
    events: u64,
    /// Chunks per file written.
    #[arg(long, default_value_t = 1)]
    chunks_per_file: usize,
    /// Records per chunk: each chunk is filled with copies of its own records up to this
    /// many (0: chunks as they are).
    #[arg(long, default_value_t = 30)]
    records_per_chunk: u64,
    /// Write evtx-shaped NDJSON (one record rendering per line) instead of EVTX.
    #[arg(long)]
    json: bool,
    /// Folder to create the corpus in (must not exist or be empty).
    out: PathBuf,
}

/// A chunk and the number of records it holds.
struct Chunk {
    bytes: Vec<u8>,
    records: u64,
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// The non-empty chunks of the EVTX files under `dir`.
fn chunks(dir: &Path) -> Result<Vec<Chunk>> {
    let (files, unreadable) = crate::hunt::inputs::evtx_files(dir);
    if let Some(e) = unreadable.first() {
        anyhow::bail!("{e}");
    }
    let mut chunks = Vec::new();
    for file in files {
        let data =
            std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        if !is_evtx_header(&data) {
            continue;
        }
        for bytes in data[EVTX_HEADER_BYTES.min(data.len())..].chunks_exact(EVTX_CHUNK_BYTES) {
            if !bytes.starts_with(b"ElfChnk\0") {
                continue;
            }
            // Chunk header: first and last event record numbers at offsets 8 and 16.
            let (first, last) = (u64_at(bytes, 8), u64_at(bytes, 16));
            if last < first {
                continue;
            }
            chunks.push(Chunk {
                bytes: bytes.to_vec(),
                records: last - first + 1,
            });
        }
    }
    anyhow::ensure!(
        !chunks.is_empty(),
        "no EVTX chunks found under {}",
        dir.display()
    );
    Ok(chunks)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u32_get(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Chunk header offsets ([MS-EVEN6] 2.4, "Chunk header").
const LAST_RECORD_NUMBER: usize = 16;
const LAST_RECORD_ID: usize = 32;
const LAST_RECORD_OFFSET: usize = 44;
const FREE_SPACE_OFFSET: usize = 48;
const RECORDS_CHECKSUM: usize = 52;
const HEADER_CHECKSUM: usize = 124;
const CHUNK_HEADER_BYTES: usize = 512;
/// BinXml value type of an embedded BinXml fragment, whose offsets are absolute.
const BINXML_VALUE: u8 = 0x21;

/// A copy of the record at `at`, movable anywhere later in the same chunk, or `None` when
/// the record cannot be moved.
///
/// A record is a header (magic, size, id, time), a BinXml stream and the size again. See
/// [`movable_stream`].
fn movable_copy(chunk: &[u8], at: usize) -> Option<Vec<u8>> {
    let size = u32_at(chunk, at + 4) as usize;
    let record = chunk.get(at..at + size)?;
    let stream = movable_stream(chunk, at + 24, size.checked_sub(28)?)?;
    let mut copy = Vec::with_capacity(stream.len() + 28);
    copy.extend_from_slice(&record[..24]);
    copy.extend_from_slice(&stream);
    let new_size = u32::try_from(copy.len() + 4).ok()?.to_le_bytes();
    copy.extend_from_slice(&new_size);
    copy[4..8].copy_from_slice(&new_size);
    Some(copy)
}

/// The BinXml stream at `pos` (`len` bytes), rewritten to be read at another place of the
/// same chunk, or `None` when it has a shape this does not handle.
///
/// A Windows record's stream is a fragment header and one template instance, whose
/// definition is either inline (first use in the chunk, at the offset the instance names)
/// or elsewhere in the chunk; its substitution values may embed further such streams
/// (value type `0x21`: the event's `EventData`). Offsets in a chunk are absolute, so the
/// copy keeps each instance pointing at the original definition and drops the inline
/// one, in the record and in every embedded stream (whose size descriptors are updated).
fn movable_stream(chunk: &[u8], pos: usize, len: usize) -> Option<Vec<u8>> {
    let s = chunk.get(pos..pos + len)?;
    if *s.get(..5)? != [0x0f, 1, 1, 0, 0x0c] {
        return None;
    }
    let definition = 14;
    let inline = u32_get(s, 10)? as usize == pos + definition;
    let values = if inline {
        definition + 24 + u32_get(s, definition + 20)? as usize
    } else {
        definition
    };
    let count = u32_get(s, values)? as usize;
    let descriptors = values + 4;
    let mut data = descriptors.checked_add(count.checked_mul(4)?)?;
    s.get(..data)?;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&s[..definition]);
    out.extend_from_slice(&s[values..data]);
    for i in 0..count {
        let d = descriptors + i * 4;
        let size = usize::from(u16::from_le_bytes([s[d], s[d + 1]]));
        let kind = s[d + 2];
        let value = s.get(data..data + size)?;
        if kind & 0x7f == BINXML_VALUE {
            if kind != BINXML_VALUE {
                return None; // an array of fragments
            }
            let inner = if size == 0 {
                Vec::new()
            } else {
                movable_stream(chunk, pos + data, size)?
            };
            let at = definition + 4 + i * 4;
            out[at..at + 2].copy_from_slice(&u16::try_from(inner.len()).ok()?.to_le_bytes());
            out.extend_from_slice(&inner);
        } else {
            out.extend_from_slice(value);
        }
        data += size;
    }
    out.extend_from_slice(&s[data..]);
    Some(out)
}

/// Fills a chunk with copies of its own records, round-robin, up to `records` records or
/// until it is full; fixes the header (last record, free space, checksums). Returns the
/// records the chunk now holds.
fn densify(chunk: &mut [u8], records: u64) -> u64 {
    let first_number = u64_at(chunk, 8);
    let mut last_number = u64_at(chunk, LAST_RECORD_NUMBER);
    let mut last_id = u64_at(chunk, LAST_RECORD_ID);
    let mut free = u32_at(chunk, FREE_SPACE_OFFSET) as usize;
    let mut copies = Vec::new();
    let mut at = CHUNK_HEADER_BYTES;
    while at + 28 <= free && chunk[at..at + 4] == *b"**\0\0" {
        let size = u32_at(chunk, at + 4) as usize;
        if size < 28 || at + size > free {
            break;
        }
        if let Some(copy) = movable_copy(chunk, at) {
            copies.push(copy);
        }
        at += size;
    }
    let mut held = last_number - first_number + 1;
    let mut last_offset = u32_at(chunk, LAST_RECORD_OFFSET);
    for copy in copies.iter().cycle() {
        if held >= records || free + copy.len() > chunk.len() {
            break;
        }
        last_number += 1;
        last_id += 1;
        chunk[free..free + copy.len()].copy_from_slice(copy);
        chunk[free + 8..free + 16].copy_from_slice(&last_id.to_le_bytes());
        last_offset = free as u32;
        free += copy.len();
        held += 1;
    }
    chunk[LAST_RECORD_NUMBER..LAST_RECORD_NUMBER + 8].copy_from_slice(&last_number.to_le_bytes());
    chunk[LAST_RECORD_ID..LAST_RECORD_ID + 8].copy_from_slice(&last_id.to_le_bytes());
    chunk[LAST_RECORD_OFFSET..LAST_RECORD_OFFSET + 4].copy_from_slice(&last_offset.to_le_bytes());
    chunk[FREE_SPACE_OFFSET..FREE_SPACE_OFFSET + 4].copy_from_slice(&(free as u32).to_le_bytes());
    let records_crc = crc32fast::hash(&chunk[CHUNK_HEADER_BYTES..free]);
    chunk[RECORDS_CHECKSUM..RECORDS_CHECKSUM + 4].copy_from_slice(&records_crc.to_le_bytes());
    let mut header = crc32fast::Hasher::new();
    header.update(&chunk[..120]);
    header.update(&chunk[128..CHUNK_HEADER_BYTES]);
    let header_crc = header.finalize();
    chunk[HEADER_CHECKSUM..HEADER_CHECKSUM + 4].copy_from_slice(&header_crc.to_le_bytes());
    held
}

/// An EVTX file header for `chunks` chunks (the format of [MS-EVEN6] 2.3, "File header").
fn file_header(chunks: usize, next_record: u64) -> Vec<u8> {
    let mut h = vec![0u8; EVTX_HEADER_BYTES];
    h[..8].copy_from_slice(b"ElfFile\0");
    // First chunk number (0), last chunk number, next record identifier.
    h[16..24].copy_from_slice(&(chunks.saturating_sub(1) as u64).to_le_bytes());
    h[24..32].copy_from_slice(&next_record.to_le_bytes());
    h[32..36].copy_from_slice(&128u32.to_le_bytes()); // header size
    h[36..38].copy_from_slice(&1u16.to_le_bytes()); // minor version
    h[38..40].copy_from_slice(&3u16.to_le_bytes()); // major version
    h[40..42].copy_from_slice(&(EVTX_HEADER_BYTES as u16).to_le_bytes());
    h[42..44].copy_from_slice(&(chunks as u16).to_le_bytes());
    // Flags (120) stay 0: clean. Checksum (124): CRC32 of the first 120 bytes.
    let crc = crc32fast::hash(&h[..120]);
    h[124..128].copy_from_slice(&crc.to_le_bytes());
    h
}

#[allow(clippy::print_stderr)]
pub(crate) fn corpus(args: &CorpusArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        args.chunks_per_file > 0,
        "--chunks-per-file must be at least 1"
    );
    if args.out.exists() {
        let empty = std::fs::read_dir(&args.out)
            .with_context(|| format!("cannot read {}", args.out.display()))?
            .next()
            .is_none();
        anyhow::ensure!(empty, "{} exists and is not empty", args.out.display());
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut chunks = chunks(&args.from)?;
    if args.records_per_chunk > 0 {
        for chunk in &mut chunks {
            chunk.records = densify(&mut chunk.bytes, args.records_per_chunk);
        }
    }
    let (mut events, mut files, mut next) = (0u64, 0usize, 0usize);
    while events < args.events {
        let mut batch = Vec::new();
        while batch.len() < args.chunks_per_file && events < args.events {
            let chunk = &chunks[next % chunks.len()];
            next += 1;
            events += chunk.records;
            batch.push(chunk);
        }
        let path = args.out.join(format!(
            "corpus-{files:05}.{}",
            if args.json { "ndjson" } else { "evtx" }
        ));
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        );
        if args.json {
            for chunk in &batch {
                for record in EvtxRecords::from_chunks(chunk.bytes.clone(), 0) {
                    let record = record.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    out.write_all(&record)?;
                    out.write_all(b"\n")?;
                }
            }
        } else {
            out.write_all(&file_header(batch.len(), events + 1))?;
            for chunk in &batch {
                out.write_all(&chunk.bytes)?;
            }
        }
        out.flush()?;
        files += 1;
    }
    eprintln!(
        "wrote {events} events in {files} files to {} ({} source chunks)",
        args.out.display(),
        chunks.len()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_event::{Decoder, Event, Origin, Source, SourceKind, TenantId};

    fn fields(e: &Event) -> Vec<String> {
        e.fields
            .iter()
            .map(|(id, v)| format!("{}={v:?}", id.name()))
            .collect()
    }

    /// Every copy decodes to the same event as the record it copies, and the original
    /// records are untouched. The direct EVTX decoder (`vigie hunt`'s) gives the same
    /// events: in a densified chunk most records replay the plan of an earlier one with the
    /// same shape (`vigie_event::decode::binxml`), which the sparse samples rarely do.
    #[test]
    #[allow(clippy::print_stderr)]
    fn densified_chunks_hold_exact_copies_of_their_records() {
        let Some(root) = vigie_testkit::shared("regression") else {
            return;
        };
        let mut decoder = Decoder::new(Origin::new(
            TenantId::new("t").unwrap(),
            Source::new(SourceKind::File, "t"),
        ));
        let mut direct = Decoder::new(Origin::new(
            TenantId::new("t").unwrap(),
            Source::new(SourceKind::File, "t"),
        ));
        direct.set_evtx_rendering(false);
        let (mut dense, mut total, mut taken) = (0, 0, 0);
        for chunk in chunks(&root).unwrap() {
            let original: Vec<Vec<String>> = decoder
                .decode_evtx_chunks(chunk.bytes.clone(), 0)
                .map(|e| fields(&e.unwrap()))
                .collect();
            let mut bytes = chunk.bytes.clone();
            let held = densify(&mut bytes, 30);
            let copied: Vec<Vec<String>> = decoder
                .decode_evtx_chunks(bytes.clone(), 0)
                .map(|e| fields(&e.unwrap()))
                .collect();
            assert_eq!(copied.len() as u64, held);
            assert_eq!(copied[..original.len()], original[..]);
            for (n, event) in copied.iter().enumerate().skip(original.len()) {
                assert!(
                    original.contains(event),
                    "copy {n} differs from every original"
                );
            }
            let direct_events: Vec<Event> = direct
                .decode_evtx_chunks(bytes.clone(), 0)
                .map(|e| e.unwrap())
                .collect();
            assert_eq!(direct_events.len(), copied.len());
            for (n, (event, rendered)) in direct_events.iter().zip(&copied).enumerate() {
                assert_eq!(&fields(event), rendered, "record {n} decoded directly");
                taken += usize::from(event.raw.is_empty());
            }
            // The header stays valid for a checksum-validating reader.
            assert!(evtx::EvtxChunkData::new(bytes, true).is_ok());
            dense += usize::from(held >= 30);
            total += 1;
        }
        assert!(
            dense * 10 >= total * 9,
            "only {dense} of {total} chunks filled"
        );
        assert!(
            taken >= dense * 30 * 9 / 10,
            "{taken} records decoded directly"
        );
        // Most records replayed a plan: the copies have the shape of their originals.
        let counts = direct.evtx_direct_counts();
        assert_eq!(counts.walked + counts.replayed, taken as u64);
        assert!(counts.replayed * 2 >= taken as u64, "{counts:?}");
    }
}
