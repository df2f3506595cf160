//! What `vigie hunt` reads: the paths given, walked into files, and the files cut into jobs
//! that threads take one at a time.
//!
//! Decisions:
//! - In a folder, files are picked by extension (`.evtx`; `.json`, `.jsonl`, `.ndjson`); the
//!   others are counted by extension and reported once, not one line each. A file named
//!   explicitly is read whatever its extension: its first bytes decide (EVTX header, or a
//!   JSON object/array), else it is an error naming the file.
//! - Symbolic links to folders are not followed (no loops); links to files are read.
//! - An EVTX file is read as runs of up to [`CHUNKS_PER_JOB`] chunks, which threads decode
//!   in parallel (each chunk is self-contained), each chunk read straight into a reused
//!   buffer. A torn tail (less than a whole chunk) is ignored, as the EVTX parser does.
//! - JSON files are one job each: objects can span lines, so they cannot be cut blindly.
//! - Jobs are ordered largest first, so that the last job to finish is a small one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use vigie_event::decode::evtx::{EVTX_CHUNK_BYTES, EVTX_HEADER_BYTES, is_evtx_header};

/// EVTX chunks (64 KiB each) per job.
pub(crate) const CHUNKS_PER_JOB: u64 = 16;

/// The format of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Evtx,
    Json,
}

/// One file to hunt in.
#[derive(Debug)]
pub(crate) struct Input {
    pub(crate) path: PathBuf,
    pub(crate) kind: Kind,
    pub(crate) size: u64,
}

/// A piece of work: a whole file, or a run of chunks of an EVTX file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Job {
    /// Index in the input list.
    pub(crate) input: usize,
    pub(crate) part: Part,
    /// Bytes this job reads (for scheduling and progress).
    pub(crate) bytes: u64,
}

/// Which part of a file a job reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part {
    Whole,
    /// Chunks `first..first + count` of an EVTX file.
    Chunks {
        first: u64,
        count: u64,
    },
}

/// The files found under the paths given, and what went wrong or was left out.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub(crate) inputs: Vec<Input>,
    /// Paths that could not be read, with the reason.
    pub(crate) errors: Vec<String>,
    /// Files left out of folders, counted by extension.
    pub(crate) skipped: BTreeMap<String, usize>,
}

impl Found {
    /// Files skipped in all.
    pub(crate) fn skipped_count(&self) -> usize {
        self.skipped.values().sum()
    }
}

fn kind_by_extension(path: &Path) -> Option<Kind> {
    let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
    match ext.as_str() {
        "evtx" => Some(Kind::Evtx),
        "json" | "jsonl" | "ndjson" => Some(Kind::Json),
        _ => None,
    }
}

/// The format of a file named explicitly, by extension, else by its first bytes.
fn kind_of_named_file(path: &Path) -> Result<Kind, String> {
    if let Some(kind) = kind_by_extension(path) {
        return Ok(kind);
    }
    let mut head = [0u8; 512];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let head = &head[..n];
    if is_evtx_header(head) {
        return Ok(Kind::Evtx);
    }
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => Ok(Kind::Json),
        _ => Err(format!(
            "{}: not an EVTX file (no ElfFile header) nor JSON (does not start with {{ or [)",
            path.display()
        )),
    }
}

/// Walks the paths given into the files to read, in path order.
pub(crate) fn find(paths: &[PathBuf]) -> Found {
    let mut found = Found::default();
    for path in paths {
        match std::fs::metadata(path) {
            Err(e) => found
                .errors
                .push(format!("cannot read {}: {e}", path.display())),
            Ok(meta) if meta.is_dir() => walk(path, &mut found),
            Ok(meta) => match kind_of_named_file(path) {
                Ok(kind) => found.inputs.push(Input {
                    path: path.clone(),
                    kind,
                    size: meta.len(),
                }),
                Err(e) => found.errors.push(e),
            },
        }
    }
    found
}

fn walk(dir: &Path, found: &mut Found) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            found
                .errors
                .push(format!("cannot read folder {}: {e}", dir.display()));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => paths.push(entry.path()),
            Err(e) => found
                .errors
                .push(format!("cannot read folder {}: {e}", dir.display())),
        }
    }
    paths.sort();
    for path in paths {
        // symlink_metadata: a link to a folder is not walked into.
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) => {
                found
                    .errors
                    .push(format!("cannot read {}: {e}", path.display()));
                continue;
            }
        };
        if meta.is_dir() {
            walk(&path, found);
            continue;
        }
        let Some(kind) = kind_by_extension(&path) else {
            let ext = path
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy().to_ascii_lowercase()))
                .unwrap_or_else(|| "(no extension)".to_owned());
            *found.skipped.entry(ext).or_default() += 1;
            continue;
        };
        // A link to a file: the size of its target.
        let size = match std::fs::metadata(&path) {
            Ok(target) if target.is_file() => target.len(),
            Ok(_) => {
                *found.skipped.entry("(not a file)".to_owned()).or_default() += 1;
                continue;
            }
            Err(e) => {
                found
                    .errors
                    .push(format!("cannot read {}: {e}", path.display()));
                continue;
            }
        };
        found.inputs.push(Input { path, kind, size });
    }
}

/// The EVTX files under `dir` (walked recursively), in path order, and the paths that could
/// not be read.
pub(crate) fn evtx_files(dir: &Path) -> (Vec<PathBuf>, Vec<String>) {
    let found = find(&[dir.to_owned()]);
    let files = found
        .inputs
        .into_iter()
        .filter(|i| i.kind == Kind::Evtx)
        .map(|i| i.path)
        .collect();
    (files, found.errors)
}

/// Cuts the inputs into jobs, largest first.
pub(crate) fn plan(inputs: &[Input]) -> Vec<Job> {
    let mut jobs = Vec::new();
    let header = EVTX_HEADER_BYTES as u64;
    let chunk = EVTX_CHUNK_BYTES as u64;
    for (index, input) in inputs.iter().enumerate() {
        if input.kind == Kind::Evtx && has_evtx_header(&input.path) {
            let chunks = input.size.saturating_sub(header) / chunk;
            let mut first = 0;
            loop {
                let count = CHUNKS_PER_JOB.min(chunks - first);
                jobs.push(Job {
                    input: index,
                    part: Part::Chunks { first, count },
                    bytes: (count * chunk).max(1),
                });
                first += count;
                if first >= chunks {
                    break;
                }
            }
        } else {
            // JSON, or a file whose header is not EVTX: read whole (the parser reports the
            // bad header once).
            jobs.push(Job {
                input: index,
                part: Part::Whole,
                bytes: input.size,
            });
        }
    }
    jobs.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.input.cmp(&b.input)));
    jobs
}

fn has_evtx_header(path: &Path) -> bool {
    let mut head = [0u8; 8];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| is_evtx_header(&head))
}

/// A reader of a run of chunks of an EVTX file, positioned at the first.
pub(crate) fn chunk_reader(
    path: &Path,
    first: u64,
    count: u64,
) -> std::io::Result<std::io::Take<File>> {
    let chunk = EVTX_CHUNK_BYTES as u64;
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(EVTX_HEADER_BYTES as u64 + first * chunk))?;
    Ok(file.take(count * chunk))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        crate::manifest_dir().join("tests/fixtures/hunt")
    }

    #[test]
    fn folders_are_walked_by_extension_and_the_rest_counted() {
        let found = find(&[fixtures().join("logs")]);
        let names: Vec<_> = found
            .inputs
            .iter()
            .map(|i| i.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "broken.evtx",
                "findstr_lsass.evtx",
                "events.ndjson",
                "wmic_recon.json"
            ]
        );
        assert_eq!(found.skipped.get(".txt"), Some(&1));
        assert!(found.errors.is_empty(), "{:?}", found.errors);
    }

    #[test]
    fn missing_paths_and_unknown_named_files_are_errors_naming_them() {
        let found = find(&[
            fixtures().join("no-such-folder"),
            fixtures().join("logs/notes.txt"),
        ]);
        assert!(found.inputs.is_empty());
        assert_eq!(found.errors.len(), 2);
        assert!(
            found.errors[0].contains("no-such-folder"),
            "{:?}",
            found.errors
        );
        assert!(
            found.errors[1].contains("notes.txt: not an EVTX file"),
            "{:?}",
            found.errors
        );
    }

    #[test]
    fn large_evtx_files_are_cut_into_runs_of_chunks() {
        let chunk = EVTX_CHUNK_BYTES as u64;
        let dir = std::env::temp_dir().join(format!("vigie-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.evtx");
        let mut bytes = b"ElfFile\0".to_vec();
        bytes.resize(EVTX_HEADER_BYTES + 40 * EVTX_CHUNK_BYTES + 10, 0);
        std::fs::write(&big, &bytes).unwrap();
        let small = dir.join("small.evtx");
        std::fs::write(&small, &bytes[..EVTX_HEADER_BYTES + EVTX_CHUNK_BYTES]).unwrap();
        let text = dir.join("text.evtx");
        std::fs::write(&text, "not EVTX").unwrap();
        let input = |path: &Path| Input {
            path: path.to_owned(),
            kind: Kind::Evtx,
            size: std::fs::metadata(path).unwrap().len(),
        };
        let inputs = vec![input(&small), input(&big), input(&text)];
        let jobs = plan(&inputs);
        let parts: Vec<_> = jobs
            .iter()
            .map(|j| match j.part {
                Part::Whole => (j.input, u64::MAX, j.bytes),
                Part::Chunks { first, count } => (j.input, first, count),
            })
            .collect();
        assert_eq!(
            parts,
            [
                (1, 0, 16),
                (1, 16, 16),
                (1, 32, 8),
                (0, 0, 1),
                (2, u64::MAX, 8)
            ]
        );
        let mut data = Vec::new();
        chunk_reader(&big, 32, 8)
            .unwrap()
            .read_to_end(&mut data)
            .unwrap();
        assert_eq!(data.len() as u64, 8 * chunk);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
