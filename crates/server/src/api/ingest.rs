//! `POST /api/v1/ingest`: an HTTP batch of events, journaled and acknowledged once durable.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use vigie_event::time::Timestamp;
use vigie_event::{Decoder, Origin, Source, SourceKind};
use vigie_journal::committer::Refused;
use vigie_journal::record::{Batch, Framing};
use vigie_state::Idempotent;

use super::access::Authorized;
use super::error::{ApiError, ApiResult};
use super::{App, blocking};
use crate::ServerError;
use crate::intake::body;

#[derive(Debug, Deserialize)]
pub(crate) struct IngestParams {
    source: Option<String>,
    logsource: Option<String>,
}

/// Reads `body` within `timeout`, refusing it past `limit` bytes.
pub(crate) async fn read_body(
    body: Body,
    limit: usize,
    timeout: std::time::Duration,
) -> ApiResult<Bytes> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(ApiError::coded(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the body did not arrive within {} ms (http.body_timeout_ms)",
                timeout.as_millis()
            ),
        )),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            // axum wraps http-body's `LengthLimitError`, whose text is stable.
            let too_large =
                format!("{e:?}").contains("LengthLimit") || e.to_string().contains("length limit");
            if too_large {
                Err(ApiError::coded(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the body is over {limit} bytes (http.max_body_bytes)"),
                ))
            } else {
                Err(ApiError::coded(
                    StatusCode::BAD_REQUEST,
                    "bad_body",
                    format!("cannot read the body: {e}"),
                ))
            }
        }
    }
}

/// Whether the body is gzip (`Content-Encoding: gzip`), plain (none, `identity`), or
/// something this server does not inflate (415).
pub(crate) fn encoding(headers: &HeaderMap) -> ApiResult<bool> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    // A value that is not text is no encoding this server knows (not "none").
    let text = value.to_str().unwrap_or("\u{fffd}").trim();
    if text.eq_ignore_ascii_case("gzip") || text.eq_ignore_ascii_case("x-gzip") {
        Ok(true)
    } else if text.is_empty() || text.eq_ignore_ascii_case("identity") {
        Ok(false)
    } else {
        Err(ApiError::coded(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("Content-Encoding {text:?}: only gzip or identity"),
        ))
    }
}

pub(crate) async fn ingest_batch(
    State(app): State<App>,
    params: Result<Query<IngestParams>, QueryRejection>,
    request: Request,
) -> ApiResult<Response> {
    let (head, body) = request.into_parts();
    let headers = head.headers;
    // Who, before a byte of the body is read: an unknown caller costs no memory.
    let tenant = head
        .extensions
        .get::<Authorized>()
        .ok_or_else(|| ApiError::internal("ingest without authorization"))?
        .tenant_id()?;
    let Query(params) = params?;
    let quota = app.quotas.tenant(&tenant);
    let source = params.source.unwrap_or_else(|| "http".to_owned());
    if source.is_empty() || source.len() > 128 {
        return Err(ApiError::coded(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "source: 1 to 128 characters",
        ));
    }
    if !quota.admit_source(&source) {
        return Err(ApiError::coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "source_quota",
            format!(
                "source {source:?} would pass this tenant's limit of {} sources (limits.max_sources)",
                quota.limits.max_sources
            ),
        ));
    }
    let logsource_text = params.logsource.unwrap_or_default();
    let logsource = vigie_event::LogSource::parse_path(&logsource_text)
        .map_err(|m| ApiError::coded(StatusCode::BAD_REQUEST, "bad_parameter", m.to_string()))?;
    let gzip = encoding(&headers)?;
    let idempotency_key = idempotency_key(&headers)?;
    let mut received = Timestamp::now();
    if let Some(key) = &idempotency_key {
        match app
            .state
            .idempotency_begin(&tenant, key, received, quota.limits.max_idempotency_keys)
            .await
            .map_err(ApiError::internal)?
        {
            Idempotent::Answered(answer) => {
                let value: Value = serde_json::from_str(&answer).map_err(ApiError::internal)?;
                return Ok(([(REPLAYED, "true")], Json(value)).into_response());
            }
            Idempotent::Process(first) => received = first,
            Idempotent::OverQuota => {
                return Err(ApiError::coded(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_quota",
                    format!(
                        "this tenant holds {} idempotency keys from the last day (limits.max_idempotency_keys); retry without a new key or later",
                        quota.limits.max_idempotency_keys
                    ),
                ));
            }
        }
    }
    let journal = app.appender.shared();
    let max_lag = app.config.journal.max_lag_mib << 20;
    if journal.lag() > max_lag {
        return Err(ApiError::busy(
            StatusCode::TOO_MANY_REQUESTS,
            "the pipeline is behind the journal; retry later",
        ));
    }
    let http = &app.config.http;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > http.max_body_bytes) {
        return Err(ApiError::coded(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the body is over {} bytes (http.max_body_bytes)",
                http.max_body_bytes
            ),
        ));
    }
    // The body as announced (or the most it may be); an inflating body takes more as it
    // grows.
    let hold = declared.unwrap_or(http.max_body_bytes);
    let Some(mut held) = app.buffers.take(&tenant, hold) else {
        return Err(ApiError::busy(
            StatusCode::TOO_MANY_REQUESTS,
            "too many ingest bodies in memory for this tenant or the server (http.max_buffered_mib); retry later",
        ));
    };
    let body = read_body(
        body,
        http.max_body_bytes,
        std::time::Duration::from_millis(http.body_timeout_ms),
    )
    .await?;
    let counters = app.metrics.source(tenant.as_str(), &source);
    counters
        .bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    let max_decoded = http.max_decoded_bytes;
    let origin_tenant = tenant.clone();
    let origin_source = source.clone();
    let checks = body::Checks {
        limits: quota.limits.clone(),
        received,
    };
    let names = Arc::clone(&quota.names);
    let split = blocking(move || {
        let body = if gzip {
            let grown = body::gunzip(&body, max_decoded, &mut |n| held.grow(n));
            grown.map_err(|e| match e {
                ServerError::BodyTooLarge(_) => ApiError::coded(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    e.to_string(),
                ),
                ServerError::BodyGzip(_) => {
                    ApiError::coded(StatusCode::BAD_REQUEST, "bad_gzip", e.to_string())
                }
                ServerError::BodyNoMemory => {
                    ApiError::busy(StatusCode::TOO_MANY_REQUESTS, e.to_string())
                }
                other => ApiError::internal(other),
            })?
        } else {
            body
        };
        let mut origin = Origin::new(origin_tenant, Source::new(SourceKind::Http, &origin_source));
        origin.logsource = logsource.map(Arc::new);
        let mut decoder = Decoder::new(origin);
        decoder.set_name_budget(Some(names));
        Ok(body::split_json(&body, &mut decoder, &checks))
    })
    .await?;
    if split.over_limit {
        return Err(ApiError::coded(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!(
                "more than {} events in one request (limits.max_events_per_batch); send smaller batches",
                quota.limits.max_events_per_batch
            ),
        ));
    }
    let accepted = split.accepted.len();
    let rejected = split.rejected_count;
    counters
        .received
        .fetch_add((accepted + rejected) as u64, Ordering::Relaxed);
    counters
        .rejected
        .fetch_add(rejected as u64, Ordering::Relaxed);
    let tenant_name = tenant.clone();
    if accepted > 0 {
        let batch = Batch {
            tenant,
            kind: SourceKind::Http,
            source,
            logsource: logsource_text,
            framing: Framing::Json,
            received,
            idempotency_key: idempotency_key.clone().unwrap_or_default(),
            messages: split.accepted,
        };
        let delivery = crate::intake::hand_over(
            &app.appender,
            &batch,
            crate::intake::Backpressure::Refuse,
            &counters,
        )
        .await;
        match delivery {
            crate::intake::Delivery::Durable(_) | crate::intake::Delivery::Queued => {}
            crate::intake::Delivery::Refused(Refused::Full) => {
                return Err(ApiError::busy(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the journal queue is full; retry later",
                ));
            }
            crate::intake::Delivery::Refused(Refused::Closed) => {
                return Err(ApiError::busy(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server is shutting down",
                ));
            }
            crate::intake::Delivery::Failed(e) => return Err(ApiError::internal(e)),
        }
    }
    let answer = json!({
        "accepted": accepted,
        "rejected": rejected,
        "errors": split.rejected,
        "errors_truncated": rejected > split.rejected.len(),
    });
    if let Some(key) = &idempotency_key
        && let Err(e) = app
            .state
            .idempotency_finish(&tenant_name, key, &answer.to_string())
            .await
    {
        // The batch is durable; a retry journals it again with the same ids, and the store
        // keeps each event once.
        tracing::warn!(error = %e, "cannot record an idempotent answer");
    }
    Ok(Json(answer).into_response())
}

/// The header a replayed answer carries.
pub(crate) const REPLAYED: &str = "idempotency-replayed";

/// The `Idempotency-Key` of a request: 1 to 255 visible ASCII characters.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(ApiError::coded(
            StatusCode::BAD_REQUEST,
            "bad_idempotency_key",
            "Idempotency-Key: 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_bytes(v).expect("header"));
        }
        h
    }

    #[test]
    fn only_gzip_and_identity_bodies_are_taken() {
        assert!(!encoding(&headers(&[])).expect("none"));
        for gz in [&b"gzip"[..], b"GZip", b" x-gzip "] {
            assert!(encoding(&headers(&[("content-encoding", gz)])).expect("gzip"));
        }
        assert!(!encoding(&headers(&[("content-encoding", b"identity")])).expect("identity"));
        for other in [&b"br"[..], b"deflate", b"gzip, br", b"\xff"] {
            let err = encoding(&headers(&[("content-encoding", other)])).expect_err("refused");
            assert_eq!(
                (err.status, err.code),
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding")
            );
        }
    }

    #[test]
    fn idempotency_keys_are_visible_ascii_up_to_255() {
        assert_eq!(idempotency_key(&headers(&[])).expect("none"), None);
        let k = "a".repeat(255);
        assert_eq!(
            idempotency_key(&headers(&[("idempotency-key", k.as_bytes())])).expect("255"),
            Some(k.clone())
        );
        for bad in [
            "a".repeat(256).into_bytes(),
            b"a b".to_vec(),
            b"caf\xc3\xa9".to_vec(),
            b"\t".to_vec(),
        ] {
            let err = idempotency_key(&headers(&[("idempotency-key", &bad)])).expect_err("bad");
            assert_eq!(err.code, "bad_idempotency_key");
        }
        assert!(idempotency_key(&headers(&[("idempotency-key", b"!~")])).is_ok());
    }
}
