//! `/metrics`: Prometheus text of the server's counters.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::App;
use super::error::ApiResult;

pub(crate) async fn metrics(State(app): State<App>) -> ApiResult<Response> {
    let journal = app.appender.shared();
    let stats = &journal.stats;
    let extra = [
        (
            "vigie_journal_lag_bytes",
            "Durable bytes not yet processed.",
            journal.lag() as f64,
        ),
        (
            "vigie_journal_corrupt_records",
            "Journal records skipped for a bad CRC.",
            stats.corrupt_records.load(Ordering::Relaxed) as f64,
        ),
        (
            "vigie_journal_torn_tail_bytes",
            "Bytes of torn tail cut at the last start.",
            stats.torn_tail_bytes.load(Ordering::Relaxed) as f64,
        ),
        (
            "vigie_journal_records",
            "Records appended since start.",
            stats.appended_records.load(Ordering::Relaxed) as f64,
        ),
        (
            "vigie_journal_fsyncs",
            "fsyncs since start.",
            stats.syncs.load(Ordering::Relaxed) as f64,
        ),
        (
            "vigie_rules_loaded",
            "Rules in the current set.",
            app.rules.current().rules.len() as f64,
        ),
        (
            "vigie_store_disk_bytes",
            "Bytes of the event store on disk.",
            app.store.disk_bytes() as f64,
        ),
    ];
    let text = app.metrics.render(&extra);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
