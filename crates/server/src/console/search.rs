//! Event search: the query language (a syntax error shown under its position), a time
//! range, the histogram of the matching events, facets (top values of the fields the results
//! show; a click adds `field:"value"` to the query), the results, and their export.
//!
//! Every read goes through the API's handlers (`/events`, `/events/histogram`,
//! `/events/terms`): masks, the tenant's query slots and the audit note come with them.
//! The facets' reads and the histogram's are part of the page's one audit record (their
//! notes are not kept: the page's record names the query and the result count).

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::chrome::Chrome;
use super::queue::{summary, summary_full};
use super::svg::{Bar, histogram};
use super::view::{EventRow, Facet, FacetValue, Page, QueryError, Search};
use super::{text, through};
use crate::api::App;
use crate::api::access::{AuditNote, Authorized};
use crate::api::error::ApiError;
use crate::api::events::{EventsParams, HistogramParams, TermsParams};

/// Results per page.
const PAGE: usize = 50;
/// Facets shown (the fields most present in the page's results).
const FACETS: usize = 4;
/// Values per facet.
const FACET_VALUES: usize = 5;
/// The most events an export holds; a larger export narrows the query or the range.
pub(crate) const MAX_EXPORT: usize = 10_000;

/// The time ranges of the picker: (value of `from`, catalog key).
const RANGES: [(&str, &str); 6] = [
    ("-15m", "range.15m"),
    ("-1h", "range.1h"),
    ("-24h", "range.24h"),
    ("-7d", "range.7d"),
    ("-30d", "range.30d"),
    ("", "range.all"),
];

#[derive(Deserialize, Default)]
pub(crate) struct SearchParams {
    #[serde(default)]
    q: String,
    from: Option<String>,
    cursor: Option<String>,
}

/// The page's link with `q`, `from` (and a cursor).
fn link(base: &str, q: &str, from: &str, cursor: Option<&str>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("q", q);
    s.append_pair("from", from);
    if let Some(c) = cursor {
        s.append_pair("cursor", c);
    }
    format!("{base}?{}", s.finish())
}

/// `q` with `field:"value"` added (AND).
fn with_term(q: &str, field: &str, value: &str) -> String {
    let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
    let term = format!("{field}:\"{quoted}\"");
    if q.trim().is_empty() {
        term
    } else {
        format!("{} AND {term}", q.trim())
    }
}

/// A query error as the store gives it (`query error at character N: why`, then the
/// query — cut around the problem when long — and a caret line), for the page.
fn query_error(q: &str, message: &str) -> QueryError {
    let mut lines = message.lines();
    let first = lines.next().unwrap_or(message);
    let column = first
        .split("character ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(1);
    let why = first.split_once(": ").map_or(first, |(_, why)| why);
    let line = lines.next().map(|l| l.strip_prefix("  ").unwrap_or(l));
    let caret = lines.next().map(|l| l.strip_prefix("  ").unwrap_or(l));
    let (line, pointer) = match (line, caret) {
        (Some(l), Some(c)) => (l.to_owned(), c.to_owned()),
        _ => (
            q.to_owned(),
            format!("{}^", " ".repeat(column.saturating_sub(1))),
        ),
    };
    QueryError {
        column,
        message: why.to_owned(),
        line,
        pointer,
    }
}

/// `GET /console/t/{tenant}/search`.
pub(crate) async fn page(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Query(p): Query<SearchParams>,
) -> Response {
    let Some(tenant) = auth.tenant.clone() else {
        return ApiError::bad_request("no tenant").into_response();
    };
    let base = format!("/console/t/{}/search", tenant.as_str());
    let chrome = match Chrome::of(&app, &auth, &headers, "search.title", &base).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let from = p.from.clone().unwrap_or_else(|| "-24h".to_owned());
    let mut page = Search {
        chrome,
        base: base.clone(),
        q: p.q.clone(),
        from: from.clone(),
        ranges: RANGES.to_vec(),
        error: None,
        total: 0,
        histogram: String::new(),
        facets: Vec::new(),
        events: Vec::new(),
        next: None,
        export_ndjson: format!(
            "{}&format=ndjson",
            link(&format!("{base}/export"), &p.q, &from, None)
        ),
        export_csv: format!(
            "{}&format=csv",
            link(&format!("{base}/export"), &p.q, &from, None)
        ),
    };
    let from_param = (!from.is_empty()).then(|| from.clone());
    let api = crate::api::events::events(
        State(app.clone()),
        Extension(auth.clone()),
        Ok(Query(EventsParams {
            q: Some(p.q.clone()),
            from: from_param.clone(),
            cursor: p.cursor.clone(),
            limit: Some(PAGE),
            ..EventsParams::default()
        })),
    )
    .await;
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => {
            // A query the language refuses is shown on the page, at its position; any
            // other refusal is the error page.
            let code = response
                .extensions()
                .get::<crate::api::error::ErrorMessage>()
                .cloned();
            if response.status() == StatusCode::BAD_REQUEST
                && let Some(message) = code
                && message.0.starts_with("query error at character")
            {
                page.error = Some(query_error(&p.q, &message.0));
                let mut out = page.page();
                *out.status_mut() = StatusCode::BAD_REQUEST;
                out.extensions_mut().insert(AuditNote {
                    query: Some(p.q.clone()),
                    count: Some(0),
                    ..AuditNote::default()
                });
                return out;
            }
            return response;
        }
    };
    page.total = json["total"].as_u64().unwrap_or(0);
    let events = json["events"].as_array().cloned().unwrap_or_default();
    page.events = events
        .iter()
        .map(|e| EventRow {
            time: text(&e["time"]),
            host: text(&e["host"]),
            summary: summary(e),
        })
        .collect();
    page.next = json["next"]
        .as_str()
        .map(|c| link(&base, &p.q, &from, Some(c)));
    // The histogram.
    let api = crate::api::events::histogram(
        State(app.clone()),
        Extension(auth.clone()),
        Ok(Query(HistogramParams {
            q: Some(p.q.clone()),
            from: from_param.clone(),
            ..HistogramParams::default()
        })),
    )
    .await;
    if let Ok((h, _)) = through(api).await {
        let bars: Vec<Bar> = h["buckets"]
            .as_array()
            .map(|b| {
                b.iter()
                    .map(|b| Bar {
                        label: text(&b["start"]),
                        count: b["count"].as_u64().unwrap_or(0),
                        href: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        page.histogram = histogram(&bars, page.chrome.t.t("search.histogram"));
    }
    // Facets: the fields most present in the page's events.
    let mut presence: std::collections::BTreeMap<String, usize> = Default::default();
    for e in &events {
        if let Some(fields) = e["fields"].as_object() {
            for name in fields.keys() {
                *presence.entry(name.clone()).or_default() += 1;
            }
        }
    }
    let mut fields: Vec<(String, usize)> = presence.into_iter().collect();
    fields.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (field, _) in fields.into_iter().take(FACETS) {
        let api = crate::api::events::terms(
            State(app.clone()),
            Extension(auth.clone()),
            Ok(Query(TermsParams {
                q: Some(p.q.clone()),
                from: from_param.clone(),
                field: field.clone(),
                size: Some(FACET_VALUES),
                ..TermsParams::default()
            })),
        )
        .await;
        // A sensitive field the reader sees as pseudonyms has no facet.
        let Ok((t, _)) = through(api).await else {
            continue;
        };
        let values = t["buckets"]
            .as_array()
            .map(|b| {
                b.iter()
                    .map(|b| {
                        let value = text(&b["value"]);
                        FacetValue {
                            href: link(&base, &with_term(&p.q, &field, &value), &from, None),
                            count: b["count"].as_u64().unwrap_or(0),
                            value,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        page.facets.push(Facet { field, values });
    }
    carry.onto(page.page())
}

#[derive(Deserialize, Default)]
pub(crate) struct ExportParams {
    #[serde(default)]
    q: String,
    from: Option<String>,
    format: Option<String>,
}

/// `GET /console/t/{tenant}/search/export`: the matching events (at most [`MAX_EXPORT`]),
/// as NDJSON or CSV (time, host, source, then every field as `name=value`), audited as
/// an export with the query and the count.
pub(crate) async fn export(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Query(p): Query<ExportParams>,
) -> Response {
    let csv = match p.format.as_deref() {
        None | Some("ndjson") => false,
        Some("csv") => true,
        Some(other) => {
            return ApiError::bad_request(format!("format {other:?}: ndjson or csv"))
                .into_response();
        }
    };
    let from = p.from.filter(|f| !f.is_empty());
    let mut events: Vec<Value> = Vec::new();
    let mut cursor = None;
    let mut total;
    loop {
        let api = crate::api::events::events(
            State(app.clone()),
            Extension(auth.clone()),
            Ok(Query(EventsParams {
                q: Some(p.q.clone()),
                from: from.clone(),
                cursor: cursor.clone(),
                limit: Some(vigie_store::MAX_PAGE.min(MAX_EXPORT - events.len())),
                ..EventsParams::default()
            })),
        )
        .await;
        let (json, _) = match through(api).await {
            Ok(found) => found,
            Err(response) => return response,
        };
        total = json["total"].as_u64().unwrap_or(0);
        events.extend(json["events"].as_array().cloned().unwrap_or_default());
        cursor = json["next"].as_str().map(str::to_owned);
        if cursor.is_none() || events.len() >= MAX_EXPORT {
            break;
        }
    }
    let mut body = String::new();
    if csv {
        body.push_str("time,host,source,fields\r\n");
        for e in &events {
            let cells = [
                text(&e["time"]),
                text(&e["host"]),
                text(&e["source"]),
                summary_full(e),
            ];
            let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            body.push_str(&line.join(","));
            body.push_str("\r\n");
        }
    } else {
        for e in &events {
            body.push_str(&e.to_string());
            body.push('\n');
        }
    }
    let (mime, ext) = if csv {
        ("text/csv; charset=utf-8", "csv")
    } else {
        ("application/x-ndjson", "ndjson")
    };
    let name = format!(
        "attachment; filename=\"vigie-{}-events.{ext}\"",
        auth.tenant.as_ref().map_or("tenant", |t| t.as_str())
    );
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response.extensions_mut().insert(AuditNote {
        action: Some("export-events"),
        query: Some(format!(
            "{} (from {}; {} of {total} events)",
            p.q,
            from.as_deref().unwrap_or("the start"),
            events.len()
        )),
        count: Some(events.len() as u64),
        ..AuditNote::default()
    });
    response
}

/// A CSV cell (RFC 4180), with a leading `=`, `+`, `-` or `@` defused (a spreadsheet would
/// run it as a formula: CSV injection).
fn csv_cell(value: &str) -> String {
    let mut v = value.to_owned();
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        v.insert(0, '\'');
    }
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_facet_value_adds_a_quoted_term() {
        assert_eq!(with_term("", "User", "a b"), "User:\"a b\"");
        assert_eq!(
            with_term("EventID:4625", "User", "x\"y\\"),
            "EventID:4625 AND User:\"x\\\"y\\\\\""
        );
        // What the facet adds parses.
        let q = with_term("EventID:4625", "User", "x\"y\\ z");
        vigie_store::parse(&q).expect("the query a facet makes parses");
    }

    #[test]
    fn the_caret_points_at_the_column() {
        let q = "EventID:4625 AND (";
        let message = vigie_store::parse(q).expect_err("unclosed").to_string();
        let e = query_error(q, &message);
        assert_eq!(e.column, 19, "{message}");
        assert_eq!(e.line, q);
        assert_eq!(e.pointer, format!("{}^", " ".repeat(18)));
        assert!(!e.message.contains("character"), "{}", e.message);
    }

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("a"), "a");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("-1"), "'-1");
    }
}
