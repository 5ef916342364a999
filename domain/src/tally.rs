//! What each record contributes to the activity report, as counts keyed by day: the rules that
//! turn referrals, sessions, connections and measures into report figures, written once.
//!
//! Storage keeps the sum of every record's tallies up to date in the transaction that changes
//! the record (it tallies the record before and after, and adds the difference), so a report
//! over any run of days sums a few rows per day instead of reading the period's records.
//!
//! Two kinds of figure are not plain sums over days, and each tally carries the two bounds that
//! make them so:
//! - distinct people: a person's events are chained, each tally remembering the day of the
//!   person's previous event (`since`). A window counts an event only when the previous one is
//!   before the window starts, so each person with events in the window counts exactly once;
//! - a referral's latest measurement up to the window's end: each measurement remembers the
//!   day of the next one (`until`) and counts only when that is after the window ends.
//!
//! A tally counts towards the window `first..=last` when `first <= day <= last`,
//! `since < first` and `until > last`.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::outcome::Instrument;
use crate::{
    Attendance, ClosureReason, ConnectionOutcome, ConnectionStatus, Reason, ReferralSource,
    ReferralStatus, SessionKind, SessionMode, SessionStatus,
};

/// Days since 1970-01-01, UTC.
pub type Day = i32;

/// `since` of a tally with no earlier event: before any window.
pub const NO_EARLIER: Day = Day::MIN;
/// `until` of a tally with no later event: after any window.
pub const NO_LATER: Day = Day::MAX;

/// The scope of tallies over every referring organisation (the others are an organisation id,
/// a team's id after [`TEAM`], or a network's after [`NETWORK`]).
pub const ALL: &str = "*";

/// What a team's scope starts with: `team:` and its id.
pub const TEAM: &str = "team:";

/// What a network's scope starts with: `network:` and its id.
pub const NETWORK: &str = "network:";

/// The scope of one team's tallies.
pub fn team_scope(team: &str) -> String {
    format!("{TEAM}{team}")
}

/// The scope of one network's tallies: its organisations' referrals.
pub fn network_scope(network: &str) -> String {
    format!("{NETWORK}{network}")
}

/// The UTC day of an instant.
pub fn day(at: DateTime<Utc>) -> Day {
    date_day(at.date_naive())
}

/// The day number of a date.
pub fn date_day(date: NaiveDate) -> Day {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((date - epoch).num_days()).unwrap_or(Day::MAX)
}

/// The first day of the month `day` is in.
pub fn month_start(day: Day) -> Day {
    let date = from_day(day);
    date_day(date.with_day(1).unwrap_or(date))
}

/// The last day of the month `day` is in.
pub fn month_end(day: Day) -> Day {
    let date = from_day(day);
    let next = if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
    };
    next.map_or(day, |n| date_day(n) - 1)
}

fn from_day(day: Day) -> NaiveDate {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    epoch + chrono::Duration::days(i64::from(day))
}

/// How to read the window `first..=last` from daily rows and month rows (each month's tallies
/// summed on its first day): the whole months inside it, as the range of their first days,
/// and the days outside those months. Ranges are inclusive; an empty one starts after it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub months: (Day, Day),
    pub days_before: (Day, Day),
    pub days_after: (Day, Day),
}

/// Splits a window into whole months and the days around them.
pub fn split(first: Day, last: Day) -> Split {
    let from = if month_start(first) == first {
        first
    } else {
        month_end(first) + 1
    };
    // The first day of the last whole month.
    let to = if month_end(last) == last {
        month_start(last)
    } else {
        month_start(month_start(last) - 1)
    };
    if from > to || from > last {
        return Split {
            months: (1, 0),
            days_before: (first, last),
            days_after: (1, 0),
        };
    }
    Split {
        months: (from, to),
        days_before: (first, from - 1),
        days_after: (month_end(to) + 1, last),
    }
}

macro_rules! metrics {
    ($($(#[$doc:meta])* $name:ident = $code:literal,)*) => {
        /// Which figure a tally adds to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Metric { $($(#[$doc])* $name,)* }

        impl Metric {
            /// Every metric.
            pub const ALL: &[Metric] = &[$(Metric::$name,)*];

            /// The stored code.
            pub fn as_str(self) -> &'static str {
                match self { $(Metric::$name => $code,)* }
            }

            /// The metric stored as `code`.
            pub fn parse(code: &str) -> Option<Metric> {
                match code { $($code => Some(Metric::$name),)* _ => None }
            }
        }
    };
}

metrics! {
    /// key1: source.
    Received = "received",
    /// key1: reason.
    Reason = "reason",
    /// key1: referring organisation id, or `none`.
    ReferrerOrg = "referrer_org",
    /// key1: the owning team's id, or `none`.
    Team = "team",
    /// Distinct people: chained on received days.
    PeopleReferred = "people_referred",
    /// Distinct people: chained on first-contact days.
    PeopleContacted = "people_contacted",
    /// key1: kind.
    SessionKind = "session_kind",
    /// key1: mode.
    SessionMode = "session_mode",
    /// key1: status.
    SessionStatus = "session_status",
    /// Attended coaching and conversation sessions; total: their minutes.
    OneToOne = "one_to_one",
    /// On the received day; key1: whole days from receipt to first contact.
    DaysToFirstContact = "days_to_first_contact",
    /// On the received day; key1: `accepted` (ever) or `declined` (and never accepted).
    Decision = "decision",
    /// key1: closure reason code, or `none`.
    Closure = "closure",
    /// key1: receiving organisation id or `none`; key2: status.
    ConnectionStatus = "connection_status",
    /// key1: receiving organisation id or `none`; key2: outcome.
    ConnectionOutcome = "connection_outcome",
    /// A referral's latest SWEMWBS measurement after its baseline; key2: the change in metric
    /// hundredths; total: the same.
    Swemwbs = "swemwbs",
    /// ONS4 latest-after-baseline changes, one metric per item; total: the change.
    Ons4LifeSatisfaction = "ons4_life_satisfaction",
    /// As above, for `worthwhile`.
    Ons4Worthwhile = "ons4_worthwhile",
    /// As above, for `happiness`.
    Ons4Happiness = "ons4_happiness",
    /// As above, for `anxiety`.
    Ons4Anxiety = "ons4_anxiety",
    /// Distinct people: chained on the days of SWEMWBS measurements after a baseline.
    SwemwbsPeople = "swemwbs_people",
    /// Distinct people: chained on the days of ONS4 measurements after a baseline.
    Ons4People = "ons4_people",
    /// A person's marked place on a held group session, on its day; key1: `attended` or
    /// `did_not_attend`. The session itself counts once, outside the tallies.
    GroupAttendance = "group_attendance",
}

/// The ONS4 change metrics, in item order.
pub const ONS4_CHANGES: [Metric; 4] = [
    Metric::Ons4LifeSatisfaction,
    Metric::Ons4Worthwhile,
    Metric::Ons4Happiness,
    Metric::Ons4Anxiety,
];

/// Where a tally is added up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// [`ALL`] or a referring organisation id.
    pub scope: String,
    pub day: Day,
    pub metric: Metric,
    pub since: Day,
    pub until: Day,
    pub key1: String,
    pub key2: String,
}

/// How much a tally adds: a count and, for some metrics, a sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount {
    pub n: i64,
    pub total: i64,
}

/// Tallies added up by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tallies(pub BTreeMap<Key, Amount>);

impl Tallies {
    fn count(&mut self, key: Key, n: i64, total: i64) {
        self.add(key, Amount { n, total });
    }

    /// Adds `amount` at `key`.
    pub fn add(&mut self, key: Key, amount: Amount) {
        let sum = self.0.entry(key).or_default();
        sum.n += amount.n;
        sum.total += amount.total;
    }

    /// Adds every tally of `other`.
    pub fn absorb(&mut self, other: Tallies) {
        for (key, amount) in other.0 {
            self.add(key, amount);
        }
    }

    /// What turns `before` into `self`: the non-zero differences, in key order.
    pub fn minus(&self, before: &Tallies) -> Vec<(Key, Amount)> {
        let mut delta: BTreeMap<&Key, Amount> = BTreeMap::new();
        for (key, a) in &self.0 {
            let d = delta.entry(key).or_default();
            d.n += a.n;
            d.total += a.total;
        }
        for (key, a) in &before.0 {
            let d = delta.entry(key).or_default();
            d.n -= a.n;
            d.total -= a.total;
        }
        delta
            .into_iter()
            .filter(|(_, a)| *a != Amount::default())
            .map(|(k, a)| (k.clone(), a))
            .collect()
    }

    /// Whether a tally counts towards the window `first..=last`.
    pub fn counts(key: &Key, first: Day, last: Day) -> bool {
        (first..=last).contains(&key.day) && key.since < first && key.until > last
    }
}

/// A session, as the report sees it.
#[derive(Debug, Clone)]
pub struct SessionFacts {
    pub scheduled_at: DateTime<Utc>,
    pub kind: SessionKind,
    pub mode: SessionMode,
    pub status: SessionStatus,
    pub minutes: Option<i64>,
}

/// A person's marked place on a group session, as the report sees it.
#[derive(Debug, Clone)]
pub struct AttendanceFacts {
    /// When the group session was.
    pub scheduled_at: DateTime<Utc>,
    pub attendance: Attendance,
}

/// A connection, as the report sees it.
#[derive(Debug, Clone)]
pub struct ConnectionFacts {
    pub created_at: DateTime<Utc>,
    pub organisation: Option<String>,
    pub status: ConnectionStatus,
    pub outcome: Option<ConnectionOutcome>,
}

/// A measurement, as the report sees it: SWEMWBS holds its metric score in hundredths in
/// `values[0]`; ONS4 its four items in order.
#[derive(Debug, Clone)]
pub struct MeasureFacts {
    pub id: String,
    pub instrument: Instrument,
    pub baseline: bool,
    pub recorded_at: DateTime<Utc>,
    pub values: [i64; 4],
}

/// A status change, as the report sees it.
#[derive(Debug, Clone)]
pub struct ChangeFacts {
    pub to: ReferralStatus,
    pub reason_code: Option<ClosureReason>,
    pub at: DateTime<Utc>,
}

/// A referral and everything under it that the report counts.
#[derive(Debug, Clone)]
pub struct ReferralFacts {
    pub referrer_org: Option<String>,
    /// The team that owns it now: its tallies count in that team's scope, wherever they
    /// happened, and move with it on a handover.
    pub team: Option<String>,
    /// The network its referring organisation belongs to now.
    pub network: Option<String>,
    pub source: ReferralSource,
    pub received_at: DateTime<Utc>,
    /// Entered in error: it counts nowhere.
    pub in_error: bool,
    pub first_contact_at: Option<DateTime<Utc>>,
    pub reasons: Vec<Reason>,
    pub changes: Vec<ChangeFacts>,
    pub sessions: Vec<SessionFacts>,
    /// Places on group sessions whose attendance was marked.
    pub attendances: Vec<AttendanceFacts>,
    pub connections: Vec<ConnectionFacts>,
    pub measures: Vec<MeasureFacts>,
}

fn none(value: Option<&str>) -> String {
    value.unwrap_or("none").to_owned()
}

impl ReferralFacts {
    /// The scopes this referral's tallies add to.
    fn scopes(&self) -> Vec<String> {
        std::iter::once(ALL.to_owned())
            .chain(self.referrer_org.clone())
            .chain(self.team.as_deref().map(team_scope))
            .chain(self.network.as_deref().map(network_scope))
            .collect()
    }

    /// The measurements after `instrument`'s baseline, earliest first (ties by id).
    fn later(&self, instrument: Instrument) -> Option<(&MeasureFacts, Vec<&MeasureFacts>)> {
        let baseline = self
            .measures
            .iter()
            .find(|m| m.instrument == instrument && m.baseline)?;
        let mut later: Vec<&MeasureFacts> = self
            .measures
            .iter()
            .filter(|m| m.instrument == instrument && !m.baseline)
            .filter(|m| m.recorded_at > baseline.recorded_at)
            .collect();
        later.sort_by(|a, b| (a.recorded_at, &a.id).cmp(&(b.recorded_at, &b.id)));
        Some((baseline, later))
    }

    /// Everything this referral adds to the report, except distinct people (see
    /// [`person_tallies`]).
    pub fn tallies(&self) -> Tallies {
        let mut out = Tallies::default();
        if self.in_error {
            return out;
        }
        let received = day(self.received_at);
        for scope in self.scopes() {
            let mut add = |day: Day, metric: Metric, key1: &str, key2: &str, total: i64| {
                out.count(key(&scope, day, metric, key1, key2), 1, total);
            };
            add(received, Metric::Received, self.source.as_str(), "", 0);
            for reason in &self.reasons {
                add(received, Metric::Reason, reason.as_str(), "", 0);
            }
            add(
                received,
                Metric::ReferrerOrg,
                &none(self.referrer_org.as_deref()),
                "",
                0,
            );
            add(received, Metric::Team, &none(self.team.as_deref()), "", 0);
            let ever = |status: ReferralStatus| self.changes.iter().any(|c| c.to == status);
            // Accepted ever wins over declined.
            let decision = [ReferralStatus::Accepted, ReferralStatus::Declined]
                .into_iter()
                .find(|&d| ever(d));
            if let Some(decision) = decision {
                add(received, Metric::Decision, decision.as_str(), "", 0);
            }
            if let Some(first) = self.first_contact_at {
                let days = (first.date_naive() - self.received_at.date_naive()).num_days();
                add(
                    received,
                    Metric::DaysToFirstContact,
                    &days.to_string(),
                    "",
                    0,
                );
            }
            for closed in self
                .changes
                .iter()
                .filter(|c| c.to == ReferralStatus::Closed)
            {
                let reason = closed.reason_code.map_or("none", ClosureReason::as_str);
                add(day(closed.at), Metric::Closure, reason, "", 0);
            }
            for s in &self.sessions {
                let on = day(s.scheduled_at);
                add(on, Metric::SessionKind, s.kind.as_str(), "", 0);
                add(on, Metric::SessionMode, s.mode.as_str(), "", 0);
                add(on, Metric::SessionStatus, s.status.as_str(), "", 0);
                // Coaching and conversations are one-to-one time; groups are not.
                let one_to_one =
                    matches!(s.kind, SessionKind::Coaching | SessionKind::Conversation);
                if s.status == SessionStatus::Attended && one_to_one {
                    add(on, Metric::OneToOne, "", "", s.minutes.unwrap_or(0));
                }
            }
            for a in &self.attendances {
                if a.attendance != Attendance::Booked {
                    let on = day(a.scheduled_at);
                    add(on, Metric::GroupAttendance, a.attendance.as_str(), "", 0);
                }
            }
            for c in &self.connections {
                let on = day(c.created_at);
                let org = none(c.organisation.as_deref());
                add(on, Metric::ConnectionStatus, &org, c.status.as_str(), 0);
                if let Some(outcome) = c.outcome {
                    add(on, Metric::ConnectionOutcome, &org, outcome.as_str(), 0);
                }
            }
            self.wellbeing(&scope, &mut out);
        }
        out
    }

    /// Each measurement after a baseline is the referral's latest until the next one: it
    /// counts in windows that hold its day and end before the next one's day.
    fn wellbeing(&self, scope: &str, out: &mut Tallies) {
        for instrument in Instrument::ALL.iter().copied() {
            let Some((baseline, later)) = self.later(instrument) else {
                continue;
            };
            for (i, m) in later.iter().enumerate() {
                let until = later
                    .get(i + 1)
                    .map_or(NO_LATER, |next| day(next.recorded_at));
                let change = |item: usize| m.values[item] - baseline.values[item];
                let mut at = |metric: Metric, key2: String, total: i64| {
                    let mut k = key(scope, day(m.recorded_at), metric, "", &key2);
                    k.until = until;
                    out.count(k, 1, total);
                };
                match instrument {
                    Instrument::Swemwbs => {
                        at(Metric::Swemwbs, change(0).to_string(), change(0));
                    }
                    Instrument::Ons4 => {
                        for (item, metric) in ONS4_CHANGES.into_iter().enumerate() {
                            at(metric, String::new(), change(item));
                        }
                    }
                }
            }
        }
    }
}

fn key(scope: &str, day: Day, metric: Metric, key1: &str, key2: &str) -> Key {
    Key {
        scope: scope.to_owned(),
        day,
        metric,
        since: NO_EARLIER,
        until: NO_LATER,
        key1: key1.to_owned(),
        key2: key2.to_owned(),
    }
}

/// An event that counts a person once however often it happens: a referral received, a first
/// contact, a measurement after a baseline, on a day, in a scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Event {
    pub metric: Metric,
    pub scope: String,
    pub day: Day,
}

impl ReferralFacts {
    /// This referral's events for its person's distinct-people figures (none when entered in
    /// error); a day may come more than once.
    pub fn events(&self) -> Vec<Event> {
        let mut out = Vec::new();
        if self.in_error {
            return out;
        }
        for scope in self.scopes() {
            let mut event = |metric: Metric, day: Day| {
                out.push(Event {
                    metric,
                    scope: scope.clone(),
                    day,
                });
            };
            event(Metric::PeopleReferred, day(self.received_at));
            if let Some(first) = self.first_contact_at {
                event(Metric::PeopleContacted, day(first));
            }
            for instrument in Instrument::ALL.iter().copied() {
                let metric = match instrument {
                    Instrument::Swemwbs => Metric::SwemwbsPeople,
                    Instrument::Ons4 => Metric::Ons4People,
                };
                for m in self.later(instrument).map(|(_, l)| l).unwrap_or_default() {
                    event(metric, day(m.recorded_at));
                }
            }
        }
        out
    }
}

/// The distinct-people tallies of one person from their distinct events: for each metric and
/// scope, one tally per day with an event, remembering the previous such day.
pub fn chain_tallies<'a>(events: impl IntoIterator<Item = &'a Event>) -> Tallies {
    let mut days: BTreeMap<(Metric, &str), Vec<Day>> = BTreeMap::new();
    for e in events {
        days.entry((e.metric, &e.scope)).or_default().push(e.day);
    }
    let mut out = Tallies::default();
    for ((metric, scope), mut days) in days {
        days.sort_unstable();
        days.dedup();
        let mut since = NO_EARLIER;
        for on in days {
            let mut k = key(scope, on, metric, "", "");
            k.since = since;
            out.count(k, 1, 0);
            since = on;
        }
    }
    out
}

/// How many of `referrals` have each event: a person's event days, counted.
pub fn event_counts<'a>(
    referrals: impl IntoIterator<Item = &'a ReferralFacts>,
) -> BTreeMap<Event, i64> {
    let mut counts = BTreeMap::new();
    for e in referrals.into_iter().flat_map(ReferralFacts::events) {
        *counts.entry(e).or_default() += 1;
    }
    counts
}

/// The distinct-people tallies of one person, from all their referrals.
pub fn person_tallies(referrals: &[ReferralFacts]) -> Tallies {
    chain_tallies(event_counts(referrals).keys())
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    use super::*;

    fn at(d: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap() + Duration::days(d)
    }

    fn referral(org: Option<&str>, received: i64) -> ReferralFacts {
        ReferralFacts {
            referrer_org: org.map(str::to_owned),
            team: None,
            network: None,
            source: ReferralSource::GpPractice,
            received_at: at(received),
            in_error: false,
            first_contact_at: None,
            reasons: vec![],
            changes: vec![],
            sessions: vec![],
            attendances: vec![],
            connections: vec![],
            measures: vec![],
        }
    }

    fn measure(id: usize, baseline: bool, on: i64, score: i64) -> MeasureFacts {
        MeasureFacts {
            id: format!("{id:04}"),
            instrument: Instrument::Swemwbs,
            baseline,
            recorded_at: at(on) + Duration::minutes(i64::try_from(id).unwrap()),
            values: [score, 0, 0, 0],
        }
    }

    /// Sums `metric` over the window as a report does.
    fn window(t: &Tallies, scope: &str, metric: Metric, first: Day, last: Day) -> Amount {
        let mut sum = Amount::default();
        for (k, a) in &t.0 {
            if k.scope == scope && k.metric == metric && Tallies::counts(k, first, last) {
                sum.n += a.n;
                sum.total += a.total;
            }
        }
        sum
    }

    #[test]
    fn a_referral_counts_once_per_reason_and_decision_by_first_acceptance() {
        let mut r = referral(Some("org"), 0);
        r.reasons = vec![Reason::Housing, Reason::Loneliness];
        for to in [ReferralStatus::Accepted, ReferralStatus::Declined] {
            r.changes.push(ChangeFacts {
                to,
                reason_code: None,
                at: at(1),
            });
        }
        let t = r.tallies();
        let d = day(at(0));
        for scope in [ALL, "org"] {
            assert_eq!(window(&t, scope, Metric::Reason, d, d).n, 2);
            assert_eq!(window(&t, scope, Metric::Received, d, d).n, 1);
        }
        let decisions: Vec<&str> =
            t.0.keys()
                .filter(|k| k.metric == Metric::Decision && k.scope == ALL)
                .map(|k| k.key1.as_str())
                .collect();
        assert_eq!(decisions, ["accepted"]);
        r.in_error = true;
        assert!(r.tallies().0.is_empty());
    }

    #[test]
    fn the_latest_measurement_up_to_the_window_end_is_the_pair() {
        let mut r = referral(None, 0);
        r.measures = vec![
            measure(0, true, 1, 2000),
            measure(1, false, 3, 2300),
            measure(2, false, 5, 2600),
        ];
        let t = r.tallies();
        let d = |n| day(at(n));
        // Ending before the second later measurement: the first is the latest.
        assert_eq!(
            window(&t, ALL, Metric::Swemwbs, d(0), d(4)),
            Amount { n: 1, total: 300 }
        );
        assert_eq!(
            window(&t, ALL, Metric::Swemwbs, d(0), d(9)),
            Amount { n: 1, total: 600 }
        );
        // The window must hold the latest one.
        assert_eq!(window(&t, ALL, Metric::Swemwbs, d(4), d(4)).n, 0);
        assert_eq!(window(&t, ALL, Metric::Swemwbs, d(1), d(2)).n, 0);
    }

    #[test]
    fn sessions_connections_and_closures_count_by_their_codes() {
        let mut r = referral(None, 0);
        let session = |kind, status, minutes| SessionFacts {
            scheduled_at: at(1),
            kind,
            mode: SessionMode::Phone,
            status,
            minutes: Some(minutes),
        };
        r.sessions = vec![
            session(SessionKind::Coaching, SessionStatus::Attended, 40),
            session(SessionKind::Conversation, SessionStatus::Attended, 15),
            session(SessionKind::Group, SessionStatus::Attended, 90),
            session(SessionKind::Coaching, SessionStatus::DidNotAttend, 30),
        ];
        r.connections = vec![ConnectionFacts {
            created_at: at(1),
            organisation: None,
            status: ConnectionStatus::Completed,
            outcome: Some(ConnectionOutcome::GotHelp),
        }];
        r.changes = vec![ChangeFacts {
            to: ReferralStatus::Closed,
            reason_code: None,
            at: at(2),
        }];
        let t = r.tallies();
        let (d1, d2) = (day(at(1)), day(at(2)));
        // Only attended coaching and conversations are one-to-one time.
        assert_eq!(
            window(&t, ALL, Metric::OneToOne, d1, d1),
            Amount { n: 2, total: 55 }
        );
        let keys = |metric: Metric| -> Vec<(&str, &str)> {
            t.0.keys()
                .filter(|k| k.metric == metric && k.scope == ALL)
                .map(|k| (k.key1.as_str(), k.key2.as_str()))
                .collect()
        };
        assert_eq!(
            keys(Metric::SessionKind),
            [("coaching", ""), ("conversation", ""), ("group", "")]
        );
        assert_eq!(keys(Metric::SessionMode), [("phone", "")]);
        assert_eq!(keys(Metric::ConnectionStatus), [("none", "completed")]);
        assert_eq!(keys(Metric::ConnectionOutcome), [("none", "got_help")]);
        assert_eq!(keys(Metric::Closure), [("none", "")]);
        assert_eq!(window(&t, ALL, Metric::Closure, d2, d2).n, 1);
        assert_eq!(keys(Metric::Received), [("gp_practice", "")]);
    }

    /// A referral: person, organisation, received day, days to first contact, and measures
    /// (baseline?, day, score).
    type Drawn = (usize, Option<u8>, i64, Option<i64>, Vec<(bool, i64, i64)>);

    fn facts() -> impl Strategy<Value = Vec<Drawn>> {
        prop::collection::vec(
            (
                0usize..4,
                prop::option::of(0u8..2),
                0i64..20,
                prop::option::of(0i64..5),
                prop::collection::vec((any::<bool>(), 0i64..25, 0i64..3500), 0..4),
            ),
            0..12,
        )
    }

    proptest! {
        /// Windowed sums of the tallies equal the figures counted directly from the records,
        /// for every window and scope.
        #[test]
        fn windows_of_tallies_match_counting_the_records(rows in facts(), first in 0i64..30, len in 0i64..30) {
            let mut people: BTreeMap<usize, Vec<ReferralFacts>> = BTreeMap::new();
            let mut id = 0;
            for (person, org, received, contact, ms) in rows {
                let org = org.map(|o| format!("org{o}"));
                let mut r = referral(org.as_deref(), received);
                r.first_contact_at = contact.map(|c| at(received + c));
                let mut has_baseline = false;
                for (baseline, on, score) in ms {
                    let baseline = baseline && !has_baseline;
                    has_baseline |= baseline;
                    id += 1;
                    r.measures.push(measure(id, baseline, on, score));
                }
                people.entry(person).or_default().push(r);
            }
            let mut all = Tallies::default();
            for referrals in people.values() {
                all.absorb(person_tallies(referrals));
                for r in referrals {
                    all.absorb(r.tallies());
                }
            }
            let (a, b) = (day(at(first)), day(at(first + len)));
            for scope in [ALL, "org0", "org1"] {
                let within = |r: &ReferralFacts| scope == ALL || r.referrer_org.as_deref() == Some(scope);
                let inside = |t: DateTime<Utc>| (a..=b).contains(&day(t));
                let referred = people.values().filter(|rs| rs.iter().any(|r| within(r) && inside(r.received_at))).count();
                prop_assert_eq!(window(&all, scope, Metric::PeopleReferred, a, b).n, i64::try_from(referred).unwrap());
                let contacted = people.values().filter(|rs| rs.iter().any(|r| within(r) && r.first_contact_at.is_some_and(inside))).count();
                prop_assert_eq!(window(&all, scope, Metric::PeopleContacted, a, b).n, i64::try_from(contacted).unwrap());
                // Pairs: each referral's latest later measurement up to the window's end, when
                // it falls in the window.
                let mut pairs = Amount::default();
                let mut with_pair = 0;
                for rs in people.values() {
                    let mut any = false;
                    for r in rs.iter().filter(|r| within(r)) {
                        let Some((base, later)) = r.later(Instrument::Swemwbs) else { continue };
                        if let Some(last) = later.iter().rev().find(|m| day(m.recorded_at) <= b)
                            && day(last.recorded_at) >= a
                        {
                            pairs.n += 1;
                            pairs.total += last.values[0] - base.values[0];
                            any = true;
                        }
                    }
                    with_pair += i64::from(any);
                }
                prop_assert_eq!(window(&all, scope, Metric::Swemwbs, a, b), pairs);
                prop_assert_eq!(window(&all, scope, Metric::SwemwbsPeople, a, b).n, with_pair);
            }
        }

        /// Every day of a window is read exactly once, from a day row or a whole month's row.
        #[test]
        fn a_window_splits_into_whole_months_and_the_days_around_them(first in 0i32..800, len in 0i32..500) {
            let (first, last) = (20_000 + first, 20_000 + first + len);
            let s = split(first, last);
            let mut covered = Vec::new();
            covered.extend(s.days_before.0..=s.days_before.1);
            let mut m = s.months.0;
            while m <= s.months.1 {
                prop_assert_eq!(month_start(m), m);
                covered.extend(m..=month_end(m));
                m = month_end(m) + 1;
            }
            covered.extend(s.days_after.0..=s.days_after.1);
            covered.sort_unstable();
            prop_assert_eq!(covered, (first..=last).collect::<Vec<_>>());
        }

        #[test]
        fn the_difference_turns_before_into_after(x in 0i64..5, y in 0i64..5) {
            let before = referral(Some("o"), x).tallies();
            let after = referral(None, y).tallies();
            let mut replayed = before.clone();
            for (k, a) in after.minus(&before) {
                replayed.add(k, a);
            }
            replayed.0.retain(|_, a| *a != Amount::default());
            prop_assert_eq!(replayed, after);
        }
    }
}
