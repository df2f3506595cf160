//! A `correlation:` document into a [`Correlation`], every field checked; errors are S007
//! diagnostics naming the line.

use super::{Bound, Correlation, Kind};
use crate::document::Ctx;
use crate::error::{Code, Diagnostic};
use crate::yaml::{Node, Scalar};
use crate::yaml::{scalar_list, tags};

/// `<int><s|m|h|d|w>` in nanoseconds (pySigma also accepts weeks).
fn timespan(text: &str) -> Option<i64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    (n > 0)
        .then(|| n.checked_mul(seconds)?.checked_mul(1_000_000_000))
        .flatten()
}

fn strings(ctx: &Ctx<'_>, node: &Node, what: &str) -> Result<Vec<String>, Diagnostic> {
    scalar_list(node)
        .map(|l| l.into_iter().map(|s| s.text.clone()).collect())
        .ok_or_else(|| {
            ctx.diag(
                node.line(),
                Code::Correlation,
                format!("'{what}' must be a name or a list of names"),
            )
        })
}

fn number(ctx: &Ctx<'_>, key: &Scalar, node: &Node) -> Result<f64, Diagnostic> {
    node.as_str()
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|n| n.is_finite())
        .ok_or_else(|| {
            ctx.diag(
                node.line(),
                Code::Correlation,
                format!("condition '{}' needs a number", key.text),
            )
        })
}

/// Compiles one correlation document.
pub(crate) fn compile_correlation(file: &str, doc: &Node) -> Result<Correlation, Diagnostic> {
    // Correlations hold no detection values, so no placeholders.
    let none = crate::placeholder::Placeholders::default();
    let ctx = Ctx::for_document(file, doc, &none);
    let line = doc.line();
    let err = |line: usize, message: String| ctx.diag(line, Code::Correlation, message);
    let title = ctx.title(doc)?;
    let Some(block @ Node::Map(entries, block_line)) = doc.get("correlation") else {
        return Err(err(line, "'correlation' must be a map".into()));
    };
    for (key, _) in entries {
        if !matches!(
            key.text.as_str(),
            "type"
                | "rules"
                | "group-by"
                | "timespan"
                | "timeframe"
                | "condition"
                | "aliases"
                | "generate"
        ) {
            return Err(err(
                key.line,
                format!("unknown correlation attribute '{}'", key.text),
            ));
        }
    }
    let kind_text = block
        .get("type")
        .and_then(Node::as_str)
        .ok_or_else(|| err(*block_line, "missing 'type'".into()))?;
    let kind = Kind::parse(kind_text).ok_or_else(|| {
        err(
            block.get("type").map_or(*block_line, Node::line),
            format!(
                "unknown correlation type '{kind_text}' (event_count, value_count, temporal, \
                 temporal_ordered, value_sum, value_avg, value_percentile)"
            ),
        )
    })?;
    let rules = match block.get("rules") {
        Some(n) => strings(&ctx, n, "rules")?,
        None => return Err(err(*block_line, "missing 'rules'".into())),
    };
    if rules.is_empty() {
        return Err(err(*block_line, "'rules' is empty".into()));
    }
    let group_by = match block.get("group-by") {
        Some(n) => strings(&ctx, n, "group-by")?,
        None => Vec::new(),
    };
    // `timeframe` is the Sigma v1 spelling some tools still write.
    let span_node = block
        .get("timespan")
        .or_else(|| block.get("timeframe"))
        .ok_or_else(|| err(*block_line, "missing 'timespan'".into()))?;
    let span_text = span_node.as_str().unwrap_or_default();
    let timespan = timespan(span_text).ok_or_else(|| {
        err(
            span_node.line(),
            format!("timespan {span_text:?} is not <number><s|m|h|d|w>"),
        )
    })?;

    let mut condition = Vec::new();
    let mut fields = Vec::new();
    let mut percentile = None;
    match block.get("condition") {
        Some(Node::Map(items, _)) => {
            for (key, value) in items {
                match key.text.as_str() {
                    "gt" => condition.push(Bound::Gt(number(&ctx, key, value)?)),
                    "gte" => condition.push(Bound::Gte(number(&ctx, key, value)?)),
                    "lt" => condition.push(Bound::Lt(number(&ctx, key, value)?)),
                    "lte" => condition.push(Bound::Lte(number(&ctx, key, value)?)),
                    "eq" => condition.push(Bound::Eq(number(&ctx, key, value)?)),
                    "neq" => condition.push(Bound::Neq(number(&ctx, key, value)?)),
                    "field" => fields = strings(&ctx, value, "field")?,
                    "percentile" => {
                        let p = number(&ctx, key, value)?;
                        if !(0.0..=100.0).contains(&p) {
                            return Err(err(value.line(), "percentile must be 0 to 100".into()));
                        }
                        percentile = Some(p);
                    }
                    other => {
                        return Err(err(
                            key.line,
                            format!(
                                "unknown condition key '{other}' (gt, gte, lt, lte, eq, neq, field)"
                            ),
                        ));
                    }
                }
            }
        }
        Some(other) => {
            return Err(err(other.line(), "'condition' must be a map".into()));
        }
        None => {}
    }
    let needs_field = matches!(
        kind,
        Kind::ValueCount | Kind::ValueSum | Kind::ValueAvg | Kind::ValuePercentile
    );
    if needs_field && fields.is_empty() {
        return Err(err(
            *block_line,
            format!("{} needs 'field' in its condition", kind.as_str()),
        ));
    }
    if !needs_field && !fields.is_empty() {
        return Err(err(
            *block_line,
            format!("{} takes no 'field'", kind.as_str()),
        ));
    }
    if matches!(
        kind,
        Kind::ValueSum | Kind::ValueAvg | Kind::ValuePercentile
    ) && fields.len() > 1
    {
        return Err(err(
            *block_line,
            format!("{} aggregates one field", kind.as_str()),
        ));
    }
    if percentile.is_some() && kind != Kind::ValuePercentile {
        return Err(err(
            *block_line,
            "'percentile' is for value_percentile".into(),
        ));
    }
    if condition.is_empty() {
        if matches!(kind, Kind::Temporal | Kind::TemporalOrdered) {
            condition.push(Bound::Gte(rules.len() as f64));
        } else {
            return Err(err(
                *block_line,
                format!(
                    "{} needs a condition (gt, gte, lt, lte, eq or neq)",
                    kind.as_str()
                ),
            ));
        }
    }

    let mut aliases = Vec::new();
    match block.get("aliases") {
        None => {}
        Some(Node::Map(items, _)) => {
            for (alias, map) in items {
                let Node::Map(per_rule, _) = map else {
                    return Err(err(
                        map.line(),
                        format!("alias '{}' must map rule names to fields", alias.text),
                    ));
                };
                let mut mapping = Vec::new();
                for (rule, field) in per_rule {
                    let field = field.as_str().ok_or_else(|| {
                        err(
                            field.line(),
                            format!("alias '{}': field must be a name", alias.text),
                        )
                    })?;
                    mapping.push((rule.text.clone(), field.to_owned()));
                }
                aliases.push((alias.text.clone(), mapping));
            }
        }
        Some(other) => return Err(err(other.line(), "'aliases' must be a map".into())),
    }

    // `generate` sits at the top level in the specification; pySigma also reads it inside.
    let generate = match doc.get("generate").or_else(|| block.get("generate")) {
        None => false,
        Some(Node::Scalar(s)) => s
            .as_bool()
            .ok_or_else(|| err(s.line, "'generate' must be true or false".into()))?,
        Some(other) => return Err(err(other.line(), "'generate' must be true or false".into())),
    };

    Ok(Correlation {
        id: ctx.rule_id.clone(),
        name: doc.get("name").and_then(Node::as_str).map(str::to_owned),
        title,
        level: doc.get("level").and_then(Node::as_str).map(str::to_owned),
        tags: tags(doc),
        kind,
        rules,
        group_by,
        timespan,
        condition,
        fields,
        percentile,
        aliases,
        generate,
        file: file.to_owned(),
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(timespan("90m"), Some(5_400_000_000_000));
        assert_eq!(timespan("1d"), Some(86_400_000_000_000));
        assert_eq!(timespan("10s"), Some(10_000_000_000));
        assert_eq!(timespan("1w"), Some(604_800_000_000_000));
        assert_eq!(timespan("0s"), None);
        assert_eq!(timespan("5"), None);
        assert_eq!(timespan("5y"), None);
        assert_eq!(timespan("99999999999999d"), None);
        assert_eq!(timespan(""), None);
    }
}
