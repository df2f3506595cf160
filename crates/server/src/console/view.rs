//! The pages' templates (`templates/console/*.html`) and what each one reads. askama checks
//! every template against its struct when the crate compiles; values are HTML-escaped unless
//! a template says `|safe`, which only the server-drawn SVG does.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};

use super::chrome::Chrome;

/// A template rendered as a page.
pub(crate) trait Page: Template {
    /// The HTML answer (a 500 page if the template fails, which askama makes unlikely).
    fn page(&self) -> Response {
        match self.render() {
            Ok(html) => Html(html).into_response(),
            Err(e) => crate::api::error::ApiError::internal(e).into_response(),
        }
    }
}

impl<T: Template> Page for T {}

/// An error.
#[derive(Template)]
#[template(path = "console/error.html")]
pub(crate) struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub message: String,
}

/// The sign-in page (password, then code).
#[derive(Template)]
#[template(path = "console/signin.html")]
pub(crate) struct SignIn {
    pub chrome: Chrome,
    pub error: Option<String>,
    /// The sealed proof of a right password, for the code step.
    pub pending: Option<String>,
    pub next: String,
    pub login: String,
    pub langs: Vec<(&'static str, &'static str)>,
}

/// An alert as a row of the queue.
#[derive(Clone, Debug)]
pub(crate) struct AlertRow {
    pub id: String,
    pub href: String,
    pub time: String,
    pub time_short: String,
    pub level: String,
    pub title: String,
    pub host: String,
    pub status: String,
    pub priority: String,
    pub assignee: String,
}

/// The queue's filter, as typed.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub(crate) struct QueueFilter {
    pub level: Option<String>,
    pub status: Option<String>,
    pub rule: Option<String>,
    pub host: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub q: Option<String>,
    pub cursor: Option<String>,
    /// A tier's queue (`l1`, `l2`, `l3`).
    pub queue: Option<String>,
    /// `1`: open alerts only.
    pub open: Option<String>,
    /// A user id, or `me`.
    pub assignee: Option<String>,
    /// `groups`: the group view.
    pub view: Option<String>,
}

/// A group of the queue's group view.
#[derive(Clone, Debug)]
pub(crate) struct GroupRow {
    pub href: String,
    pub title: String,
    pub level: String,
    pub entity: String,
    pub value: String,
    pub count: u64,
    pub open: u64,
    pub first: String,
    pub last: String,
    pub priority: String,
}

/// A tab of the queue: (catalog key, link, whether it is the one shown).
pub(crate) type Tab = (&'static str, String, bool);

/// The alert queue.
#[derive(Template)]
#[template(path = "console/queue.html")]
pub(crate) struct Queue {
    pub chrome: Chrome,
    pub base: String,
    pub live: String,
    pub filter: QueueFilter,
    pub levels: Vec<String>,
    pub statuses: Vec<String>,
    pub alerts: Vec<AlertRow>,
    pub next: Option<String>,
    /// The tier queues, "mine", all.
    pub tabs: Vec<Tab>,
    /// The group view's groups (when `view=groups`).
    pub groups: Option<Vec<GroupRow>>,
    /// The filter's fields, carried by the bulk form's "every alert of the filter".
    pub hidden: Vec<(String, String)>,
    /// The bulk actions the reader's role may try: (action, catalog key).
    pub bulk_actions: Vec<(&'static str, &'static str)>,
}

/// One group and its latest alerts, with the form that acts on the group at once.
#[derive(Template)]
#[template(path = "console/group.html")]
pub(crate) struct GroupPage {
    pub chrome: Chrome,
    pub back: String,
    pub self_href: String,
    pub done: Option<String>,
    pub group: GroupRow,
    pub alerts: Vec<AlertRow>,
    pub actions: Vec<(&'static str, &'static str)>,
}

/// "The filter matches N alerts": the bulk form again, with the count to confirm.
#[derive(Template)]
#[template(path = "console/bulk_confirm.html")]
pub(crate) struct BulkConfirm {
    pub chrome: Chrome,
    pub back: String,
    pub action_href: String,
    pub count: u64,
    pub fields: Vec<(String, String)>,
}

/// What a bulk action did.
#[derive(Template)]
#[template(path = "console/bulk_done.html")]
pub(crate) struct BulkDone {
    pub chrome: Chrome,
    pub back: String,
    pub done: u64,
    pub refused: Vec<(String, u64)>,
}

/// Rows pushed to an open queue.
#[derive(Template)]
#[template(path = "console/live_rows.html")]
pub(crate) struct LiveRows {
    pub chrome: Chrome,
    pub alerts: Vec<AlertRow>,
}

/// A field of an event, and whether the rule matched on it.
#[derive(Clone, Debug)]
pub(crate) struct FieldRow {
    pub name: String,
    pub value: String,
    pub matched: bool,
}

/// An event around an alert's.
#[derive(Clone, Debug)]
pub(crate) struct ContextRow {
    pub time: String,
    pub summary: String,
    pub current: bool,
}

/// One alert.
#[derive(Template)]
#[template(path = "console/alert.html")]
pub(crate) struct AlertPage {
    pub chrome: Chrome,
    pub back: String,
    /// The page's own address (its forms post below it).
    pub self_href: String,
    /// What a form's redirect says was done.
    pub done: Option<&'static str>,
    /// Whether the reader may ask for an elevation on this alert (a provider analyst).
    pub may_elevate: bool,
    /// The tier whose queue it is in.
    pub queue: String,
    /// What it was qualified as.
    pub qualification: Option<String>,
    /// The transitions the reader may make now: (action, catalog key).
    pub actions: Vec<(&'static str, &'static str)>,
    /// Its history: (time, actor, action, from → to, queue, note).
    pub history: Vec<(String, String, String, String, String, String)>,
    /// Who it is assigned to (a name), if anyone.
    pub assignee: Option<String>,
    /// Its group's page.
    pub group_href: Option<String>,
    /// Its priority.
    pub priority: String,
    /// Whether the reader may assign and comment (triages this alert's queue).
    pub may_triage: bool,
    /// The people it may be assigned to: (user id, name).
    pub assignees: Vec<(String, String)>,
    pub alert: AlertRow,
    pub rule_id: String,
    pub tags: Vec<String>,
    pub masked: bool,
    pub fields: Vec<FieldRow>,
    pub context: Vec<ContextRow>,
    pub rule_text: Option<String>,
}

/// A query's error, with a caret under its position.
#[derive(Clone, Debug)]
pub(crate) struct QueryError {
    pub column: usize,
    pub message: String,
    pub line: String,
    pub pointer: String,
}

/// An event as a row of results.
#[derive(Clone, Debug)]
pub(crate) struct EventRow {
    pub time: String,
    pub host: String,
    pub summary: String,
}

/// A value of a facet, with the link that adds it to the query.
#[derive(Clone, Debug)]
pub(crate) struct FacetValue {
    pub value: String,
    pub count: u64,
    pub href: String,
}

/// A field's top values.
#[derive(Clone, Debug)]
pub(crate) struct Facet {
    pub field: String,
    pub values: Vec<FacetValue>,
}

/// Event search.
#[derive(Template)]
#[template(path = "console/search.html")]
pub(crate) struct Search {
    pub chrome: Chrome,
    pub base: String,
    pub q: String,
    pub from: String,
    pub ranges: Vec<(&'static str, &'static str)>,
    pub error: Option<QueryError>,
    pub total: u64,
    pub histogram: String,
    pub facets: Vec<Facet>,
    pub events: Vec<EventRow>,
    pub next: Option<String>,
    pub export_ndjson: String,
    pub export_csv: String,
}

/// A session of the reader.
#[derive(Clone, Debug)]
pub(crate) struct SessionRow {
    pub since: String,
    pub last_used: String,
    pub address: String,
    pub current: bool,
}

/// A personal token of the reader.
#[derive(Clone, Debug)]
pub(crate) struct TokenRow {
    pub id: String,
    pub label: String,
    pub expires: String,
}

/// The reader's account.
#[derive(Template)]
#[template(path = "console/me.html")]
pub(crate) struct Me {
    pub chrome: Chrome,
    pub done: Option<&'static str>,
    pub login: String,
    pub role: String,
    pub mfa: bool,
    pub langs: Vec<(&'static str, &'static str)>,
    pub sessions: Vec<SessionRow>,
    pub tokens: Vec<TokenRow>,
    pub new_token: Option<String>,
}

/// The second factor: enrol, confirm, recovery codes, step up.
#[derive(Template)]
#[template(path = "console/mfa.html")]
pub(crate) struct Mfa {
    pub chrome: Chrome,
    pub error: Option<String>,
    pub enrolled: bool,
    pub step_up: bool,
    pub secret: Option<String>,
    pub qr: String,
    pub codes: Vec<String>,
}

/// A grant as the access page lists it.
#[derive(Clone, Debug)]
pub(crate) struct GrantRow {
    pub id: String,
    pub tenant: String,
    pub analyst: String,
    pub tier: String,
    pub from: String,
    pub until: String,
    pub justification: String,
    pub status: String,
    pub decided: String,
}

/// An elevation as the access page lists it.
#[derive(Clone, Debug)]
pub(crate) struct ElevationRow {
    pub id: String,
    pub tenant: String,
    pub alert: String,
    pub hours: u32,
    pub justification: String,
    pub status: String,
}

/// Grants and elevations.
#[derive(Template)]
#[template(path = "console/access.html")]
pub(crate) struct Access {
    pub chrome: Chrome,
    pub done: Option<&'static str>,
    pub grants: Vec<GrantRow>,
    pub elevations: Vec<ElevationRow>,
    pub may_approve: bool,
    pub may_revoke: bool,
    pub may_request: bool,
}

/// A user as the users page lists them.
#[derive(Clone, Debug)]
pub(crate) struct UserRow {
    pub id: String,
    pub login: String,
    pub name: String,
    pub role: String,
    pub status: String,
    /// Whether a second factor is enrolled (it can be reset).
    pub mfa: bool,
}

/// The organisation's users.
#[derive(Template)]
#[template(path = "console/users.html")]
pub(crate) struct Users {
    pub chrome: Chrome,
    pub done: Option<&'static str>,
    pub enrolment: Option<String>,
    pub users: Vec<UserRow>,
    pub roles: Vec<&'static str>,
    /// The reader's own id (no reset of one's own second factor).
    pub me: String,
}

/// An audit record as a row.
#[derive(Clone, Debug)]
pub(crate) struct AuditRow {
    pub seq: u64,
    pub time: String,
    pub who: String,
    pub action: String,
    pub objects: String,
    pub outcome: String,
}

/// A trail.
#[derive(Template)]
#[template(path = "console/audit.html")]
pub(crate) struct Audit {
    pub chrome: Chrome,
    pub base: String,
    pub actor: String,
    pub action: String,
    pub verified: Option<(bool, String)>,
    pub records: Vec<AuditRow>,
    pub next: Option<String>,
}

/// A rule as the rules page lists it.
#[derive(Clone, Debug)]
pub(crate) struct RuleRow {
    pub id: String,
    pub title: String,
    pub level: String,
    pub logsource: String,
    pub day: u64,
    pub month: u64,
    /// Alerts its suppressions in force kept back, and how many suppressions there are.
    pub suppressed: u64,
    pub suppressions: usize,
    /// The suppression editor for this rule.
    pub tune: String,
}

/// A tactic's column of the ATT&CK matrix.
#[derive(Clone, Debug)]
pub(crate) struct TacticColumn {
    pub tactic: String,
    pub techniques: Vec<(String, usize)>,
}

/// A rule that did not load.
#[derive(Clone, Debug)]
pub(crate) struct RejectedRow {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// The rules.
#[derive(Template)]
#[template(path = "console/rules.html")]
pub(crate) struct Rules {
    pub chrome: Chrome,
    pub base: String,
    pub loaded: usize,
    pub rejected: Vec<RejectedRow>,
    pub matrix: Vec<TacticColumn>,
    pub rules: Vec<RuleRow>,
}

/// A tenant's line on the health page.
#[derive(Clone, Debug)]
pub(crate) struct TenantHealth {
    pub name: String,
    pub owner: String,
    pub rate: String,
    pub spark: String,
    pub total: u64,
}

/// Platform health.
#[derive(Template)]
#[template(path = "console/health.html")]
pub(crate) struct Health {
    pub chrome: Chrome,
    pub lag: String,
    pub rules: String,
    pub tenants: Vec<TenantHealth>,
    /// (name, kind, address, tenant)
    pub listeners: Vec<(String, String, String, String)>,
    /// (tenant, source, last message, rate now, sparkline)
    pub sources: Vec<(String, String, String, String, String)>,
    pub drops: Vec<(String, u64)>,
}

/// A grant under review.
#[derive(Clone, Debug)]
pub(crate) struct ReviewItemRow {
    pub grant: String,
    pub analyst: String,
    pub tier: String,
    pub until: String,
    pub decision: String,
}

/// A review campaign and its progress.
#[derive(Clone, Debug)]
pub(crate) struct ReviewRow {
    pub id: String,
    pub deadline: String,
    pub closed: Option<String>,
    pub decided: usize,
    pub items: Vec<ReviewItemRow>,
}

/// A tenant's access governance.
#[derive(Template)]
#[template(path = "console/governance.html")]
pub(crate) struct Governance {
    pub chrome: Chrome,
    pub base: String,
    pub done: Option<&'static str>,
    pub fields: String,
    pub hours: u64,
    /// Grouping: the window in minutes, the default entity, what a closed group does,
    /// and how many rules have an entity of their own.
    pub window: u64,
    pub entity: String,
    pub when_closed: String,
    pub per_rule: usize,
    pub may_decide: bool,
    pub reviews: Vec<ReviewRow>,
}

/// The instance's organisations (the operator's).
#[derive(Template)]
#[template(path = "console/orgs.html")]
pub(crate) struct Orgs {
    pub chrome: Chrome,
    pub done: Option<&'static str>,
    /// (name, kind, tenants)
    pub orgs: Vec<(String, String, String)>,
}

/// A suppression as the editor lists it.
#[derive(Clone, Debug)]
pub(crate) struct SuppressionRow {
    pub id: String,
    pub title: String,
    pub rules: String,
    pub justification: String,
    pub author: String,
    pub created: String,
    pub expires: String,
    pub state: String,
    pub hits: u64,
    pub last_hit: String,
    pub document: String,
}

/// A preview's answer.
#[derive(Clone, Debug)]
pub(crate) struct PreviewView {
    /// "It would have kept back N of the M alerts…", in the reader's language.
    pub summary: String,
    pub checked: u64,
    pub suppressed: u64,
    pub missing: u64,
    pub samples: Vec<AlertRow>,
}

/// The suppression editor: the tenant's suppressions, and the form (with a preview).
#[derive(Template)]
#[template(path = "console/suppressions.html")]
pub(crate) struct SuppressionsPage {
    pub chrome: Chrome,
    pub base: String,
    pub done: Option<&'static str>,
    pub may_manage: bool,
    pub rows: Vec<SuppressionRow>,
    pub document: String,
    pub justification: String,
    pub days: u32,
    pub preview: Option<PreviewView>,
}

/// A retro-hunt as the jobs page lists it.
#[derive(Clone, Debug)]
pub(crate) struct HuntRow {
    pub href: String,
    pub rule: String,
    pub range: String,
    pub status: String,
    pub in_range: u64,
    pub candidates: u64,
    pub checked: u64,
    pub matched: u64,
    pub raised: u64,
    pub elapsed: String,
    pub rate: String,
    pub error: String,
    pub query: String,
    pub document: String,
}

/// The retro-hunt jobs and the form that starts one.
#[derive(Template)]
#[template(path = "console/hunts.html")]
pub(crate) struct HuntsPage {
    pub chrome: Chrome,
    pub base: String,
    pub rows: Vec<HuntRow>,
    /// Loaded rules: (id, title).
    pub rules: Vec<(String, String)>,
}

/// One retro-hunt: progress, cancel, results, alerts from them.
#[derive(Template)]
#[template(path = "console/hunt.html")]
pub(crate) struct HuntPage {
    pub chrome: Chrome,
    pub back: String,
    pub self_href: String,
    pub done: Option<String>,
    pub hunt: HuntRow,
    pub running: bool,
    pub results: Vec<AlertRow>,
}

/// A source of the inventory.
#[derive(Clone, Debug)]
pub(crate) struct SourceView {
    pub source: String,
    pub host: String,
    pub first: String,
    pub last: String,
    pub events: u64,
    pub per_hour: String,
    pub per_day: String,
    pub owner: String,
    pub threshold: String,
    pub learnt: bool,
    pub state: String,
    pub alert_href: Option<String>,
    /// The last 7 days per hour, drawn (SVG).
    pub spark: String,
}

/// The source inventory.
#[derive(Template)]
#[template(path = "console/sources.html")]
pub(crate) struct SourcesPage {
    pub chrome: Chrome,
    pub base: String,
    pub done: bool,
    pub may_manage: bool,
    pub rows: Vec<SourceView>,
}

/// A notification rule, in words.
#[derive(Clone, Debug)]
pub(crate) struct NotifyRuleRow {
    pub id: String,
    pub name: String,
    pub trigger: String,
    pub channel: String,
    pub enabled: bool,
}

/// A notification sent (or waiting, failed, dropped).
#[derive(Clone, Debug)]
pub(crate) struct DeliveryRow {
    pub created: String,
    pub rule: String,
    pub channel: String,
    pub status: String,
    pub attempts: u64,
    pub error: String,
    pub total: u64,
    pub what: String,
}

/// The notification settings: rules, the form that adds one, what was sent.
#[derive(Template)]
#[template(path = "console/notifications.html")]
pub(crate) struct NotificationsPage {
    pub chrome: Chrome,
    pub base: String,
    pub done: Option<&'static str>,
    /// A new webhook rule's (name, signing secret), shown once.
    pub secret: Option<(String, String)>,
    pub rules: Vec<NotifyRuleRow>,
    pub deliveries: Vec<DeliveryRow>,
    pub has_mail: bool,
}
