//! The alert lifecycle (DESIGN.md 3b, "The alert and case lifecycle"): which transition is
//! allowed from which status, to whom, and with what note. SLA figures are computed from
//! the rows these transitions write, so the rules live here, pure and tested, and the
//! server only records what [`apply`] answers.
//!
//! ```text
//! new ──acknowledge──► acknowledged ──qualify(q, reason)──► qualified ──close──► closed
//!                          │   ▲                               │                   │
//!            escalate(t, note) │ de-escalate(t, note)   escalate(t, note)   reopen(note)
//!                          ▼   │                               ▼                   ▼
//!                        escalated (queue L2 or L3) ──qualify──► qualified      new
//! any open status ──link──► linked (to a case: the case's lifecycle takes over)
//! ```
//!
//! Decisions:
//! - An alert sits in one tier's queue (L1 until escalated). A provider analyst acts on the
//!   alerts of their tier's queue and of the queues below it (an L2 may pick up L1's work, an
//!   L1 never touches what was escalated above them); a client analyst (the client's own
//!   SOC) acts on every queue. What a role may do at all is the permission table's:
//!   `triage-alerts` for acknowledging, qualifying, closing, reopening and linking;
//!   `escalate` for escalating and de-escalating.
//! - Escalating and de-escalating need a handover note (what was checked, what is
//!   suspected); qualifying needs a reason; reopening a closed alert needs a note. Notes are
//!   at most [`MAX_NOTE`] characters.
//! - Closing needs a qualification first: an alert is never closed without saying what it
//!   was (a true positive closes once handled, a false positive once qualified).

use crate::permission::{Action, Cell, allows};
use crate::role::{Role, Tier};

/// The longest note, in characters.
pub const MAX_NOTE: usize = 4000;

/// Where an alert stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not looked at yet.
    New,
    /// Someone is on it.
    Acknowledged,
    /// Said what it is (see [`Qualification`]).
    Qualified,
    /// Handed to a higher tier's queue.
    Escalated,
    /// Done with.
    Closed,
    /// Part of a case, which carries it from now on.
    Linked,
}

/// What an alert turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Qualification {
    /// A real attack or policy violation.
    TruePositive,
    /// The rule fired on something it should not have.
    FalsePositive,
    /// Real activity, legitimate (an admin's expected action).
    Benign,
    /// The same thing as another alert.
    Duplicate,
}

/// The state of an alert that the lifecycle reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertState {
    /// Its status.
    pub status: Status,
    /// The tier whose queue it is in.
    pub queue: Tier,
    /// What it was qualified as, once it was.
    pub qualification: Option<Qualification>,
}

impl AlertState {
    /// A new alert: in L1's queue.
    pub const NEW: AlertState = AlertState {
        status: Status::New,
        queue: Tier::L1,
        qualification: None,
    };
}

/// What someone does to an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// "I am on it."
    Acknowledge,
    /// Says what it is.
    Qualify(Qualification),
    /// Hands it to a higher tier's queue.
    Escalate(Tier),
    /// Hands it back to a lower tier's queue.
    Deescalate(Tier),
    /// Done with (once qualified).
    Close,
    /// A closed alert needs looking at again (back to new, in the same queue).
    Reopen,
    /// Joins a case.
    Link,
}

/// Why a transition is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The role may not do this at all (the permission table).
    Role,
    /// The alert is in a higher tier's queue than the analyst's.
    Queue,
    /// Not from this status (the message says which).
    Status(&'static str),
    /// A note is required and missing, or too long.
    Note(&'static str),
    /// Escalating to a tier not above the queue's, or de-escalating to one not below.
    Tier(&'static str),
    /// The person an alert is assigned to could not work on it (their role on the tenant
    /// does not triage, or does not reach the alert's queue).
    Assignee,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Role => f.write_str("the role does not allow this on alerts"),
            Refusal::Queue => f.write_str("the alert is in a higher tier's queue"),
            Refusal::Assignee => f.write_str(
                "the assignee cannot work on this alert: their role on the tenant does not \
                 triage alerts of its queue",
            ),
            Refusal::Status(why) | Refusal::Note(why) | Refusal::Tier(why) => f.write_str(why),
        }
    }
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 6] = [
        Status::New,
        Status::Acknowledged,
        Status::Qualified,
        Status::Escalated,
        Status::Closed,
        Status::Linked,
    ];

    /// Its stable name (database, API).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Acknowledged => "acknowledged",
            Status::Qualified => "qualified",
            Status::Escalated => "escalated",
            Status::Closed => "closed",
            Status::Linked => "linked",
        }
    }

    /// From its name.
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the alert still needs someone (not closed, not carried by a case).
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Closed | Status::Linked)
    }
}

impl Qualification {
    /// Every qualification.
    pub const ALL: [Qualification; 4] = [
        Qualification::TruePositive,
        Qualification::FalsePositive,
        Qualification::Benign,
        Qualification::Duplicate,
    ];

    /// Its stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Qualification::TruePositive => "true-positive",
            Qualification::FalsePositive => "false-positive",
            Qualification::Benign => "benign",
            Qualification::Duplicate => "duplicate",
        }
    }

    /// From its name.
    pub fn parse(text: &str) -> Option<Qualification> {
        Qualification::ALL.into_iter().find(|q| q.as_str() == text)
    }
}

impl Transition {
    /// The permission-table action it needs.
    pub fn action(self) -> Action {
        match self {
            Transition::Escalate(_) | Transition::Deescalate(_) => Action::Escalate,
            _ => Action::TriageAlerts,
        }
    }

    /// Its stable name (the history row's).
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Acknowledge => "acknowledge",
            Transition::Qualify(_) => "qualify",
            Transition::Escalate(_) => "escalate",
            Transition::Deescalate(_) => "deescalate",
            Transition::Close => "close",
            Transition::Reopen => "reopen",
            Transition::Link => "link",
        }
    }
}

/// Whether `role` (acting on the tenant with this role: a provider analyst's is their
/// grant's tier) may act on an alert in `queue`.
fn reaches(role: Role, queue: Tier) -> bool {
    match role {
        Role::ProviderAnalyst(tier) => queue <= tier,
        _ => true,
    }
}

fn note_of(note: Option<&str>, why: &'static str) -> Result<(), Refusal> {
    let text = note.map(str::trim).unwrap_or("");
    if text.is_empty() {
        return Err(Refusal::Note(why));
    }
    if text.chars().count() > MAX_NOTE {
        return Err(Refusal::Note("a note has at most 4000 characters"));
    }
    Ok(())
}

/// The state after `transition` by `role` with `note`, or why not.
pub fn apply(
    state: AlertState,
    transition: Transition,
    role: Role,
    note: Option<&str>,
) -> Result<AlertState, Refusal> {
    if allows(role, transition.action()) == Cell::Deny {
        return Err(Refusal::Role);
    }
    if !reaches(role, state.queue) {
        return Err(Refusal::Queue);
    }
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(Refusal::Note("a note has at most 4000 characters"));
    }
    use Status::*;
    match transition {
        Transition::Acknowledge => match state.status {
            New => Ok(AlertState {
                status: Acknowledged,
                ..state
            }),
            _ => Err(Refusal::Status("only a new alert is acknowledged")),
        },
        Transition::Qualify(q) => {
            if !matches!(state.status, Acknowledged | Escalated | Qualified) {
                return Err(Refusal::Status(
                    "acknowledge the alert before qualifying it",
                ));
            }
            note_of(note, "qualifying takes a reason")?;
            Ok(AlertState {
                status: Qualified,
                qualification: Some(q),
                ..state
            })
        }
        Transition::Escalate(tier) => {
            if !matches!(state.status, Acknowledged | Qualified | Escalated) {
                return Err(Refusal::Status(
                    "acknowledge the alert before escalating it",
                ));
            }
            if tier <= state.queue {
                return Err(Refusal::Tier("escalate to a tier above the alert's queue"));
            }
            note_of(
                note,
                "escalating takes a handover note: what was checked, what is suspected",
            )?;
            Ok(AlertState {
                status: Escalated,
                queue: tier,
                ..state
            })
        }
        Transition::Deescalate(tier) => {
            if state.status != Escalated {
                return Err(Refusal::Status("only an escalated alert is de-escalated"));
            }
            if tier >= state.queue {
                return Err(Refusal::Tier(
                    "de-escalate to a tier below the alert's queue",
                ));
            }
            note_of(note, "de-escalating takes a handover note")?;
            Ok(AlertState {
                status: if tier == Tier::L1 {
                    Acknowledged
                } else {
                    Escalated
                },
                queue: tier,
                ..state
            })
        }
        Transition::Close => match state.status {
            Qualified => Ok(AlertState {
                status: Closed,
                ..state
            }),
            _ => Err(Refusal::Status("qualify the alert before closing it")),
        },
        Transition::Reopen => {
            if state.status != Closed {
                return Err(Refusal::Status("only a closed alert is reopened"));
            }
            note_of(note, "reopening takes a note: why again")?;
            Ok(AlertState {
                status: New,
                qualification: None,
                ..state
            })
        }
        Transition::Link => {
            if !state.status.is_open() {
                return Err(Refusal::Status("a closed or linked alert joins no case"));
            }
            Ok(AlertState {
                status: Linked,
                ..state
            })
        }
    }
}

/// Whether `role` may assign an alert in `state` to a person whose role on the tenant is
/// `assignee`, or (`None`) hand it back to its queue, unassigned.
///
/// Decisions: assigning is triage work (`triage-alerts`, on a queue the role reaches); an
/// alert is assigned only while open (a closed alert has nobody to work it; reopening puts
/// it back in its queue); the assignee must be able to act on it (a provider L1 is never
/// given an alert of L2's queue, an auditor never any). Moving an alert to another tier's
/// queue is escalation or de-escalation, never assignment, because those take a handover
/// note.
pub fn assign(state: AlertState, role: Role, assignee: Option<Role>) -> Result<(), Refusal> {
    if allows(role, Action::TriageAlerts) == Cell::Deny {
        return Err(Refusal::Role);
    }
    if !reaches(role, state.queue) {
        return Err(Refusal::Queue);
    }
    if !state.status.is_open() {
        return Err(Refusal::Status("a closed or linked alert is not assigned"));
    }
    if let Some(assignee) = assignee
        && (allows(assignee, Action::TriageAlerts) == Cell::Deny || !reaches(assignee, state.queue))
    {
        return Err(Refusal::Assignee);
    }
    Ok(())
}

/// Whether `role` may comment on an alert in `queue` with `note`.
///
/// Decisions: whoever may triage the alert may comment on it, in any status (a closed
/// alert's comment records what was learnt later); a comment is a note of 1 to
/// [`MAX_NOTE`] characters.
pub fn comment(queue: Tier, role: Role, note: Option<&str>) -> Result<(), Refusal> {
    if allows(role, Action::TriageAlerts) == Cell::Deny {
        return Err(Refusal::Role);
    }
    if !reaches(role, queue) {
        return Err(Refusal::Queue);
    }
    note_of(note, "a comment has text")
}

#[cfg(test)]
mod tests {
    use super::*;

    const L1: Role = Role::ProviderAnalyst(Tier::L1);
    const L2: Role = Role::ProviderAnalyst(Tier::L2);
    const L3: Role = Role::ProviderAnalyst(Tier::L3);

    fn at(status: Status, queue: Tier) -> AlertState {
        AlertState {
            status,
            queue,
            qualification: None,
        }
    }

    #[test]
    fn the_happy_paths() {
        let s = AlertState::NEW;
        let s = apply(s, Transition::Acknowledge, L1, None).expect("ack");
        assert_eq!(s.status, Status::Acknowledged);
        let fp = apply(
            s,
            Transition::Qualify(Qualification::FalsePositive),
            L1,
            Some("backup job"),
        )
        .expect("qualify");
        assert_eq!(fp.qualification, Some(Qualification::FalsePositive));
        let closed = apply(fp, Transition::Close, L1, None).expect("close");
        assert_eq!(closed.status, Status::Closed);
        // Escalation to L2, then L3, then back.
        let e = apply(s, Transition::Escalate(Tier::L2), L1, Some("mimikatz?")).expect("esc");
        assert_eq!((e.status, e.queue), (Status::Escalated, Tier::L2));
        let e3 = apply(
            e,
            Transition::Escalate(Tier::L3),
            L2,
            Some("needs forensics"),
        )
        .expect("l3");
        assert_eq!(e3.queue, Tier::L3);
        let back = apply(e3, Transition::Deescalate(Tier::L2), L3, Some("done")).expect("de");
        assert_eq!((back.status, back.queue), (Status::Escalated, Tier::L2));
        let l1 = apply(back, Transition::Deescalate(Tier::L1), L2, Some("routine")).expect("de");
        assert_eq!((l1.status, l1.queue), (Status::Acknowledged, Tier::L1));
        let linked = apply(fp, Transition::Link, L1, None).expect("link");
        assert_eq!(
            linked,
            AlertState {
                status: Status::Linked,
                queue: Tier::L1,
                qualification: Some(Qualification::FalsePositive)
            }
        );
        let reopened = apply(closed, Transition::Reopen, L1, Some("it came back")).expect("re");
        assert_eq!(reopened.status, Status::New);
        assert_eq!(reopened.qualification, None);
    }

    #[test]
    fn every_status_and_transition_is_decided() {
        // The table of what is allowed from where (for a client analyst, who reaches every
        // queue and holds both actions), with the notes given.
        let transitions = [
            Transition::Acknowledge,
            Transition::Qualify(Qualification::TruePositive),
            Transition::Escalate(Tier::L3),
            Transition::Deescalate(Tier::L1),
            Transition::Close,
            Transition::Reopen,
            Transition::Link,
        ];
        let allowed = |status: Status, t: Transition| -> bool {
            use Status::*;
            match t {
                Transition::Acknowledge => status == New,
                Transition::Qualify(_) => matches!(status, Acknowledged | Escalated | Qualified),
                Transition::Escalate(_) => matches!(status, Acknowledged | Qualified | Escalated),
                Transition::Deescalate(_) => status == Escalated,
                Transition::Close => status == Qualified,
                Transition::Reopen => status == Closed,
                Transition::Link => !matches!(status, Closed | Linked),
            }
        };
        for status in Status::ALL {
            for t in transitions {
                let state = at(status, Tier::L2);
                let got = apply(state, t, Role::ClientAnalyst, Some("a note"));
                assert_eq!(got.is_ok(), allowed(status, t), "{status:?} {t:?}: {got:?}");
            }
        }
    }

    #[test]
    fn notes_are_required_where_the_issue_says() {
        let ack = at(Status::Acknowledged, Tier::L1);
        for note in [None, Some(""), Some("   ")] {
            assert!(matches!(
                apply(ack, Transition::Escalate(Tier::L2), L1, note),
                Err(Refusal::Note(_))
            ));
            assert!(matches!(
                apply(ack, Transition::Qualify(Qualification::Benign), L1, note),
                Err(Refusal::Note(_))
            ));
            assert!(matches!(
                apply(
                    at(Status::Escalated, Tier::L2),
                    Transition::Deescalate(Tier::L1),
                    L2,
                    note
                ),
                Err(Refusal::Note(_))
            ));
            assert!(matches!(
                apply(at(Status::Closed, Tier::L1), Transition::Reopen, L1, note),
                Err(Refusal::Note(_))
            ));
        }
        // Acknowledging and closing need none; a note too long is refused anywhere.
        assert!(apply(AlertState::NEW, Transition::Acknowledge, L1, None).is_ok());
        let long = "x".repeat(MAX_NOTE + 1);
        assert!(matches!(
            apply(AlertState::NEW, Transition::Acknowledge, L1, Some(&long)),
            Err(Refusal::Note(_))
        ));
        let just = "é".repeat(MAX_NOTE);
        assert!(apply(ack, Transition::Escalate(Tier::L2), L1, Some(&just)).is_ok());
    }

    #[test]
    fn tiers_act_on_their_queue_and_below() {
        let in_l2 = at(Status::Escalated, Tier::L2);
        assert_eq!(
            apply(
                in_l2,
                Transition::Qualify(Qualification::TruePositive),
                L1,
                Some("r")
            ),
            Err(Refusal::Queue)
        );
        assert!(
            apply(
                in_l2,
                Transition::Qualify(Qualification::TruePositive),
                L2,
                Some("r")
            )
            .is_ok()
        );
        assert!(
            apply(
                in_l2,
                Transition::Qualify(Qualification::TruePositive),
                L3,
                Some("r")
            )
            .is_ok()
        );
        let in_l1 = at(Status::Acknowledged, Tier::L1);
        assert!(apply(in_l1, Transition::Escalate(Tier::L2), L2, Some("n")).is_ok());
        // The client's own analysts reach every queue.
        assert!(
            apply(
                at(Status::Escalated, Tier::L3),
                Transition::Close,
                Role::ClientAnalyst,
                None
            )
            .is_err()
        );
        assert!(
            apply(
                at(Status::Escalated, Tier::L3),
                Transition::Qualify(Qualification::Benign),
                Role::ClientAnalyst,
                Some("r")
            )
            .is_ok()
        );
    }

    #[test]
    fn escalation_goes_up_and_deescalation_down() {
        let ack = at(Status::Acknowledged, Tier::L1);
        assert!(matches!(
            apply(ack, Transition::Escalate(Tier::L1), L1, Some("n")),
            Err(Refusal::Tier(_))
        ));
        let esc = at(Status::Escalated, Tier::L2);
        assert!(matches!(
            apply(esc, Transition::Escalate(Tier::L2), L2, Some("n")),
            Err(Refusal::Tier(_))
        ));
        assert!(matches!(
            apply(esc, Transition::Deescalate(Tier::L2), L2, Some("n")),
            Err(Refusal::Tier(_))
        ));
        assert!(matches!(
            apply(esc, Transition::Deescalate(Tier::L3), L3, Some("n")),
            Err(Refusal::Tier(_))
        ));
    }

    #[test]
    fn roles_follow_the_permission_table() {
        for role in Role::ALL {
            for t in [Transition::Acknowledge, Transition::Escalate(Tier::L3)] {
                let got = apply(at(Status::Acknowledged, Tier::L1), t, role, Some("n"));
                let table = allows(role, t.action()) != Cell::Deny;
                assert_eq!(got != Err(Refusal::Role), table, "{role:?} {t:?}: {got:?}");
            }
        }
        // The client admin, the CISO, the auditor and the operator triage nothing.
        for role in [
            Role::ClientAdmin,
            Role::Ciso,
            Role::Auditor,
            Role::Operator,
            Role::ProviderAdmin,
        ] {
            assert_eq!(
                apply(AlertState::NEW, Transition::Acknowledge, role, None),
                Err(Refusal::Role)
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for q in Qualification::ALL {
            assert_eq!(Qualification::parse(q.as_str()), Some(q));
        }
        assert_eq!(Status::parse("open"), None);
        assert_eq!(Qualification::parse("fp"), None);
        assert!(Status::New.is_open() && Status::Escalated.is_open());
        assert!(!Status::Closed.is_open() && !Status::Linked.is_open());
        assert_eq!(Transition::Escalate(Tier::L2).action(), Action::Escalate);
        assert_eq!(Transition::Deescalate(Tier::L1).action(), Action::Escalate);
        assert_eq!(Transition::Close.action(), Action::TriageAlerts);
        assert_eq!(Transition::Reopen.as_str(), "reopen");
        assert_eq!(
            Refusal::Queue.to_string(),
            "the alert is in a higher tier's queue"
        );
    }

    #[test]
    fn assignment_follows_the_queue_and_the_assignee() {
        let ack = at(Status::Acknowledged, Tier::L1);
        let on_l2 = at(Status::Escalated, Tier::L2);
        // Anyone who triages the queue assigns it to someone who can work it.
        assert_eq!(assign(ack, L1, Some(L1)), Ok(()));
        assert_eq!(assign(ack, L1, Some(L2)), Ok(()));
        assert_eq!(assign(ack, L1, None), Ok(()));
        assert_eq!(assign(on_l2, L2, Some(L3)), Ok(()));
        assert_eq!(assign(on_l2, Role::ClientAnalyst, Some(L2)), Ok(()));
        // Not to someone the queue is out of reach of, nor to a role that does not triage.
        assert_eq!(assign(on_l2, L2, Some(L1)), Err(Refusal::Assignee));
        assert_eq!(assign(ack, L1, Some(Role::Auditor)), Err(Refusal::Assignee));
        assert_eq!(
            assign(ack, L1, Some(Role::ClientAdmin)),
            Err(Refusal::Assignee)
        );
        // Not by a role that does not triage, nor on a queue out of the caller's reach.
        assert_eq!(assign(ack, Role::Ciso, Some(L1)), Err(Refusal::Role));
        assert_eq!(assign(on_l2, L1, Some(L2)), Err(Refusal::Queue));
        assert_eq!(assign(on_l2, L1, None), Err(Refusal::Queue));
        // Not once closed or linked; in every open status.
        for status in Status::ALL {
            let got = assign(at(status, Tier::L1), L1, Some(L1));
            assert_eq!(got.is_ok(), status.is_open(), "{status:?}");
        }
    }

    #[test]
    fn comments_need_text_and_reach() {
        assert_eq!(comment(Tier::L1, L1, Some("checked the host")), Ok(()));
        assert_eq!(comment(Tier::L2, L3, Some("seen before")), Ok(()));
        assert!(matches!(
            comment(Tier::L1, L1, Some("  ")),
            Err(Refusal::Note(_))
        ));
        assert!(matches!(comment(Tier::L1, L1, None), Err(Refusal::Note(_))));
        let long = "x".repeat(MAX_NOTE + 1);
        assert!(matches!(
            comment(Tier::L1, L1, Some(&long)),
            Err(Refusal::Note(_))
        ));
        let longest = "x".repeat(MAX_NOTE);
        assert_eq!(comment(Tier::L1, L1, Some(&longest)), Ok(()));
        assert_eq!(comment(Tier::L2, L1, Some("hm")), Err(Refusal::Queue));
        assert_eq!(
            comment(Tier::L1, Role::Auditor, Some("hm")),
            Err(Refusal::Role)
        );
    }
}
