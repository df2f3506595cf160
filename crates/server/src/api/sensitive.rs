//! Sensitive fields in responses: a provider user without an elevation sees each value of
//! the tenant's sensitive fields as a keyed pseudonym (`vigie_govern::pseudonym`), in
//! events, search results, alerts and their context alike, and may not search those
//! fields (nor free text, which would reach them).

use axum::http::StatusCode;
use serde_json::Value;
use vigie_govern::OrgKind;
use vigie_govern::grant::Widening;
use vigie_govern::permission::{Action, Cell, allows};
use vigie_govern::pseudonym::{Pseudonymizer, SensitiveFields};

use super::App;
use super::access::Authorized;
use super::error::{ApiError, ApiResult};

/// What a response must hide from its caller.
pub(crate) struct Mask {
    pseudonyms: Pseudonymizer,
    fields: SensitiveFields,
}

impl Mask {
    /// Hides the sensitive values in `json`.
    pub(crate) fn apply(&self, json: &mut Value) {
        self.pseudonyms.apply(&self.fields, json);
    }

    /// Whether `field` is one of the tenant's sensitive fields (its values are hidden).
    pub(crate) fn hides(&self, field: &str) -> bool {
        self.fields.contains(field)
    }

    /// Refuses a search that reaches a sensitive field.
    pub(crate) fn check(&self, query: &vigie_store::Query) -> ApiResult<()> {
        self.fields
            .check_search(query.named_fields())
            .map_err(|e| ApiError::coded(StatusCode::FORBIDDEN, "sensitive_field", e.to_string()))
    }
}

/// The mask of the caller on the request's tenant (`None`: they see values in clear). An
/// elevation to clear fields on `alert` lifts it for that alert only.
pub(crate) async fn mask(
    app: &App,
    auth: &Authorized,
    alert: Option<&str>,
) -> ApiResult<Option<Mask>> {
    let Some(user) = auth.caller.user() else {
        // Ingest tokens of the tenant itself (their transition to user tokens).
        return Ok(None);
    };
    let role = auth.role.unwrap_or(user.role);
    if role.org_kind() != OrgKind::Provider
        || allows(role, Action::SeeSensitiveFields) == Cell::Allow
    {
        return Ok(None);
    }
    let tenant = auth.tenant_id()?;
    let settings = app
        .state
        .tenant_settings(&tenant)
        .await
        .map_err(ApiError::internal)?;
    let Some(settings) = settings.filter(|s| !s.sensitive_fields.is_empty()) else {
        return Ok(None);
    };
    if let Some(alert) = alert
        && crate::people::elevated(&app.state, user.id, &tenant, Some(alert), |w| {
            w == Widening::ClearFields
        })
        .await?
    {
        return Ok(None);
    }
    Ok(Some(Mask {
        pseudonyms: Pseudonymizer::new(&app.secrets.pseudonym_key(tenant.as_str())),
        fields: SensitiveFields::new(settings.sensitive_fields.iter().map(String::as_str)),
    }))
}
