//! Reports for commissioners and the service: every figure computed in the database. For the
//! `commissioner` role, statistical disclosure control applies: counts from 1 to 7 are
//! suppressed (`null`, listed in `suppressed`), every other count is rounded to the nearest 5,
//! and figures derived from fewer than 8 records are suppressed.

use std::borrow::Cow;
use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use linkwell_domain::outcome::ONS4_ITEMS;
use linkwell_domain::report::{Activity, Counts};
use linkwell_domain::{
    Attendance, ClosureReason, ConnectionOutcome, ConnectionStatus, Reason, ReferralSource, Role,
    SessionKind, SessionMode, SessionStatus, report,
};
use linkwell_persistence::reports::{self, Scope, Whose};
use linkwell_persistence::{teams, users};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{RefOr, schema::ArrayBuilder};
use utoipa::{IntoParams, PartialSchema, ToSchema};
use uuid::Uuid;

use crate::access::{ActivityReport, Allowed, CaseloadReport};
use crate::error::{ApiError, query_uuid};
use crate::schema::{ReadProblems, ReportProblems};
use crate::state::AppState;
use crate::{clock, db, wire};

/// The period and scope of an activity report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// First day, `YYYY-MM-DD` (UTC), inclusive.
    #[param(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", format = Date, max_length = 10)]
    pub from: String,
    /// Last day, `YYYY-MM-DD` (UTC), inclusive.
    #[param(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", format = Date, max_length = 10)]
    pub to: String,
    /// Only referrals from this referring organisation (and the sessions, connections and
    /// measures under them).
    #[param(value_type = Option<Uuid>, format = Uuid)]
    pub referrer_org_id: Option<String>,
    /// Only the referrals this team owns now (and everything under them, wherever it
    /// happened): a handover moves a referral's figures to its new team.
    #[param(value_type = Option<Uuid>, format = Uuid)]
    pub team_id: Option<String>,
    /// Only referrals from the organisations of this network (a Primary Care Network's
    /// practices, say), those received before an organisation joined included: figures big
    /// enough to publish where a single practice's are suppressed. At most one of
    /// `referrer_org_id`, `team_id` and `network_id`.
    #[param(value_type = Option<Uuid>, format = Uuid)]
    pub network_id: Option<String>,
}

fn day(name: &str, value: &str) -> Result<NaiveDate, ApiError> {
    linkwell_domain::person::parse_date(value)
        .ok()
        .filter(|d| (1900..=9998).contains(&d.year()))
        .ok_or_else(|| ApiError::bad_parameter(name, "invalid_date", "must be a date, YYYY-MM-DD"))
}

/// A report counts one organisation's, team's or network's referrals, or all of them.
fn one_scope(parameter: &str) -> ApiError {
    ApiError::bad_parameter(
        parameter,
        "one_scope",
        "give at most one of referrer_org_id, team_id and network_id",
    )
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN).and_utc()
}

/// One figure of a report: where it sits in the JSON, its CSV row, and the number of records
/// behind it (`base`). For commissioners a count is suppressed (1 to 7) or rounded to the
/// nearest 5, and a figure derived from fewer than 8 records (a mean, a median, a rate) is
/// suppressed (`domain::report`).
#[derive(Debug, Clone)]
struct Figure {
    pointer: String,
    metric: &'static str,
    breakdown: String,
    key: String,
    value: Value,
    base: i64,
    /// Derived from `base` records (a mean, a median, a rate, hours), not a count.
    derived: bool,
}

/// The figures, in order.
#[derive(Debug, Default)]
struct Figures(Vec<Figure>);

impl Figures {
    fn count(&mut self, pointer: String, metric: &'static str, breakdown: &str, key: &str, n: i64) {
        self.0.push(Figure {
            pointer,
            metric,
            breakdown: breakdown.to_owned(),
            key: key.to_owned(),
            value: json!(n),
            base: n,
            derived: false,
        });
    }

    /// A figure derived from `base` records (a mean, a median, a rate, hours).
    #[allow(clippy::too_many_arguments)]
    fn number(
        &mut self,
        pointer: String,
        metric: &'static str,
        breakdown: &str,
        key: &str,
        value: Option<f64>,
        base: i64,
    ) {
        self.0.push(Figure {
            pointer,
            metric,
            breakdown: breakdown.to_owned(),
            key: key.to_owned(),
            value: json!(value),
            base,
            derived: true,
        });
    }

    /// Every code of a list with its count (0 when absent), under `pointer`.
    fn codes(
        &mut self,
        pointer: &str,
        metric: &'static str,
        breakdown: &str,
        codes: &[&str],
        counted: &BTreeMap<String, i64>,
    ) {
        for code in codes {
            let n = counted.get(*code).copied().unwrap_or(0);
            self.count(format!("{pointer}/{code}"), metric, breakdown, code, n);
        }
    }

    /// Applies disclosure control (`domain::report::disclose`) for commissioners: counts are
    /// rounded to the nearest 5 or suppressed, with secondary suppression where the totals
    /// would give a suppressed count away, and figures derived from too few records are
    /// nulled. Returns the nulled pointers, and those suppressed as secondary.
    fn disclose(&mut self) -> (Vec<String>, Vec<String>) {
        let counts: Vec<usize> = (0..self.0.len()).filter(|i| !self.0[*i].derived).collect();
        let index: BTreeMap<&str, usize> = counts
            .iter()
            .enumerate()
            .map(|(at, i)| (self.0[*i].pointer.as_str(), at))
            .collect();
        let equations: Vec<report::Equation> = self
            .equations()
            .into_iter()
            .filter_map(|(total, parts)| {
                let parts: Vec<usize> = parts
                    .iter()
                    .filter_map(|p| index.get(p.as_str()).copied())
                    .collect();
                Some((*index.get(total.as_str())?, parts))
            })
            .collect();
        let values: Vec<i64> = counts.iter().map(|i| self.0[*i].base).collect();
        let published = report::disclose(&values, &equations);
        let (mut suppressed, mut secondary) = (Vec::new(), Vec::new());
        for (i, disclosed) in counts.iter().zip(published) {
            let figure = &mut self.0[*i];
            match disclosed {
                report::Disclosed::Count(n) => figure.value = json!(n),
                report::Disclosed::Small => figure.value = Value::Null,
                report::Disclosed::Secondary => {
                    figure.value = Value::Null;
                    secondary.push(figure.pointer.clone());
                }
            }
        }
        for figure in &mut self.0 {
            if figure.derived
                && !figure.value.is_null()
                && !report::may_publish_derived(figure.base)
            {
                figure.value = Value::Null;
            }
            if figure.value.is_null() && (!figure.derived || figure.base > 0) {
                suppressed.push(figure.pointer.clone());
            }
        }
        (suppressed, secondary)
    }

    /// Every "total = the sum of its breakdown" between the counts, by pointer.
    fn equations(&self) -> Vec<(String, Vec<String>)> {
        let under = |prefix: &str| -> Vec<String> {
            self.0
                .iter()
                .filter(|f| {
                    f.pointer
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/') && rest[1..].find('/').is_none())
                })
                .map(|f| f.pointer.clone())
                .collect()
        };
        let mut found = vec![
            ("/referrals_received".to_owned(), under("/by_source")),
            ("/referrals_received".to_owned(), under("/by_referrer_org")),
            ("/referrals_received".to_owned(), under("/by_team")),
        ];
        for breakdown in ["by_kind", "by_mode", "by_status"] {
            found.push((
                "/sessions/total".to_owned(),
                under(&format!("/sessions/{breakdown}")),
            ));
        }
        for breakdown in ["by_status", "by_outcome"] {
            for total in under(&format!("/connections/{breakdown}")) {
                let code = total.rsplit('/').next().unwrap_or_default();
                let parts = self
                    .0
                    .iter()
                    .filter(|f| {
                        f.pointer.starts_with("/connections/by_organisation/")
                            && f.pointer.ends_with(&format!("/{breakdown}/{code}"))
                    })
                    .map(|f| f.pointer.clone())
                    .collect();
                found.push((total, parts));
            }
        }
        found
    }

    fn json(
        &self,
        mut head: Map<String, Value>,
        disclosure_control: Value,
        suppressed: Vec<String>,
    ) -> Value {
        let mut root = Value::Object(std::mem::take(&mut head));
        for figure in &self.0 {
            let mut node = &mut root;
            let parts: Vec<&str> = figure.pointer.trim_start_matches('/').split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                let Value::Object(map) = node else { break };
                if i + 1 == parts.len() {
                    map.insert((*part).to_owned(), figure.value.clone());
                    break;
                }
                node = map
                    .entry((*part).to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
            }
        }
        // Maps keyed by organisation are there even when nothing was counted.
        for pointer in [
            "/by_referrer_org",
            "/by_team",
            "/connections/by_organisation",
        ] {
            let (parent, key) = pointer.rsplit_once('/').unwrap_or_default();
            let holder = if parent.is_empty() {
                Some(&mut root)
            } else {
                root.pointer_mut(parent)
            };
            if let Some(Value::Object(map)) = holder {
                map.entry(key).or_insert_with(|| Value::Object(Map::new()));
            }
        }
        if let Value::Object(map) = &mut root {
            map.insert("disclosure_control".into(), disclosure_control);
            map.insert("suppressed".into(), json!(suppressed));
        }
        root
    }

    fn csv(&self) -> String {
        let mut out = String::from("metric,breakdown,key,value\n");
        for f in &self.0 {
            let value = match &f.value {
                Value::Null => String::new(),
                v => v.to_string(),
            };
            out.push_str(&format!(
                "{},{},{},{}\n",
                field(f.metric),
                field(&f.breakdown),
                field(&f.key),
                value
            ));
        }
        out
    }
}

/// A CSV field, quoted when it must be (RFC 4180).
fn field(value: &str) -> Cow<'_, str> {
    if value.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(value)
    }
}

/// Every figure of the activity report, in the order of the JSON and the CSV.
fn figures(a: &Activity) -> Figures {
    let mut f = Figures::default();
    let by_source = &a.by_source;
    f.count(
        "/referrals_received".into(),
        "referrals_received",
        "",
        "",
        by_source.values().sum(),
    );
    f.codes(
        "/by_source",
        "referrals_received",
        "by_source",
        ReferralSource::CODES,
        by_source,
    );
    f.codes(
        "/by_reason",
        "referrals_received",
        "by_reason",
        Reason::CODES,
        &a.by_reason,
    );
    for (org, n) in &a.by_referrer_org {
        f.count(
            format!("/by_referrer_org/{org}"),
            "referrals_received",
            "by_referrer_org",
            org,
            *n,
        );
    }
    for (team, n) in &a.by_team {
        f.count(
            format!("/by_team/{team}"),
            "referrals_received",
            "by_team",
            team,
            *n,
        );
    }
    f.count(
        "/people_referred".into(),
        "people_referred",
        "",
        "",
        a.people_referred,
    );
    f.count(
        "/people_contacted".into(),
        "people_contacted",
        "",
        "",
        a.people_contacted,
    );

    let total: i64 = a.sessions_by_kind.values().sum();
    f.count("/sessions/total".into(), "sessions", "total", "", total);
    f.codes(
        "/sessions/by_kind",
        "sessions",
        "by_kind",
        SessionKind::CODES,
        &a.sessions_by_kind,
    );
    f.codes(
        "/sessions/by_mode",
        "sessions",
        "by_mode",
        SessionMode::CODES,
        &a.sessions_by_mode,
    );
    f.codes(
        "/sessions/by_status",
        "sessions",
        "by_status",
        SessionStatus::CODES,
        &a.sessions_by_status,
    );
    f.number(
        "/sessions/one_to_one_hours".into(),
        "sessions",
        "one_to_one_hours",
        "",
        Some(report::hours(a.one_to_one.total)),
        a.one_to_one.n,
    );

    // Group work: each session once, each person's place once, staff time once per facilitator.
    f.count(
        "/group_sessions/held".into(),
        "group_sessions",
        "held",
        "",
        a.group_sessions.n,
    );
    f.codes(
        "/group_sessions/attendances",
        "group_sessions",
        "attendances",
        &[
            Attendance::Attended.as_str(),
            Attendance::DidNotAttend.as_str(),
        ],
        &a.group_attendances,
    );
    f.number(
        "/group_sessions/staff_hours".into(),
        "group_sessions",
        "staff_hours",
        "",
        Some(report::hours(a.group_sessions.total)),
        a.group_sessions.n,
    );

    // Community development work, beside the one-to-one hours.
    f.count(
        "/community_work/records".into(),
        "community_work",
        "records",
        "",
        a.community_work.n,
    );
    f.number(
        "/community_work/hours".into(),
        "community_work",
        "hours",
        "",
        Some(report::hours(a.community_work.total)),
        a.community_work.n,
    );

    f.number(
        "/median_days_to_first_contact".into(),
        "median_days_to_first_contact",
        "",
        "",
        a.median_days.map(|d| report::round(d, 1)),
        a.contacted,
    );
    f.number(
        "/decline_rate".into(),
        "decline_rate",
        "",
        "",
        report::decline_rate(a.accepted, a.declined),
        a.accepted + a.declined,
    );
    f.codes(
        "/closures_by_reason",
        "closures",
        "by_reason",
        ClosureReason::CODES,
        &a.closures,
    );

    let sum = |per_org: &std::collections::BTreeMap<String, Counts>| {
        let mut all = Counts::new();
        for (code, n) in per_org.values().flatten() {
            *all.entry(code.clone()).or_default() += n;
        }
        all
    };
    let statuses = sum(&a.connection_status);
    let outcomes = sum(&a.connection_outcome);
    f.codes(
        "/connections/by_status",
        "connections",
        "by_status",
        ConnectionStatus::CODES,
        &statuses,
    );
    f.codes(
        "/connections/by_outcome",
        "connections",
        "by_outcome",
        ConnectionOutcome::CODES,
        &outcomes,
    );
    let none = Counts::new();
    for org in a.connection_status.keys() {
        let base = format!("/connections/by_organisation/{org}");
        let breakdown = |what: &str| format!("by_organisation/{org}/{what}");
        f.codes(
            &format!("{base}/by_status"),
            "connections",
            &breakdown("by_status"),
            ConnectionStatus::CODES,
            &a.connection_status[org],
        );
        f.codes(
            &format!("{base}/by_outcome"),
            "connections",
            &breakdown("by_outcome"),
            ConnectionOutcome::CODES,
            a.connection_outcome.get(org).unwrap_or(&none),
        );
    }

    let s = &a.swemwbs;
    f.count(
        "/wellbeing/swemwbs/people".into(),
        "wellbeing",
        "swemwbs",
        "people",
        s.people,
    );
    f.count(
        "/wellbeing/swemwbs/pairs".into(),
        "wellbeing",
        "swemwbs",
        "pairs",
        s.pairs,
    );
    f.number(
        "/wellbeing/swemwbs/mean_change".into(),
        "wellbeing",
        "swemwbs",
        "mean_change",
        report::mean(s.changes[0], s.pairs, 100.0),
        s.pairs,
    );
    f.count(
        "/wellbeing/swemwbs/meaningful_improvement".into(),
        "wellbeing",
        "swemwbs",
        "meaningful_improvement",
        s.meaningful,
    );
    let o = &a.ons4;
    f.count(
        "/wellbeing/ons4/people".into(),
        "wellbeing",
        "ons4",
        "people",
        o.people,
    );
    f.count(
        "/wellbeing/ons4/pairs".into(),
        "wellbeing",
        "ons4",
        "pairs",
        o.pairs,
    );
    for (item, sum) in ONS4_ITEMS.iter().zip(o.changes) {
        f.number(
            format!("/wellbeing/ons4/mean_change/{item}"),
            "wellbeing",
            "ons4/mean_change",
            item,
            report::mean(sum, o.pairs, 1.0),
            o.pairs,
        );
    }
    f
}

/// The representations of the activity report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

/// What the report is offered as, in the server's order of preference (ties go to the first).
const OFFERED: [(Format, &str); 2] = [
    (Format::Json, "application/json"),
    (Format::Csv, "text/csv"),
];

/// Picks a representation by `Accept` (RFC 9110 §12.5.1): each offered type takes the
/// quality of the most specific media range matching it (`type/subtype` over `type/*` over
/// `*/*`); one matched by no range, or with `q=0`, is not acceptable. The highest quality
/// wins, ties going to the more specific range, then to JSON. No `Accept` (or an empty one)
/// accepts anything. Ranges that do not parse are ignored.
fn negotiate(accept: &str) -> Result<Format, ApiError> {
    if accept.split(',').all(|range| range.trim().is_empty()) {
        return Ok(Format::Json);
    }
    let ranges: Vec<(String, String, u16)> = accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';').map(str::trim);
            let (kind, sub) = parts.next()?.split_once('/')?;
            let (kind, sub) = (
                kind.trim().to_ascii_lowercase(),
                sub.trim().to_ascii_lowercase(),
            );
            if kind.is_empty() || sub.is_empty() || (kind == "*" && sub != "*") {
                return None;
            }
            let mut quality = 1000;
            for param in parts {
                let Some((name, value)) = param.split_once('=') else {
                    continue;
                };
                if name.trim().eq_ignore_ascii_case("q") {
                    quality = qvalue(value.trim())?;
                }
            }
            Some((kind, sub, quality))
        })
        .collect();
    let mut best: Option<(u16, u8, Format)> = None;
    for (format, media_type) in OFFERED {
        let (kind, sub) = media_type.split_once('/').unwrap_or_default();
        let matched = ranges
            .iter()
            .filter_map(|(k, s, q)| {
                let specificity = match (k.as_str(), s.as_str()) {
                    (k, s) if k == kind && s == sub => 2,
                    (k, "*") if k == kind => 1,
                    ("*", "*") => 0,
                    _ => return None,
                };
                Some((specificity, *q))
            })
            .max_by_key(|(specificity, _)| *specificity);
        if let Some((specificity, quality)) = matched
            && quality > 0
            && best.is_none_or(|(q, s, _)| (quality, specificity) > (q, s))
        {
            best = Some((quality, specificity, format));
        }
    }
    best.map(|(_, _, format)| format)
        .ok_or_else(|| ApiError::NotAcceptable {
            offered: OFFERED.iter().map(|(_, media_type)| *media_type).collect(),
        })
}

/// A quality value (`0`, `0.5`, `1.000`) in thousandths; `None` when it is not one.
fn qvalue(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The longest JSON pointer to a figure: `/connections/by_organisation/{id}/by_outcome/{code}`
/// and the like, codes being short snake_case.
const POINTER_MAX_CHARS: usize = 200;

/// The activity report's JSON shape, for the contract.
#[derive(Debug)]
pub struct ActivityReportSchema;

fn counts(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(
            nullable(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(i64::MAX))
                .build(),
        )))))
        .description(Some(description))
}

fn nullable(kind: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([kind, Type::Null]))
}

impl PartialSchema for ActivityReportSchema {
    fn schema() -> RefOr<Schema> {
        let count = || {
            nullable(Type::Integer).minimum(Some(0)).maximum(Some(i64::MAX)).description(Some(
                "A count. For commissioners: `null` when suppressed (1–7), else rounded to the nearest 5 (0 stays 0).",
            ))
        };
        let number = || nullable(Type::Number);
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("from", ObjectBuilder::new().schema_type(Type::String).format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Date))))
            .property("to", ObjectBuilder::new().schema_type(Type::String).format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Date))))
            .property("referrer_org_id", nullable(Type::String).format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid))))
            .property("team_id", nullable(Type::String).format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid))))
            .property("network_id", nullable(Type::String).format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid))))
            .property("referrals_received", count())
            .property("by_source", counts("Referrals received by source."))
            .property("by_reason", counts("Referrals received by reason (a referral counts once per reason)."))
            .property("by_referrer_org", counts("Referrals received by referring organisation id (`none`: self-referrals and staff)."))
            .property("by_team", counts("Referrals received by the id of the team that owns them now (`none`: no team yet)."))
            .property("people_referred", count())
            .property("people_contacted", count())
            .property(
                "sessions",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("total", count())
                    .property("by_kind", counts("Sessions scheduled in the period by kind. These are people's own sessions, coaching or conversations: group work is counted under `group_sessions`, and `group` here stays 0."))
                    .property("by_mode", counts("By mode."))
                    .property("by_status", counts("By status."))
                    .property("one_to_one_hours", ObjectBuilder::new().schema_type(Type::Number).description(Some("Attended coaching and conversation minutes ÷ 60, one decimal."))),
            )
            .property(
                "group_sessions",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some("Group work in the period: sessions held, each counted once (for a referring organisation, team or network: those one of its referrals attended); the places marked on them, one per person; and staff hours, each session's length once per facilitator."))
                    .property("held", count())
                    .property("attendances", counts("Places on held group sessions by attendance: `attended`, `did_not_attend`."))
                    .property("staff_hours", number().description(Some("Held group sessions' minutes × facilitators ÷ 60, one decimal.")))
                    .required("held")
                    .required("attendances")
                    .required("staff_hours"),
            )
            .property(
                "community_work",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some("Community development work done in the period (starting and supporting groups): pieces recorded and their hours, for the whole service or a team (none for a referring organisation or network)."))
                    .property("records", count())
                    .property("hours", number().description(Some("Minutes ÷ 60, one decimal.")))
                    .required("records")
                    .required("hours"),
            )
            .property("median_days_to_first_contact", number())
            .property("decline_rate", number())
            .property("closures_by_reason", counts("Referrals closed in the period by reason code."))
            .property(
                "connections",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("by_status", counts("Connections made in the period by status."))
                    .property("by_outcome", counts("By outcome."))
                    .property(
                        "by_organisation",
                        ObjectBuilder::new()
                            .schema_type(Type::Object)
                            .description(Some("The same per receiving organisation id (`none`: signposts to services no organisation runs)."))
                            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(
                                ObjectBuilder::new()
                                    .schema_type(Type::Object)
                                    .property("by_status", counts("By status."))
                                    .property("by_outcome", counts("By outcome."))
                                    .build(),
                            ))))),
                    ),
            )
            .property("wellbeing", {
                let instrument = |mean: ObjectBuilder| {
                    ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .property("people", count())
                        .property("pairs", count())
                        .property("mean_change", mean)
                };
                let mut items = ObjectBuilder::new().schema_type(Type::Object);
                for item in ONS4_ITEMS {
                    items = items.property(item, number());
                }
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some(
                        "Per instrument: `people` with a baseline and a later measurement in the period, `pairs` (one per referral), the `mean_change` over the pairs (SWEMWBS metric points; ONS4 per item) and, for SWEMWBS, `meaningful_improvement` (pairs improving by at least the threshold).",
                    ))
                    .property(
                        "swemwbs",
                        instrument(number()).property("meaningful_improvement", count()),
                    )
                    .property("ons4", instrument(items))
            })
            .property("disclosure_control", nullable(Type::Object)
                .description(Some("The statistical disclosure control applied (commissioners; `null` when the figures are exact): counts from 1 to `counts_suppressed_up_to` are suppressed, every other count is rounded to the nearest `counts_rounded_to`, and figures derived from fewer than `derived_figures_min_records` records are suppressed."))
                .property("counts_rounded_to", ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).maximum(Some(i64::MAX)))
                .property("counts_suppressed_up_to", ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).maximum(Some(i64::MAX)))
                .property("derived_figures_min_records", ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).maximum(Some(i64::MAX)))
                .property("secondary_suppressed", ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String).max_length(Some(POINTER_MAX_CHARS))).description(Some("JSON pointers of counts suppressed (also listed in `suppressed`) only so that a suppressed count cannot be worked out from its total and the other counts: such a count may be any number, not only 1–7.")))
                .required("secondary_suppressed")
                .required("counts_rounded_to")
                .required("counts_suppressed_up_to")
                .required("derived_figures_min_records"))
            .property("suppressed", ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String).max_length(Some(POINTER_MAX_CHARS))).description(Some("JSON pointers of the suppressed figures.")))
            .required("from")
            .required("to")
            .required("referrer_org_id")
            .required("team_id")
            .required("network_id")
            .required("referrals_received")
            .required("by_source")
            .required("by_reason")
            .required("by_referrer_org")
            .required("by_team")
            .required("people_referred")
            .required("people_contacted")
            .required("sessions")
            .required("group_sessions")
            .required("community_work")
            .required("median_days_to_first_contact")
            .required("decline_rate")
            .required("closures_by_reason")
            .required("connections")
            .required("wellbeing")
            .required("disclosure_control")
            .required("suppressed")
            .into()
    }
}

impl ToSchema for ActivityReportSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ActivityReport")
    }
}

/// What the service did in a period.
///
/// Referrals received (by source, reason and referring organisation), people referred and
/// contacted, sessions scheduled (by kind, mode and status; one-to-one hours), the median
/// days to first contact, the decline rate (declined ÷ (accepted + declined) over referrals
/// received in the period; one ever accepted counts as accepted), closures by reason,
/// connections made (by status and outcome, and per receiving organisation) and the change in
/// wellbeing. Dates are inclusive, UTC. For commissioners, NHS England's statistical
/// disclosure control applies (`disclosure_control`): counts from 1 to 7 are `null`, every
/// other count (totals included) is rounded to the nearest 5, figures derived from fewer than
/// 8 records are `null`, and the JSON pointers of the nulled figures are listed in
/// `suppressed`; admins and coordinators get exact figures. `Accept: text/csv` gives the same
/// figures as rows `metric,breakdown,key,value`, suppressed values empty; `Accept` is honoured
/// with its q-values (JSON unless CSV is preferred; 406 when neither is acceptable).
#[utoipa::path(
    operation_id = "get_activity_report",
    tag = "reports",
    params(ActivityQuery),
    responses(
        (status = 200, description = "The figures", content(
            (ActivityReportSchema = "application/json"),
            (String = "text/csv"),
        )),
        ReportProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/reports/activity")]
pub async fn get_activity_report(
    allowed: Allowed<ActivityReport>,
    state: web::Data<AppState>,
    query: web::Query<ActivityQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let role = allowed.actor.caller.role;
    let accept: Vec<&str> = request
        .headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .collect();
    let format = negotiate(&accept.join(","))?;
    let from = day("from", &query.from)?;
    let to = day("to", &query.to)?;
    if to < from {
        return Err(ApiError::bad_parameter(
            "to",
            "empty_range",
            "must not be before from",
        ));
    }
    let referrer_org = query_uuid("referrer_org_id", query.referrer_org_id.as_deref())?;
    let team = query_uuid("team_id", query.team_id.as_deref())?;
    let network = query_uuid("network_id", query.network_id.as_deref())?;
    let whose = match (referrer_org, team, network) {
        (None, None, None) => Whose::Service,
        (Some(org), None, None) => Whose::ReferrerOrg(org),
        (None, Some(team), None) => Whose::Team(team),
        (None, None, Some(network)) => Whose::Network(network),
        (_, _, Some(_)) => return Err(one_scope("network_id")),
        (_, Some(_), _) => return Err(one_scope("team_id")),
    };
    let scope = Scope {
        from: midnight(from),
        until: midnight(to + chrono::Days::new(1)),
        whose,
    };
    let threshold = i64::from(state.meaningful_change_hundredths);
    let activity = db::run(&state, move |conn| {
        Ok(reports::activity(conn, &scope, threshold)?)
    })
    .await?;
    let mut figures = figures(&activity);
    let (disclosure_control, suppressed) = if role == Role::Commissioner {
        let (suppressed, secondary) = figures.disclose();
        let rule = json!({
            "counts_rounded_to": report::ROUNDING_BASE,
            "counts_suppressed_up_to": report::SMALL_NUMBER_MAX,
            "derived_figures_min_records": report::MIN_RECORDS_FOR_DERIVED,
            "secondary_suppressed": secondary,
        });
        (rule, suppressed)
    } else {
        (Value::Null, Vec::new())
    };
    if format == Format::Csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(figures.csv()));
    }
    let mut head = Map::new();
    head.insert("from".into(), json!(from.to_string()));
    head.insert("to".into(), json!(to.to_string()));
    head.insert("referrer_org_id".into(), json!(referrer_org));
    head.insert("team_id".into(), json!(team));
    head.insert("network_id".into(), json!(network));
    Ok(HttpResponse::Ok().json(figures.json(head, disclosure_control, suppressed)))
}

/// A link worker's open referrals.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerCaseload {
    pub user_id: Uuid,
    /// `null` when the assignee is no registered user.
    #[schema(required = true, value_type = Option<crate::fields::DisplayName>)]
    pub display_name: Option<String>,
    /// Open referrals by status: received, accepted, active, on_hold.
    #[schema(value_type = BTreeMap<crate::schema::CodeName, crate::schema::Count>)]
    pub by_status: BTreeMap<String, i64>,
    #[schema(value_type = crate::schema::Count)]
    pub total: i64,
}

/// Open referrals nobody holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitingList {
    #[schema(value_type = crate::schema::Count)]
    pub count: i64,
    /// When the longest-waiting one arrived.
    #[serde(serialize_with = "wire::optional_timestamp")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub oldest_received_at: Option<DateTime<Utc>>,
    /// Whole days it has waited.
    #[schema(required = true, value_type = Option<crate::schema::Days>)]
    pub oldest_wait_days: Option<i64>,
}

/// Open referrals per link worker, and the unassigned waiting list.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseloadReportView {
    /// The team asked for; `null` for the whole service.
    #[schema(required = true)]
    pub team_id: Option<Uuid>,
    pub link_workers: Vec<WorkerCaseload>,
    pub waiting_list: WaitingList,
}

/// Whose caseloads.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CaseloadQuery {
    /// One team's referrals: its link workers' caseloads and its waiting list.
    #[param(value_type = Option<Uuid>)]
    pub team_id: Option<String>,
}

/// Open referrals per link worker by status, and the unassigned waiting list with its oldest
/// wait: the whole service's, or one team's (`team_id`; a team that does not exist is 404).
#[utoipa::path(
    operation_id = "get_caseload_report",
    tag = "reports",
    params(CaseloadQuery),
    responses(
        (status = 200, description = "Caseloads and the waiting list", body = CaseloadReportView),
        ReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/reports/caseload")]
pub async fn get_caseload_report(
    _: Allowed<CaseloadReport>,
    state: web::Data<AppState>,
    query: web::Query<CaseloadQuery>,
) -> Result<HttpResponse, ApiError> {
    let team_id = query_uuid("team_id", query.team_id.as_deref())?;
    let (workers, waiting) = db::run(&state, move |conn| {
        if let Some(team) = team_id
            && teams::get(conn, team)?.is_none()
        {
            return Err(ApiError::NotFound);
        }
        let (held, waiting) = reports::caseload(conn, team_id)?;
        let mut workers: BTreeMap<String, WorkerCaseload> = BTreeMap::new();
        for row in held {
            let worker = match workers.get_mut(&row.assignee_id) {
                Some(w) => w,
                None => {
                    let id = Uuid::parse_str(&row.assignee_id)
                        .map_err(|e| ApiError::Internal(format!("an assignee id: {e}")))?;
                    let name = users::get(conn, id)?.map(|u| u.display_name);
                    let by_status = reports::OPEN.iter().map(|s| ((*s).to_owned(), 0)).collect();
                    workers
                        .entry(row.assignee_id.clone())
                        .or_insert(WorkerCaseload {
                            user_id: id,
                            display_name: name,
                            by_status,
                            total: 0,
                        })
                }
            };
            *worker.by_status.entry(row.status).or_insert(0) += row.n;
            worker.total += row.n;
        }
        Ok((workers.into_values().collect::<Vec<_>>(), waiting))
    })
    .await?;
    let today = clock::today();
    Ok(HttpResponse::Ok().json(CaseloadReportView {
        team_id,
        link_workers: workers,
        waiting_list: WaitingList {
            count: waiting.count,
            oldest_received_at: waiting.oldest_received_at,
            oldest_wait_days: waiting
                .oldest_received_at
                .map(|at| (today - at.date_naive()).num_days()),
        },
    }))
}
