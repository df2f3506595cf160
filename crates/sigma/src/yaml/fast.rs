//! A fast reader for the YAML that Sigma rules are written in, with saphyr behind it.
//!
//! Parsing the windows rules with saphyr cost about half of loading them (90 instructions a
//! byte, then a second tree to convert). Rules use a small part of YAML: block mappings and
//! sequences, plain and quoted scalars on one line, literal and simple folded block scalars,
//! one-line flow sequences, comments. This reader handles exactly that part and answers
//! `None` for anything else (anchors, aliases, tags, flow mappings, multi-line plain or
//! quoted scalars, rarer escapes, several documents, tabs in indentation, duplicate keys…),
//! and the caller then parses the text with saphyr, which also reports errors. A test reads
//! every rule of the corpus both ways and compares the trees, lines included.

use super::{Node, Scalar};

/// Nesting beyond which the reader gives up (saphyr then reports the depth error): the
/// depth of a node as the saphyr path counts it (the root is 0, a key or value one more
/// than its mapping, an item one more than its sequence).
const MAX_DEPTH: usize = super::MAX_DEPTH;

#[derive(Clone, Copy, Debug)]
struct Line<'a> {
    /// 1-based line number.
    no: usize,
    /// Column of the content (spaces before it).
    indent: usize,
    /// The text after the indentation, trailing spaces and tabs removed.
    content: &'a str,
    /// Length of the line as written (without its line end).
    raw_len: usize,
}

impl Line<'_> {
    /// Blank or comment only: no structure.
    fn is_blank(&self) -> bool {
        self.content.is_empty() || self.content.starts_with('#')
    }

    /// A block sequence entry (`-` then a space or the end).
    fn is_entry(&self) -> bool {
        self.content == "-" || self.content.starts_with("- ")
    }
}

struct Reader<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
}

/// The documents of `text`, or `None` when it uses YAML beyond the subset.
pub(super) fn load(text: &str) -> Option<Vec<Node>> {
    if text.starts_with('\u{feff}') || !printable(text) {
        return None;
    }
    let mut lines = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.contains('\r') {
            return None;
        }
        let content = raw.trim_start_matches(' ');
        if content.starts_with('\t') {
            return None; // a tab in the indentation
        }
        let indent = raw.len() - content.len();
        if indent == 0
            && (content.starts_with("---")
                || content.starts_with("...")
                || content.starts_with('%'))
        {
            return None; // document markers and directives
        }
        let content = content.trim_end_matches([' ', '\t']);
        lines.push(Line {
            no: n + 1,
            indent,
            content,
            raw_len: raw.len(),
        });
    }
    let mut r = Reader { lines, pos: 0 };
    r.skip_blank();
    if r.pos >= r.lines.len() {
        return Some(Vec::new());
    }
    let indent = r.lines[r.pos].indent;
    let node = r.block(indent, 0)?;
    r.skip_blank();
    (r.pos >= r.lines.len()).then(|| vec![node])
}

/// Whether every character is one YAML allows in a stream (saphyr rejects the others).
fn printable(text: &str) -> bool {
    let ascii_ok = |b: u8| matches!(b, b'\t' | b'\n' | b'\r' | 0x20..=0x7e);
    if text.is_ascii() {
        return text.bytes().all(ascii_ok);
    }
    text.chars().all(|c| match u32::from(c) {
        0..=0x7f => ascii_ok(c as u8),
        0x85 | 0xa0..=0xd7ff | 0xe000..=0xfffd | 0x10000.. => true,
        _ => false,
    })
}

/// Where the `:` of a `key: value` line is, when the line is one with a plain key.
fn key_colon(content: &str) -> Option<usize> {
    let first = content.chars().next()?;
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return None;
    }
    let bytes = content.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b':' if bytes.get(i + 1).is_none_or(|b| matches!(b, b' ' | b'\t')) => {
                return Some(i);
            }
            b'#' if i > 0 && matches!(bytes[i - 1], b' ' | b'\t') => return None,
            _ => {}
        }
    }
    None
}

/// The text before a ` #` comment.
fn before_comment(text: &str) -> &str {
    let bytes = text.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] == b'#' && matches!(bytes[i - 1], b' ' | b'\t') {
            return text[..i].trim_end_matches([' ', '\t']);
        }
    }
    text
}

/// Whether only a comment (or nothing) is left.
fn only_comment(rest: &str) -> bool {
    let rest = rest.trim_start_matches([' ', '\t']);
    rest.is_empty() || rest.starts_with('#')
}

/// Whether what follows a closing quote or bracket ends the line: nothing, or whitespace
/// then an optional comment (a comment must be separated by whitespace).
fn line_ends(rest: &str) -> bool {
    rest.is_empty() || (rest.starts_with([' ', '\t']) && only_comment(rest))
}

fn scalar(text: String, quoted: bool, line: usize) -> Node {
    Node::Scalar(Scalar { text, quoted, line })
}

impl<'a> Reader<'a> {
    fn skip_blank(&mut self) {
        while self.lines.get(self.pos).is_some_and(Line::is_blank) {
            self.pos += 1;
        }
    }

    /// The next line with structure, without moving.
    fn peek(&mut self) -> Option<Line<'a>> {
        self.skip_blank();
        self.lines.get(self.pos).copied()
    }

    /// A block node whose first line is at `pos`, at column `indent`.
    fn block(&mut self, indent: usize, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        let line = self.peek()?;
        if line.indent != indent {
            return None;
        }
        if line.is_entry() {
            self.sequence(indent, depth)
        } else if key_colon(line.content).is_some() {
            self.mapping(indent, depth)
        } else {
            None // a scalar document, or a line this reader does not know
        }
    }

    fn mapping(&mut self, indent: usize, depth: usize) -> Option<Node> {
        let start = self.peek()?.no;
        let mut entries: Vec<(Scalar, Node)> = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || line.is_entry() {
                return None;
            }
            let colon = key_colon(line.content)?;
            // YAML limits implicit keys to 1024 characters; saphyr enforces it.
            if colon > 1000 {
                return None;
            }
            let key = line.content[..colon].trim_end_matches([' ', '\t']);
            if entries.iter().any(|(k, _)| k.text == key) {
                return None; // saphyr reports it
            }
            let key = Scalar {
                text: key.to_owned(),
                quoted: false,
                line: line.no,
            };
            let rest = &line.content[colon + 1..];
            self.pos += 1;
            let value = self.value(rest, line, indent, true, depth + 1)?;
            entries.push((key, value));
        }
        Some(Node::Map(entries, start))
    }

    fn sequence(&mut self, indent: usize, depth: usize) -> Option<Node> {
        let start = self.peek()?.no;
        let mut items = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent {
                return None;
            }
            if !line.is_entry() {
                break; // the mapping this sequence is the value of goes on
            }
            let after = &line.content[1..];
            let rest = after.trim_start_matches(' ');
            if rest.starts_with('\t') {
                return None; // tabs as separation: left to saphyr
            }
            if rest.is_empty() || rest.starts_with('#') {
                self.pos += 1;
                items.push(self.value("", line, indent, false, depth + 1)?);
                continue;
            }
            // The entry's content as a line of its own, at its column.
            let inner = Line {
                no: line.no,
                indent: line.indent + 1 + (after.len() - rest.len()),
                content: rest,
                raw_len: line.raw_len,
            };
            if inner.is_entry() || key_colon(rest).is_some() {
                self.lines[self.pos] = inner;
                items.push(self.block(inner.indent, depth + 1)?);
            } else {
                self.pos += 1;
                items.push(self.inline(rest, line.no, indent, depth + 1)?);
            }
        }
        Some(Node::Seq(items, start))
    }

    /// The value after `key:` (or after an empty `-`), `rest` being the text left on the
    /// line. `indent` is the column of the key or dash; `in_map` allows a sequence at the
    /// key's own column.
    fn value(
        &mut self,
        rest: &str,
        line: Line<'a>,
        indent: usize,
        in_map: bool,
        depth: usize,
    ) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        let text = rest.trim_start_matches(' ');
        if text.starts_with('\t') {
            return None; // tabs as separation: left to saphyr
        }
        if text.is_empty() || text.starts_with('#') {
            return match self.peek() {
                Some(next) if next.indent > indent => self.block(next.indent, depth),
                Some(next) if in_map && next.indent == indent && next.is_entry() => {
                    self.sequence(indent, depth)
                }
                // An empty value: saphyr places it on the key's line.
                _ => Some(scalar(String::new(), false, line.no)),
            };
        }
        if text.starts_with(['|', '>']) {
            return self.block_scalar(text, line, indent);
        }
        self.inline(text, line.no, indent, depth)
    }

    /// A scalar or flow sequence that starts and ends on this line; the next line must
    /// not continue it (be more indented than `indent`).
    fn inline(&mut self, text: &str, no: usize, indent: usize, depth: usize) -> Option<Node> {
        // A flow sequence's items are one level deeper.
        if depth > MAX_DEPTH || (depth == MAX_DEPTH && text.starts_with('[')) {
            return None;
        }
        let node = match text.as_bytes()[0] {
            b'\'' => {
                let (value, rest) = single_quoted(&text[1..])?;
                line_ends(rest).then_some(())?;
                scalar(value, true, no)
            }
            b'"' => {
                let (value, rest) = double_quoted(&text[1..])?;
                line_ends(rest).then_some(())?;
                scalar(value, true, no)
            }
            b'[' => flow_sequence(&text[1..], no)?,
            b'{' | b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b'|' | b'>' | b'#' | b',' | b']'
            | b'}' => return None,
            _ => {
                let value = before_comment(text);
                let indicator = value.starts_with(['-', '?', ':'])
                    && value[1..]
                        .chars()
                        .next()
                        .is_none_or(|c| c == ' ' || c == '\t');
                if indicator
                    || value.contains(": ")
                    || value.contains(":\t")
                    || value.ends_with(':')
                {
                    return None;
                }
                scalar(value.to_owned(), false, no)
            }
        };
        if self.peek().is_some_and(|next| next.indent > indent) {
            return None; // a continuation line: a multi-line scalar
        }
        Some(node)
    }

    /// `|` or `>` with an optional `-` chomping indicator; the content is every following
    /// line more indented than `indent` (and blank lines among them). Lines indented beyond
    /// the first one's column, whitespace-only lines or trailing whitespace (content in a
    /// block scalar), keep chomping and folded paragraphs are left to saphyr.
    fn block_scalar(&mut self, header: &str, line: Line<'a>, indent: usize) -> Option<Node> {
        let folded = header.starts_with('>');
        let rest = &header[1..];
        let (strip, rest) = match rest.as_bytes().first() {
            Some(b'-') => (true, &rest[1..]),
            Some(b'+') => return None,
            _ => (false, rest),
        };
        if !line_ends(rest) {
            return None; // an indentation indicator, or text after the header
        }
        let mut content_indent = None;
        let mut first_line = None;
        let mut body: Vec<&'a str> = Vec::new();
        let mut end = self.pos;
        for l in &self.lines[self.pos..] {
            if l.content.is_empty() {
                if l.raw_len > 0 {
                    return None; // whitespace-only: may be content
                }
                body.push("");
                end += 1;
                continue;
            }
            let ci = *content_indent.get_or_insert(l.indent);
            if l.indent <= indent || l.indent < ci {
                break;
            }
            first_line.get_or_insert(l.no);
            if l.indent > ci || l.indent + l.content.len() != l.raw_len {
                return None;
            }
            body.push(l.content);
            end += 1;
        }
        let ci = content_indent?;
        if ci <= indent {
            return None;
        }
        // Trailing blank lines belong to the chomping, not the text.
        while body.last() == Some(&"") {
            body.pop();
            end -= 1;
        }
        if body.is_empty() || body[0].is_empty() {
            return None;
        }
        let mut text = if folded {
            if body.iter().any(|l| l.is_empty()) {
                return None;
            }
            body.join(" ")
        } else {
            body.join("\n")
        };
        if !strip {
            text.push('\n');
        }
        self.pos = end;
        // saphyr places a block scalar at its first content line.
        Some(scalar(text, true, first_line.unwrap_or(line.no)))
    }
}

/// The text of a single-quoted scalar (after the opening quote) and what follows it.
fn single_quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut rest = s;
    loop {
        let q = rest.find('\'')?;
        out.push_str(&rest[..q]);
        rest = &rest[q + 1..];
        if let Some(after) = rest.strip_prefix('\'') {
            out.push('\'');
            rest = after;
        } else {
            return Some((out, rest));
        }
    }
}

/// The text of a double-quoted scalar (after the opening quote) and what follows it; the
/// common escapes only.
fn double_quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                let code = |n: usize, chars: &mut std::str::CharIndices<'_>| {
                    let mut v = 0u32;
                    for _ in 0..n {
                        v = v * 16 + chars.next()?.1.to_digit(16)?;
                    }
                    char::from_u32(v)
                };
                out.push(match e {
                    '\\' => '\\',
                    '"' => '"',
                    '/' => '/',
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'x' => code(2, &mut chars)?,
                    'u' => code(4, &mut chars)?,
                    _ => return None,
                });
            }
            _ => out.push(c),
        }
    }
    None
}

/// `[a, 'b', "c"]` on one line (after the `[`): scalars only.
fn flow_sequence(s: &str, no: usize) -> Option<Node> {
    let mut items = Vec::new();
    let mut rest = s.trim_start_matches([' ', '\t']);
    if let Some(after) = rest.strip_prefix(']') {
        return line_ends(after).then_some(Node::Seq(items, no));
    }
    loop {
        let (item, after) = match rest.as_bytes().first()? {
            b'\'' => {
                let (v, after) = single_quoted(&rest[1..])?;
                (scalar(v, true, no), after)
            }
            b'"' => {
                let (v, after) = double_quoted(&rest[1..])?;
                (scalar(v, true, no), after)
            }
            b'[' | b'{' | b'}' | b'&' | b'*' | b'!' | b'#' | b',' | b']' | b'?' | b':' | b'-'
            | b'|' | b'>' | b'%' | b'@' | b'`' => {
                return None; // indicators: not the start of a plain scalar
            }
            _ => {
                let end = rest.find([',', ']', '#', ':', '[', '{', '}'])?;
                let v = rest[..end].trim_end_matches([' ', '\t']);
                if v.is_empty() || rest.as_bytes()[end] == b'#' || rest.as_bytes()[end] == b':' {
                    return None;
                }
                // An indicator after a blank may start a token of its own: left to saphyr.
                let bytes = v.as_bytes();
                if bytes.windows(2).any(|w| {
                    matches!(w[0], b' ' | b'\t') && matches!(w[1], b'-' | b'?' | b':' | b'#')
                }) {
                    return None;
                }
                (scalar(v.to_owned(), false, no), &rest[end..])
            }
        };
        items.push(item);
        rest = after.trim_start_matches([' ', '\t']);
        match rest.as_bytes().first()? {
            b',' => rest = rest[1..].trim_start_matches([' ', '\t']),
            b']' => return line_ends(&rest[1..]).then_some(Node::Seq(items, no)),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::load_with_saphyr;
    use super::*;

    /// The fast reader's answer, checked against saphyr's when it gives one.
    fn both(text: &str) -> Option<Vec<Node>> {
        let fast = load(text);
        if let Some(docs) = &fast {
            match load_with_saphyr(text) {
                Ok(saphyr) => assert_eq!(docs, &saphyr, "{text}"),
                Err(e) => panic!("saphyr rejects what the fast path read: {e:?}\n{text}"),
            }
        }
        fast
    }

    #[test]
    fn the_subset_reads_like_saphyr() {
        for text in [
            "a: 1\nb: 'x''y'\nc: \"C:\\\\Windows\\\\\"\n",
            "title: t\ndetection:\n    sel:\n        Image|endswith:\n            - '\\x.exe'\n            - y # comment\n    condition: sel\n",
            "tags:\n- a\n- b\nlevel: high\n",
            "list:\n  - k: v\n    k2: v2\n  - plain\n  - [a, 'b', \"c\"]\n",
            "description: |\n    line one\n    line two\n\nnext: x\n",
            "description: |-\n  one\n\n  two\n",
            "d: >\n  folded\n  text\n",
            "empty:\nafter: 1\n",
            "last:\n",
            "e: []\nf: ''\ng: \"\"\n",
            "h: [\t0 ,\t'x'\t]\n",
            "# only a comment\n",
            "a: value # comment\n",
            "url: https://example.com/a#b\n",
        ] {
            assert!(both(text).is_some(), "not in the subset: {text}");
        }
    }

    #[test]
    fn nesting_depth_is_checked_like_saphyr() {
        for levels in [1, 30, 63, 64, 65, 70] {
            let text = format!("{}x\n", "- ".repeat(levels));
            let fast = load(&text);
            let slow = load_with_saphyr(&text);
            match (&fast, &slow) {
                (Some(f), Ok(s)) => assert_eq!(f, s),
                (Some(_), Err(e)) => panic!("{levels} levels: fast read, saphyr {e:?}"),
                (None, _) => assert!(levels >= 64, "{levels} levels left to saphyr"),
            }
        }
    }

    #[test]
    fn the_rest_is_left_to_saphyr() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !tag x\n",
            "a: {b: 1}\n",
            "a: 1\n---\nb: 2\n",
            "a: multi\n  line plain\n",
            "a: 'multi\n  line'\n",
            "a: |+\n  keep\n\n",
            "a: |2\n   indented\n",
            "a: |\n  x\n    more indented\n",
            "a: |\n  trailing space \n",
            "a: >\n  p1\n\n  p2\n",
            "a: \"\\e\"\n",
            "a: 1\na: 2\n",
            "\ta: 1\n",
            "a: x\u{0}y\n",
            "a: 'x'# no space\n",
            "a:\tb: c\n",
            "- -\tx\n",
            "a: [`x]\n",
            "a: [x -]\n",
            "a: [@x]\n",
            &format!("{}: x\n", "k".repeat(1100)),
            "a: b:\tc\n",
            "a: [x]# no space\n",
            "a:\t'x'\n",
            "a:\n  - \t'x'\n",
            "a: \u{85}\u{9f}\n",
            "a:\n\t- 1\n",
            "just a scalar\n",
            "a: b: c\n",
            "? complex\n: key\n",
        ] {
            assert!(load(text).is_none(), "read by the fast path: {text}");
        }
    }

    /// Every rule of the corpus: the fast reader either declines or gives saphyr's tree,
    /// lines included; and it reads most of them.
    #[test]
    fn every_corpus_rule_reads_like_saphyr() {
        let Some(root) = crate::testing::shared("") else {
            return;
        };
        let mut files = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                    files.push(path);
                }
            }
        }
        let mut fast = 0;
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            if let Some(docs) = load(&text) {
                fast += 1;
                match load_with_saphyr(&text) {
                    Ok(saphyr) => assert_eq!(docs, saphyr, "{}", path.display()),
                    Err(e) => panic!("{}: saphyr rejects it: {e:?}", path.display()),
                }
            }
        }
        assert!(files.len() > 3000, "{} YAML files", files.len());
        assert!(
            fast * 100 >= files.len() * 90,
            "fast path on {fast} of {} files",
            files.len()
        );
    }
}
