//! The regulators' clocks: when each report of an incident is due under NIS2, DORA and the
//! GDPR, from the facts of the case, as pure functions (no clock of their own: `now` is
//! given).
//!
//! - **NIS2** (Directive (EU) 2022/2555, Art. 23(4)): early warning within 24 h of becoming
//!   aware of a significant incident; incident notification within 72 h of awareness; final
//!   report within one month of the incident notification's submission.
//! - **DORA** (Regulation (EU) 2022/2554 Art. 19; RTS (EU) 2025/301 Art. 5): initial
//!   notification within 4 h of classification as major and at most 24 h after awareness —
//!   or, classified later than that, within 4 h of the classification (5(2)); intermediate
//!   report within 72 h of the initial notification's submission; final report within one
//!   month of the latest intermediate report. A deadline on a weekend day or a holiday may
//!   be met by noon of the next working day (5(4)), except for the initial and intermediate
//!   reports of the entities 5(5)–(6) exclude (credit institutions, central counterparties,
//!   trading venues, NIS2 essential or important entities, and those a supervisor names):
//!   [`Setting::dora_without_relief`].
//! - **GDPR** (Art. 33(1)): the supervisory authority within 72 h of becoming aware.
//!
//! Hours are elapsed time (72 h across a daylight-saving change are 72 real hours); a month
//! is a calendar month in the tenant's time zone, clamped to the month's end (31 January + 1
//! month = the last day of February); working days come from [`crate::calendar`].

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, ZonedDateTime as Zoned};
use vigie_event::time::Timestamp;

use crate::GovernError;
use crate::calendar::{Calendar, is_working_day, next_working_day};

/// A report a regime asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Report {
    /// NIS2 Art. 23(4)(a).
    Nis2EarlyWarning,
    /// NIS2 Art. 23(4)(b).
    Nis2Notification,
    /// NIS2 Art. 23(4)(d).
    Nis2Final,
    /// DORA RTS 2025/301 Art. 5(1)(a).
    DoraInitial,
    /// DORA RTS 2025/301 Art. 5(1)(b).
    DoraIntermediate,
    /// DORA RTS 2025/301 Art. 5(1)(c).
    DoraFinal,
    /// GDPR Art. 33(1).
    GdprNotification,
}

impl Report {
    /// Every report, in the order a case shows them.
    pub const ALL: [Report; 7] = [
        Report::Nis2EarlyWarning,
        Report::Nis2Notification,
        Report::Nis2Final,
        Report::DoraInitial,
        Report::DoraIntermediate,
        Report::DoraFinal,
        Report::GdprNotification,
    ];

    /// Its stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Report::Nis2EarlyWarning => "nis2-early-warning",
            Report::Nis2Notification => "nis2-notification",
            Report::Nis2Final => "nis2-final",
            Report::DoraInitial => "dora-initial",
            Report::DoraIntermediate => "dora-intermediate",
            Report::DoraFinal => "dora-final",
            Report::GdprNotification => "gdpr-notification",
        }
    }

    /// The text that sets its deadline.
    pub fn citation(self) -> &'static str {
        match self {
            Report::Nis2EarlyWarning => "Directive (EU) 2022/2555 Art. 23(4)(a)",
            Report::Nis2Notification => "Directive (EU) 2022/2555 Art. 23(4)(b)",
            Report::Nis2Final => "Directive (EU) 2022/2555 Art. 23(4)(d)",
            Report::DoraInitial => "Delegated Regulation (EU) 2025/301 Art. 5(1)(a), 5(2)",
            Report::DoraIntermediate => "Delegated Regulation (EU) 2025/301 Art. 5(1)(b)",
            Report::DoraFinal => "Delegated Regulation (EU) 2025/301 Art. 5(1)(c)",
            Report::GdprNotification => "Regulation (EU) 2016/679 Art. 33(1)",
        }
    }
}

/// What a case knows that the clocks run from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// When the entity became aware of the incident (set by a named person).
    pub aware_at: Option<Timestamp>,
    /// DORA: when it was classified as major.
    pub classified_at: Option<Timestamp>,
    /// NIS2: when the incident notification was submitted.
    pub nis2_notified_at: Option<Timestamp>,
    /// DORA: when the initial notification was submitted.
    pub dora_initial_at: Option<Timestamp>,
    /// DORA: when the latest intermediate report was submitted.
    pub dora_intermediate_at: Option<Timestamp>,
}

/// A tenant's setting for its clocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Its time zone (IANA name, e.g. `Europe/Paris`).
    pub zone: String,
    /// Its holidays.
    pub calendar: Calendar,
    /// DORA: the entity is one whose initial and intermediate reports get no weekend relief.
    pub dora_without_relief: bool,
}

/// When a report is due, and from what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    /// The moment the clock started from.
    pub from: Timestamp,
    /// The deadline.
    pub at: Timestamp,
    /// Whether the weekend or holiday relief moved it (noon of the next working day).
    pub relieved: bool,
}

fn jiff_time(t: Timestamp) -> Result<jiff::Timestamp, GovernError> {
    jiff::Timestamp::from_nanosecond(i128::from(t.as_nanos()))
        .map_err(|e| GovernError::Deadline(format!("time {}: {e}", t.as_nanos())))
}

fn ours(t: &Zoned) -> Timestamp {
    Timestamp::from_nanos(i64::try_from(t.timestamp().as_nanosecond()).unwrap_or(i64::MAX))
}

fn zone(setting: &Setting) -> Result<TimeZone, GovernError> {
    TimeZone::get(&setting.zone)
        .map_err(|e| GovernError::Deadline(format!("time zone {:?}: {e}", setting.zone)))
}

fn plus_hours(from: Timestamp, hours: i64) -> Timestamp {
    Timestamp::from_nanos(
        from.as_nanos()
            .saturating_add(hours.saturating_mul(3_600_000_000_000)),
    )
}

fn plus_month(from: Timestamp, tz: &TimeZone) -> Result<Timestamp, GovernError> {
    let local = jiff_time(from)?.to_zoned_datetime(tz.clone());
    let later = local
        .checked_add(Span::new().months(1))
        .map_err(|e| GovernError::Deadline(format!("a month after {local}: {e}")))?;
    Ok(ours(&later))
}

/// DORA's relief (RTS 2025/301 Art. 5(4)): a deadline on a weekend day or a holiday moves
/// to noon of the next working day.
fn relieve(
    at: Timestamp,
    tz: &TimeZone,
    calendar: Calendar,
) -> Result<(Timestamp, bool), GovernError> {
    let local = jiff_time(at)?.to_zoned_datetime(tz.clone());
    if is_working_day(calendar, local.date()) {
        return Ok((at, false));
    }
    let day = next_working_day(calendar, local.date());
    let noon = day
        .at(12, 0, 0, 0)
        .to_zoned_datetime(tz.clone())
        .map_err(|e| GovernError::Deadline(format!("noon of {day}: {e}")))?;
    Ok((ours(&noon), true))
}

/// When `report` is due, or `None` while what starts its clock is not known yet (not
/// aware, not classified, the earlier report not submitted).
pub fn due(report: Report, facts: &Facts, setting: &Setting) -> Result<Option<Due>, GovernError> {
    let tz = zone(setting)?;
    let plain = |from: Option<Timestamp>, hours: i64| {
        from.map(|f| Due {
            from: f,
            at: plus_hours(f, hours),
            relieved: false,
        })
    };
    let with_relief = |d: Option<Due>, applies: bool| -> Result<Option<Due>, GovernError> {
        match d {
            Some(d) if applies => {
                let (at, relieved) = relieve(d.at, &tz, setting.calendar)?;
                Ok(Some(Due { at, relieved, ..d }))
            }
            other => Ok(other),
        }
    };
    let month = |from: Option<Timestamp>| -> Result<Option<Due>, GovernError> {
        from.map(|f| {
            plus_month(f, &tz).map(|at| Due {
                from: f,
                at,
                relieved: false,
            })
        })
        .transpose()
    };
    let relief = !setting.dora_without_relief;
    match report {
        Report::Nis2EarlyWarning => Ok(plain(facts.aware_at, 24)),
        Report::Nis2Notification | Report::GdprNotification => Ok(plain(facts.aware_at, 72)),
        Report::Nis2Final => month(facts.nis2_notified_at),
        Report::DoraInitial => {
            let (Some(aware), Some(classified)) = (facts.aware_at, facts.classified_at) else {
                return Ok(None);
            };
            let backstop = plus_hours(aware, 24);
            let four = plus_hours(classified, 4);
            // Classified more than 24 h after awareness: 4 h from the classification
            // (5(2)); otherwise the earlier of the two.
            let at = if classified > backstop {
                four
            } else {
                four.min(backstop)
            };
            let d = Due {
                from: classified,
                at,
                relieved: false,
            };
            with_relief(Some(d), relief)
        }
        Report::DoraIntermediate => with_relief(plain(facts.dora_initial_at, 72), relief),
        Report::DoraFinal => with_relief(month(facts.dora_intermediate_at)?, true),
    }
}

/// Where a clock stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockState {
    /// What starts it is not known yet.
    NotStarted,
    /// Running, with more than a quarter of its time left.
    Running,
    /// Running, with less than a quarter of its time left: the case owner and the CISO are
    /// told.
    AtRisk,
    /// Past its deadline and not submitted.
    Late,
    /// Submitted in time.
    Submitted,
    /// Submitted after its deadline (the submission says why).
    SubmittedLate,
}

/// The state of a clock due as `due` (from [`due`]), submitted at `submitted`, at `now`.
pub fn state(due: Option<Due>, submitted: Option<Timestamp>, now: Timestamp) -> ClockState {
    let Some(d) = due else {
        return ClockState::NotStarted;
    };
    match submitted {
        Some(s) if s <= d.at => ClockState::Submitted,
        Some(_) => ClockState::SubmittedLate,
        None if now > d.at => ClockState::Late,
        None => {
            let total = i128::from(d.at.as_nanos()) - i128::from(d.from.as_nanos());
            let left = i128::from(d.at.as_nanos()) - i128::from(now.as_nanos());
            if left.saturating_mul(4) < total {
                ClockState::AtRisk
            } else {
                ClockState::Running
            }
        }
    }
}

/// What remains before `due` at `now` (negative when late).
pub fn remaining(due: Due, now: Timestamp) -> SignedDuration {
    SignedDuration::from_nanos(due.at.as_nanos().saturating_sub(now.as_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris(text: &str) -> Timestamp {
        let z: Zoned = format!("{text}[Europe/Paris]")
            .parse()
            .expect("a time in Paris");
        ours(&z)
    }

    fn show(t: Timestamp) -> String {
        jiff_time(t)
            .expect("time")
            .to_zoned_datetime(TimeZone::get("Europe/Paris").expect("zone"))
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    fn setting(without_relief: bool) -> Setting {
        Setting {
            zone: "Europe/Paris".into(),
            calendar: Calendar::France,
            dora_without_relief: without_relief,
        }
    }

    fn at(report: Report, facts: &Facts, s: &Setting) -> String {
        show(due(report, facts, s).expect("due").expect("started").at)
    }

    #[test]
    fn awareness_late_on_a_friday() {
        // Friday 4 December 2026, 23:30 in Paris.
        let facts = Facts {
            aware_at: Some(paris("2026-12-04T23:30")),
            classified_at: Some(paris("2026-12-04T23:30")),
            ..Facts::default()
        };
        let s = setting(false);
        assert_eq!(
            at(Report::Nis2EarlyWarning, &facts, &s),
            "2026-12-05 23:30 CET"
        );
        assert_eq!(
            at(Report::Nis2Notification, &facts, &s),
            "2026-12-07 23:30 CET"
        );
        assert_eq!(
            at(Report::GdprNotification, &facts, &s),
            "2026-12-07 23:30 CET"
        );
        // DORA: 4 h after classification is Saturday 03:30, moved to Monday noon...
        let d = due(Report::DoraInitial, &facts, &s)
            .expect("due")
            .expect("started");
        assert_eq!(show(d.at), "2026-12-07 12:00 CET");
        assert!(d.relieved);
        // ...except for an entity the relief excludes.
        let strict = setting(true);
        let d = due(Report::DoraInitial, &facts, &strict)
            .expect("due")
            .expect("started");
        assert_eq!(show(d.at), "2026-12-05 03:30 CET");
        assert!(!d.relieved);
        // Not started without what starts them.
        for r in [
            Report::Nis2Final,
            Report::DoraIntermediate,
            Report::DoraFinal,
        ] {
            assert_eq!(due(r, &facts, &s).expect("due"), None, "{r:?}");
        }
        assert_eq!(
            due(Report::DoraInitial, &Facts::default(), &s).expect("due"),
            None
        );
    }

    #[test]
    fn hours_are_elapsed_time_across_a_daylight_saving_change() {
        // Saturday 28 March 2026, 10:00 CET; clocks go forward on the Sunday at 02:00.
        let facts = Facts {
            aware_at: Some(paris("2026-03-28T10:00")),
            ..Facts::default()
        };
        let s = setting(false);
        assert_eq!(
            at(Report::Nis2EarlyWarning, &facts, &s),
            "2026-03-29 11:00 CEST"
        );
        assert_eq!(
            at(Report::GdprNotification, &facts, &s),
            "2026-03-31 11:00 CEST"
        );
        // And back in October: 72 h from Friday 23 October 2026, 12:00 CEST.
        let facts = Facts {
            aware_at: Some(paris("2026-10-23T12:00")),
            ..Facts::default()
        };
        assert_eq!(
            at(Report::Nis2Notification, &facts, &s),
            "2026-10-26 11:00 CET"
        );
    }

    #[test]
    fn a_month_is_a_calendar_month_clamped_to_its_end() {
        let s = setting(false);
        let facts = Facts {
            nis2_notified_at: Some(paris("2027-01-31T10:00")),
            dora_intermediate_at: Some(paris("2028-01-31T10:00")),
            ..Facts::default()
        };
        assert_eq!(at(Report::Nis2Final, &facts, &s), "2027-02-28 10:00 CET");
        // 29 February 2028 is a Tuesday: no relief needed.
        assert_eq!(at(Report::DoraFinal, &facts, &s), "2028-02-29 10:00 CET");
        // A month across the change to summer time keeps the wall clock.
        let facts = Facts {
            nis2_notified_at: Some(paris("2026-03-15T09:00")),
            ..Facts::default()
        };
        assert_eq!(at(Report::Nis2Final, &facts, &s), "2026-04-15 09:00 CEST");
    }

    #[test]
    fn dora_final_reports_get_the_relief_even_for_excluded_entities() {
        // One month after Wednesday 1 April 2026 is Friday 1 May, a holiday: Monday noon.
        let facts = Facts {
            dora_intermediate_at: Some(paris("2026-04-01T10:00")),
            dora_initial_at: Some(paris("2026-04-30T10:00")),
            ..Facts::default()
        };
        for strict in [false, true] {
            let d = due(Report::DoraFinal, &facts, &setting(strict))
                .expect("due")
                .expect("started");
            assert_eq!(show(d.at), "2026-05-04 12:00 CEST");
            assert!(d.relieved);
        }
        // The intermediate report, 72 h after Thursday 30 April 10:00, is Sunday 3 May:
        // Monday noon with the relief, Sunday without.
        assert_eq!(
            at(Report::DoraIntermediate, &facts, &setting(false)),
            "2026-05-04 12:00 CEST"
        );
        assert_eq!(
            at(Report::DoraIntermediate, &facts, &setting(true)),
            "2026-05-03 10:00 CEST"
        );
    }

    #[test]
    fn dora_initial_notification_runs_from_the_classification_within_a_day_of_awareness() {
        let s = setting(true);
        let aware = paris("2026-12-07T09:00");
        let case = |classified: &str| Facts {
            aware_at: Some(aware),
            classified_at: Some(paris(classified)),
            ..Facts::default()
        };
        // Classified at once: 4 h.
        assert_eq!(
            at(Report::DoraInitial, &case("2026-12-07T09:00"), &s),
            "2026-12-07 13:00 CET"
        );
        // Classified 22 h later: the 24 h backstop comes first.
        assert_eq!(
            at(Report::DoraInitial, &case("2026-12-08T07:00"), &s),
            "2026-12-08 09:00 CET"
        );
        // Exactly at the backstop: the backstop.
        assert_eq!(
            at(Report::DoraInitial, &case("2026-12-08T09:00"), &s),
            "2026-12-08 09:00 CET"
        );
        // Classified two days later (5(2)): 4 h from the classification.
        assert_eq!(
            at(Report::DoraInitial, &case("2026-12-09T09:00"), &s),
            "2026-12-09 13:00 CET"
        );
        let d = due(Report::DoraInitial, &case("2026-12-09T09:00"), &s)
            .expect("due")
            .expect("started");
        assert_eq!(d.from, paris("2026-12-09T09:00"));
    }

    #[test]
    fn clocks_run_get_at_risk_go_late_and_are_submitted() {
        let from = paris("2026-12-07T00:00");
        let clock = Due {
            from,
            at: plus_hours(from, 100),
            relieved: false,
        };
        let d = Some(clock);
        let h = |n: i64| plus_hours(from, n);
        assert_eq!(state(None, None, h(1)), ClockState::NotStarted);
        assert_eq!(state(d, None, h(0)), ClockState::Running);
        assert_eq!(state(d, None, h(75)), ClockState::Running);
        assert_eq!(state(d, None, h(76)), ClockState::AtRisk);
        assert_eq!(state(d, None, h(100)), ClockState::AtRisk);
        assert_eq!(state(d, None, h(101)), ClockState::Late);
        assert_eq!(state(d, Some(h(100)), h(200)), ClockState::Submitted);
        assert_eq!(state(d, Some(h(101)), h(101)), ClockState::SubmittedLate);
        assert_eq!(remaining(clock, h(90)), SignedDuration::from_hours(10));
        assert_eq!(remaining(clock, h(102)), SignedDuration::from_hours(-2));
    }

    #[test]
    fn an_unknown_zone_is_an_error_naming_it() {
        let facts = Facts {
            aware_at: Some(paris("2026-12-07T09:00")),
            ..Facts::default()
        };
        let mut s = setting(false);
        s.zone = "Europe/Atlantis".into();
        let e = due(Report::GdprNotification, &facts, &s).expect_err("refused");
        assert!(e.to_string().contains("Europe/Atlantis"), "{e}");
        let names: Vec<&str> = Report::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "nis2-early-warning",
                "nis2-notification",
                "nis2-final",
                "dora-initial",
                "dora-intermediate",
                "dora-final",
                "gdpr-notification"
            ]
        );
        for r in Report::ALL {
            let c = r.citation();
            let regime = match r.as_str().split('-').next() {
                Some("nis2") => "2022/2555 Art. 23(4)",
                Some("dora") => "2025/301 Art. 5",
                _ => "2016/679 Art. 33(1)",
            };
            assert!(c.contains(regime), "{c}");
        }
    }
}
