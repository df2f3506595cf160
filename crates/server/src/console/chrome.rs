//! What every page has around its content: the language, the reader, the tenant switcher,
//! the navigation (only the pages the reader's role allows), the form token.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vigie_govern::permission::{Action, Cell, allows};
use vigie_govern::{OrgKind, Role};

use super::i18n::{Lang, Tr};
use crate::api::App;
use crate::api::access::{Authorized, Caller};
use crate::api::error::ApiResult;

/// A link of the navigation.
#[derive(Clone, Debug)]
pub(crate) struct NavItem {
    /// Where.
    pub href: String,
    /// Its catalog key.
    pub key: &'static str,
    /// Whether it is the page shown.
    pub current: bool,
}

/// What the layout template reads.
#[derive(Clone, Debug)]
pub(crate) struct Chrome {
    /// The translator.
    pub t: Tr,
    /// The page's title key.
    pub title: &'static str,
    /// The form token of the session ("" without one).
    pub csrf: String,
    /// The reader's display name and role.
    pub user: Option<(String, String)>,
    /// The tenant of the page.
    pub tenant: Option<String>,
    /// The tenants the reader reaches (the switcher).
    pub tenants: Vec<String>,
    /// The navigation.
    pub nav: Vec<NavItem>,
    /// The stylesheet's hashed path.
    pub css: String,
    /// The script's hashed path.
    pub js: String,
}

impl Chrome {
    /// The chrome of a page without a reader (sign-in, errors).
    pub(crate) fn bare(_app: &App, lang: Lang, title: &'static str) -> Chrome {
        Chrome {
            t: Tr { lang },
            title,
            csrf: String::new(),
            user: None,
            tenant: None,
            tenants: Vec::new(),
            nav: Vec::new(),
            css: super::assets::css(),
            js: super::assets::js(),
        }
    }

    /// The chrome of `auth`'s page at `path`.
    pub(crate) async fn of(
        app: &App,
        auth: &Authorized,
        headers: &HeaderMap,
        title: &'static str,
        path: &str,
    ) -> ApiResult<Chrome> {
        let mut chrome = Chrome::bare(app, Lang::of(headers), title);
        let Caller::Person { user, session, .. } = auth.caller.as_ref() else {
            return Ok(chrome);
        };
        if let Some(session) = session {
            chrome.csrf = vigie_govern::csrf::token(&super::csrf_key(app), &session.hash);
            // A role that must have a second factor sees nothing but its account pages
            // until the session has one (enrolled and given, or stepped up).
            if user.role.requires_mfa() && !session.mfa && !path.starts_with("/console/me") {
                return Err(crate::api::error::ApiError::coded(
                    axum::http::StatusCode::FORBIDDEN,
                    "mfa_required",
                    "enrol a second factor first (or give it: step up)",
                ));
            }
        }
        chrome.user = Some((user.name.clone(), user.role.as_str().to_owned()));
        chrome.tenants = crate::api::me::reached(app, user)
            .await?
            .into_iter()
            .map(|r| r.tenant.as_str().to_owned())
            .collect();
        if user.role == Role::Operator {
            chrome.tenants = app
                .state
                .tenants()
                .await
                .map_err(crate::api::error::ApiError::internal)?
                .into_iter()
                .map(|t| t.as_str().to_owned())
                .collect();
        }
        chrome.tenant = auth
            .tenant
            .as_ref()
            .map(|t| t.as_str().to_owned())
            .or_else(|| chrome.tenants.first().cloned());
        chrome.nav = nav(user.role, auth.role, chrome.tenant.as_deref(), path);
        Ok(chrome)
    }

    /// The language.
    pub(crate) fn lang(&self) -> &'static str {
        self.t.lang.code()
    }
}

fn may(role: Role, action: Action) -> bool {
    allows(role, action) != Cell::Deny
}

/// The links `role` (acting as `on_tenant` on the tenant) may follow.
fn nav(role: Role, on_tenant: Option<Role>, tenant: Option<&str>, path: &str) -> Vec<NavItem> {
    let mut items = Vec::new();
    let mut push = |href: String, key: &'static str| {
        let current = path == href || path.starts_with(&format!("{href}/"));
        items.push(NavItem { href, key, current });
    };
    // A provider analyst's rights on a tenant are their grant's tier there.
    let acting = on_tenant.unwrap_or(match role {
        Role::ProviderAnalyst(_) => role,
        other => other,
    });
    // The operator administers the platform; a tenant's pages are its people's.
    if let Some(t) = tenant.filter(|_| role != Role::Operator) {
        if may(acting, Action::ReadAlerts) {
            push(format!("/console/t/{t}/alerts"), "nav.alerts");
        }
        if may(acting, Action::SearchEvents) {
            push(format!("/console/t/{t}/search"), "nav.search");
            push(format!("/console/t/{t}/hunts"), "nav.hunts");
        }
        if may(acting, Action::ReadAlerts) {
            push(format!("/console/t/{t}/rules"), "nav.rules");
            push(format!("/console/t/{t}/sources"), "nav.sources");
        }
        if may(acting, Action::ManageNotifications) {
            push(format!("/console/t/{t}/notifications"), "nav.notifications");
        }
        if may(acting, Action::ReadAudit) {
            push(format!("/console/t/{t}/audit"), "nav.audit");
            push(format!("/console/t/{t}/governance"), "nav.governance");
        }
    }
    if role.org_kind() != OrgKind::Operator {
        push("/console/access".to_owned(), "nav.access");
    }
    if may(role, Action::ManageUsers) {
        push("/console/users".to_owned(), "nav.users");
    }
    if may(role, Action::AdministerInstance) {
        push("/console/health".to_owned(), "nav.health");
        push("/console/orgs".to_owned(), "nav.orgs");
        push("/console/audit".to_owned(), "nav.audit");
    }
    push("/console/me".to_owned(), "nav.me");
    items
}

/// A 303 to `location` (after a form, or to the sign-in page).
pub(crate) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use vigie_govern::role::Tier;

    use super::*;

    fn hrefs(items: &[NavItem]) -> Vec<&str> {
        items.iter().map(|i| i.key).collect()
    }

    #[test]
    fn the_navigation_follows_the_permission_table() {
        let l1 = Role::ProviderAnalyst(Tier::L1);
        let items = nav(l1, Some(l1), Some("m"), "/console/t/m/alerts");
        assert_eq!(
            hrefs(&items),
            [
                "nav.alerts",
                "nav.rules",
                "nav.sources",
                "nav.audit",
                "nav.governance",
                "nav.access",
                "nav.me"
            ],
            "an L1 does not search events"
        );
        assert!(items[0].current);
        let admin = nav(Role::ClientAdmin, None, Some("m"), "/console/access");
        assert_eq!(
            hrefs(&admin),
            [
                "nav.notifications",
                "nav.audit",
                "nav.governance",
                "nav.access",
                "nav.users",
                "nav.me"
            ]
        );
        let op = nav(Role::Operator, None, Some("m"), "/console/health");
        assert_eq!(
            hrefs(&op),
            ["nav.users", "nav.health", "nav.orgs", "nav.audit", "nav.me"]
        );
    }
}
