//! Loading Sigma documents: YAML text and folders into rules, filters and correlations, with
//! one diagnostic for each document that cannot run exactly.

use std::path::Path;

use crate::condition::{self, Condition};
use crate::correlation::{Correlation, compile_correlation};
use crate::detection::compile_item;
use crate::document::Ctx;
use crate::error::{Code, Diagnostic, SigmaError};
use crate::filter::{self, Filter};
use crate::placeholder::Placeholders;
use crate::rule::{Detection, Rule, RuleLogSource};
use crate::yaml::{self, Node, Scalar, scalar_list, tags};

fn compile_map(ctx: &Ctx<'_>, entries: &[(Scalar, Node)]) -> Result<Detection, Diagnostic> {
    let mut items = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let values = scalar_list(value).ok_or_else(|| {
            ctx.diag(
                value.line(),
                Code::Structure,
                format!("'{}' must hold a value or a list of values", key.text),
            )
        })?;
        let item = compile_item(&key.text, &values, ctx.placeholders)
            .map_err(|e| ctx.diag(key.line, e.code, format!("'{}': {}", key.text, e.message)))?;
        items.push(item);
    }
    Ok(Detection::AllOf(items))
}

fn compile_detection(ctx: &Ctx<'_>, name: &str, node: &Node) -> Result<Detection, Diagnostic> {
    match node {
        Node::Map(entries, _) => compile_map(ctx, entries),
        Node::Seq(items, line)
            if items.iter().all(|n| matches!(n, Node::Map(..))) && !items.is_empty() =>
        {
            let mut alternatives = Vec::with_capacity(items.len());
            for n in items {
                if let Node::Map(entries, _) = n {
                    alternatives.push(compile_map(ctx, entries)?);
                }
            }
            let _ = line;
            Ok(Detection::AnyOf(alternatives))
        }
        Node::Seq(..) | Node::Scalar(_) => {
            let values = scalar_list(node).ok_or_else(|| {
                ctx.diag(
                    node.line(),
                    Code::Structure,
                    format!("'{name}' mixes maps and plain values"),
                )
            })?;
            let item = compile_item("", &values, ctx.placeholders)
                .map_err(|e| ctx.diag(node.line(), e.code, format!("'{name}': {}", e.message)))?;
            Ok(Detection::Keywords(item))
        }
    }
}

/// Builds a rule from one YAML document.
/// Compiles a detection block (`detection:` of a rule, `filter:` of a filter): its search
/// identifiers and its condition. Keys in `skip` are not identifiers.
fn compile_block(
    ctx: &Ctx<'_>,
    node: &Node,
    skip: &[&str],
) -> Result<(Vec<(String, Detection)>, Condition), Diagnostic> {
    let Node::Map(entries, _) = node else {
        return Err(ctx.diag(
            node.line(),
            Code::Structure,
            "the detection block must be a map",
        ));
    };
    let mut detections = Vec::new();
    let mut condition_node = None;
    for (key, value) in entries {
        match key.text.as_str() {
            "condition" => condition_node = Some(value),
            // A Sigma v1 aggregation window; without a pipe in the condition it has no effect.
            "timeframe" => {}
            k if skip.contains(&k) => {}
            name => detections.push((name.to_owned(), compile_detection(ctx, name, value)?)),
        }
    }
    let condition_node = condition_node
        .ok_or_else(|| ctx.diag(node.line(), Code::Structure, "missing 'condition'"))?;
    let names: Vec<String> = detections.iter().map(|(n, _)| n.clone()).collect();
    let texts = scalar_list(condition_node).ok_or_else(|| {
        ctx.diag(
            condition_node.line(),
            Code::Structure,
            "'condition' must be text or a list",
        )
    })?;
    let mut conditions = Vec::new();
    for t in texts {
        let c = condition::parse(&t.text, &names).map_err(|e| {
            let message = match e {
                SigmaError::Condition { offset, message } => {
                    format!("{message} at column {} of {:?}", offset + 1, t.text)
                }
                other => other.to_string(),
            };
            ctx.diag(t.line, Code::Condition, message)
        })?;
        conditions.push(c);
    }
    let condition = if conditions.len() == 1 {
        conditions.remove(0)
    } else {
        Condition::Or(conditions)
    };
    Ok((detections, condition))
}

fn compile_logsource(
    ctx: &Ctx<'_>,
    doc: &Node,
    line: usize,
    required: bool,
) -> Result<RuleLogSource, Diagnostic> {
    let Some(node) = doc.get("logsource") else {
        if required {
            return Err(ctx.diag(line, Code::Structure, "missing 'logsource'"));
        }
        return Ok(RuleLogSource::default());
    };
    let attr = |k: &str| {
        node.get(k)
            .and_then(Node::as_str)
            .map(|s| s.to_ascii_lowercase())
    };
    Ok(RuleLogSource {
        product: attr("product"),
        category: attr("category"),
        service: attr("service"),
    })
}

fn compile_filter(
    file: &str,
    doc: &Node,
    placeholders: &Placeholders,
) -> Result<crate::filter::Filter, Diagnostic> {
    use crate::filter::{Filter, Targets};
    let ctx = Ctx::for_document(file, doc, placeholders);
    let line = doc.line();
    let title = ctx.title(doc)?;
    let logsource = compile_logsource(&ctx, doc, line, false)?;
    let block = doc
        .get("filter")
        .ok_or_else(|| ctx.diag(line, Code::Structure, "missing 'filter'"))?;
    let rules_node = block.get("rules").ok_or_else(|| {
        ctx.diag(
            block.line(),
            Code::Structure,
            "a filter needs 'rules' (ids, names or any)",
        )
    })?;
    let targets = match rules_node {
        Node::Scalar(s) if s.text == "any" => Targets::Any,
        other => Targets::Rules(
            scalar_list(other)
                .ok_or_else(|| {
                    ctx.diag(
                        other.line(),
                        Code::Structure,
                        "'rules' must list rule ids or names",
                    )
                })?
                .into_iter()
                .map(|s| s.text.clone())
                .collect(),
        ),
    };
    let (detections, condition) = compile_block(&ctx, block, &["rules"])?;
    Ok(Filter {
        id: ctx.rule_id,
        title,
        logsource,
        targets,
        detections,
        condition,
        file: file.to_owned(),
        line,
    })
}

fn compile_rule(file: &str, doc: &Node, placeholders: &Placeholders) -> Result<Rule, Diagnostic> {
    let ctx = Ctx::for_document(file, doc, placeholders);
    let line = doc.line();
    if doc.get("action").and_then(Node::as_str) == Some("global") {
        return Err(ctx.diag(
            line,
            Code::Structure,
            "rule collections (action: global) are Sigma v1 only",
        ));
    }
    let title = ctx.title(doc)?;
    let logsource = compile_logsource(&ctx, doc, line, true)?;
    let detection_node = doc
        .get("detection")
        .ok_or_else(|| ctx.diag(line, Code::Structure, "missing 'detection'"))?;
    let (detections, condition) = compile_block(&ctx, detection_node, &[])?;
    let tags = tags(doc);
    Ok(Rule {
        id: ctx.rule_id,
        name: doc.get("name").and_then(Node::as_str).map(str::to_owned),
        title,
        level: doc.get("level").and_then(Node::as_str).map(str::to_owned),
        tags,
        logsource,
        detections,
        condition,
        file: file.to_owned(),
        line,
    })
}

/// Rules and diagnostics from loading files.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Rules that loaded.
    pub rules: Vec<Rule>,
    /// Filter documents that loaded (apply them with [`Loaded::apply_filters`]).
    pub filters: Vec<Filter>,
    /// Correlation documents that loaded (resolve them with
    /// [`crate::correlation::CorrelationSet::new`]).
    pub correlations: Vec<Correlation>,
    /// One diagnostic per rule (or file) that did not.
    pub rejected: Vec<Diagnostic>,
    /// Values of the `%placeholders%` that `|expand` values name; set before loading.
    pub placeholders: Placeholders,
}

impl Loaded {
    /// Applies every loaded filter to the rules it targets. Returns a note for each filter
    /// that applied to no loaded rule (its rules may live in another folder, or be misnamed).
    pub fn apply_filters(&mut self) -> Vec<Diagnostic> {
        filter::apply(&mut self.rules, &self.filters)
    }
}

/// Parses every document of one YAML text; `file` names it in diagnostics.
pub fn parse_rules(text: &str, file: &str, out: &mut Loaded) {
    let docs = match yaml::load(text) {
        Ok(docs) => docs,
        Err(e) => {
            let (line, message) = match e {
                SigmaError::Yaml { line, message } => (line, message),
                other => (0, other.to_string()),
            };
            out.rejected.push(Diagnostic {
                rule_id: None,
                file: file.to_owned(),
                line,
                code: Code::Yaml,
                message,
            });
            return;
        }
    };
    for doc in &docs {
        if doc.get("correlation").is_some() {
            match compile_correlation(file, doc) {
                Ok(c) => out.correlations.push(c),
                Err(d) => out.rejected.push(d),
            }
            continue;
        }
        if doc.get("filter").is_some() {
            match compile_filter(file, doc, &out.placeholders) {
                Ok(filter) => out.filters.push(filter),
                Err(d) => out.rejected.push(d),
            }
            continue;
        }
        match compile_rule(file, doc, &out.placeholders) {
            Ok(rule) => out.rules.push(rule),
            Err(d) => out.rejected.push(d),
        }
    }
}

/// Loads every `.yml`/`.yaml` file under `dir` (recursively, in path order), parsing on every
/// core.
pub fn load_dir(dir: &Path, out: &mut Loaded) -> std::io::Result<()> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    // Parsing is independent per file: split the sorted list into one contiguous chunk per
    // core and append the chunks' results in order, so the outcome is the sequential one.
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8);
    let chunk = files.len().div_ceil(threads).max(1);
    let placeholders = &out.placeholders;
    let results: Vec<std::io::Result<Loaded>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|paths| {
                scope.spawn(move || {
                    let mut part = Loaded {
                        placeholders: placeholders.clone(),
                        ..Loaded::default()
                    };
                    for path in paths {
                        let text = std::fs::read_to_string(path)?;
                        parse_rules(&text, &path.display().to_string(), &mut part);
                    }
                    Ok(part)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    for part in results {
        let part = part?;
        out.rules.extend(part.rules);
        out.filters.extend(part.filters);
        out.correlations.extend(part.correlations);
        out.rejected.extend(part.rejected);
    }
    Ok(())
}
