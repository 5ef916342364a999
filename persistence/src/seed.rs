//! A realistic synthetic data set for load and report benchmarks: referrals with their
//! people, reasons, lifecycles, sessions, plans, connections and outcome measures, in the
//! proportions of `docs/domain.md`. Test-range NHS numbers only (999 000 0000 and up).
//!
//! Speed over generality: rows are written as multi-row `INSERT`s of literal values (every
//! value is generated here, none comes from a user), a few thousand referrals per
//! transaction, so a million referrals take minutes.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::connection::SimpleConnection;
use linkwell_domain::nhs_number::check_digit;
use linkwell_domain::self_referral::REFERENCE_ALPHABET;
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::dialect;
use crate::error::StoreResult;

/// How much to make.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub referrals: u64,
    /// The same seed makes the same data (ids and times aside).
    pub seed: u64,
    /// Referrals arrive over the year before this.
    pub now: DateTime<Utc>,
}

/// What was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Made {
    pub referrals: u64,
    pub people: u64,
    pub sessions: u64,
    pub connections: u64,
    pub outcomes: u64,
    pub rows: u64,
    /// Rows of report totals (`report_tallies`) after the load.
    pub totals: u64,
}

/// How many recent people a re-referral may pick from.
const RECENT_PEOPLE: usize = 50_000;
/// Referrals per transaction.
const BATCH: u64 = 2_000;
/// Rows per `INSERT` statement.
const ROWS_PER_STATEMENT: usize = 500;

/// splitmix64: fast, deterministic, good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items`, by weight.
    fn weighted<T: Copy>(&mut self, items: &[(T, u64)]) -> T {
        let total: u64 = items.iter().map(|(_, w)| w).sum();
        let mut pick = self.below(total);
        for (item, weight) in items {
            if pick < *weight {
                return *item;
            }
            pick -= weight;
        }
        items[0].0
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[usize::try_from(self.below(items.len() as u64)).unwrap_or(0)]
    }
}

/// Rows for one table, flushed as multi-row inserts.
struct Rows {
    table: &'static str,
    columns: &'static str,
    values: Vec<String>,
}

impl Rows {
    fn new(table: &'static str, columns: &'static str) -> Self {
        Self {
            table,
            columns,
            values: Vec::new(),
        }
    }

    fn push(&mut self, values: String) {
        self.values.push(values);
    }

    fn flush(&mut self, conn: &mut DbConnection) -> StoreResult<u64> {
        let n = self.values.len() as u64;
        for chunk in self.values.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO {} ({}) VALUES ({})",
                self.table,
                self.columns,
                chunk.join("),(")
            );
            conn.batch_execute(&sql)?;
        }
        self.values.clear();
        Ok(n)
    }
}

/// A SQL string literal.
fn text(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn opt(value: Option<&str>) -> String {
    value.map_or_else(|| "NULL".to_owned(), text)
}

/// A timestamp as Diesel stores it on both backends.
fn at(value: DateTime<Utc>) -> String {
    text(&value.naive_utc().format("%F %T%.f").to_string())
}

fn opt_at(value: Option<DateTime<Utc>>) -> String {
    value.map_or_else(|| "NULL".to_owned(), at)
}

const GIVEN: &[&str] = &[
    "Sam", "Alex", "Jo", "Chris", "Pat", "Morgan", "Jamie", "Robin", "Ali", "Priya", "Mo", "Ellen",
    "Tom", "Grace", "Aisha", "David", "Hannah", "Ravi", "Sue", "Peter",
];
const FAMILY: &[&str] = &[
    "Jones", "Smith", "Taylor", "Brown", "Wilson", "Khan", "Patel", "Evans", "Walker", "Wright",
    "Hughes", "Green", "Hall", "Wood", "Clarke", "Ahmed", "Murphy", "Kelly", "Shaw", "Young",
];
const POSTCODES: &[&str] = &[
    "IP33 3ND", "LS1 4AP", "NE46 1AA", "CB2 1TN", "M1 1AE", "B1 1BB", "NR1 3JU", "YO1 7HH",
];
const REASONS: &[&str] = &[
    "emotional_wellbeing",
    "loneliness",
    "housing",
    "money_and_benefits",
    "employment_and_skills",
    "healthy_lifestyle",
    "family",
    "caring_responsibilities",
    "bereavement",
    "long_term_condition",
    "other",
];

/// The `k`-th valid NHS number in the never-issued test range, from `offset` on.
struct NhsNumbers(u64);

impl NhsNumbers {
    fn next(&mut self) -> Option<String> {
        while self.0 < 1_000_000 {
            let base = 999_000_000 + self.0;
            self.0 += 1;
            let digits: Vec<u8> = base.to_string().bytes().map(|b| b - b'0').collect();
            if let Some(check) = check_digit(&digits) {
                return Some(format!("{base}{check}"));
            }
        }
        None
    }
}

/// A unique reference for the `n`-th seeded referral, in the live references' alphabet.
fn reference(mut n: u64) -> String {
    let len = REFERENCE_ALPHABET.len() as u64;
    let mut chars = [b'2'; 6];
    for c in chars.iter_mut().rev() {
        *c = REFERENCE_ALPHABET[usize::try_from(n % len).unwrap_or(0)];
        n /= len;
    }
    format!("LW-{}", String::from_utf8_lossy(&chars))
}

fn existing_referrals(conn: &mut DbConnection) -> StoreResult<u64> {
    use diesel::prelude::*;
    let n: i64 = crate::schema::referrals::table.count().get_result(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

struct Person {
    id: Uuid,
    json: String,
    /// What a final connection sharing the given name and phone keeps (see `frozen_details`).
    shared: String,
}

/// Makes the data set, reporting `(done, total)` referrals after each batch.
pub fn seed(
    conn: &mut DbConnection,
    plan: Plan,
    mut progress: impl FnMut(u64, u64),
) -> StoreResult<Made> {
    let mut rng = Rng(plan.seed);
    let mut made = Made::default();
    let now = plan.now;
    let start = now - Duration::days(365);

    // Organisations, link workers and directory services first.
    let mut orgs = Rows::new(
        "organisations",
        "id, name, kind, ods_code, created_at, updated_at, version",
    );
    let new_org = |kind: &str, name: String, rows: &mut Rows| {
        let id = Uuid::now_v7();
        rows.push(format!(
            "{}, {}, {}, NULL, {}, {}, 1",
            text(&id.to_string()),
            text(&name),
            text(kind),
            at(start),
            at(start)
        ));
        id
    };
    let practices: Vec<Uuid> = (0..50)
        .map(|i| new_org("gp_practice", format!("Seed Surgery {i}"), &mut orgs))
        .collect();
    let agencies: Vec<Uuid> = (0..10)
        .map(|i| new_org("agency", format!("Seed Agency {i}"), &mut orgs))
        .collect();
    let partners: Vec<Uuid> = (0..20)
        .map(|i| new_org("partner", format!("Seed Partner {i}"), &mut orgs))
        .collect();
    let coordinators = (plan.referrals / 225).clamp(1, 5_000);
    let mut users = Rows::new(
        "users",
        "id, email, display_name, role, org_id, active, created_at, updated_at, version",
    );
    let workers: Vec<Uuid> = (0..coordinators)
        .map(|i| {
            let id = Uuid::now_v7();
            users.push(format!(
                "{}, {}, {}, 'coordinator', NULL, TRUE, {}, {}, 1",
                text(&id.to_string()),
                text(&format!(
                    "worker{i}.{}@seed.example.org",
                    Uuid::now_v7().simple()
                )),
                text(&format!("Link Worker {i}")),
                at(start),
                at(start)
            ));
            id
        })
        .collect();
    let mut services = Rows::new(
        "services",
        "id, name, description, organisation_id, area, postcode, phone, email, website, accepts_referrals, status, capacity, min_age, search_text, created_at, updated_at, version",
    );
    let mut needs = Rows::new("service_needs", "service_id, need");
    let directory: Vec<(Uuid, Option<Uuid>, bool)> = (0..40u64)
        .map(|i| {
            let id = Uuid::now_v7();
            let accepts = i % 4 != 0;
            let org = accepts.then(|| partners[usize::try_from(i % 20).unwrap_or(0)]);
            let name = format!("Seed service {i}");
            services.push(format!(
                "{}, {}, 'Seeded.', {}, NULL, NULL, NULL, NULL, NULL, {}, 'active', 'available', NULL, {}, {}, {}, 1",
                text(&id.to_string()),
                text(&name),
                opt(org.map(|o| o.to_string()).as_deref()),
                if accepts { "TRUE" } else { "FALSE" },
                text(&format!("{}\nseeded.", name.to_lowercase())),
                at(start),
                at(start)
            ));
            needs.push(format!("{}, {}", text(&id.to_string()), text(REASONS[usize::try_from(i % 11).unwrap_or(0)])));
            (id, org, accepts)
        })
        .collect();
    crate::unit_of_work::write_transaction(conn, |tx| {
        made.rows += orgs.flush(tx)? + users.flush(tx)? + services.flush(tx)? + needs.flush(tx)?;
        Ok::<_, crate::StoreError>(())
    })?;

    let mut nhs = NhsNumbers(0);
    // Re-referrals pick from the most recent people (a bounded pool, not everyone).
    let mut people_seen: std::collections::VecDeque<Person> = std::collections::VecDeque::new();
    let first_reference = existing_referrals(conn)?;
    let mut people = Rows::new(
        "people",
        "id, given_name, family_name, date_of_birth, nhs_number, phone, email, postcode, address, preferred_contact, created_at, updated_at, version",
    );
    let mut referrals = Rows::new(
        "referrals",
        "id, person_id, status, source, summary, referrer_org_id, external_reference, created_by, received_at, updated_at, version, status_reason, closure_reason, gp_record_code, assignee_id, first_contact_at, person_as_sent, change_seq, reference, introduced_by",
    );
    let mut reasons = Rows::new("referral_reasons", "referral_id, reason");
    let mut changes = Rows::new(
        "referral_status_changes",
        "id, referral_id, from_status, to_status, reason_code, reason, actor_sub, actor_role, changed_at",
    );
    let mut sessions = Rows::new(
        "sessions",
        "id, referral_id, kind, mode, scheduled_at, status, duration_minutes, notes, created_by, created_at, updated_at, version",
    );
    let mut plans = Rows::new(
        "plans",
        "referral_id, what_matters, strengths, agreed_at, created_by, created_at, updated_at, version",
    );
    let mut connections = Rows::new(
        "connections",
        "id, referral_id, organisation_id, service_id, need, note_for_partner, shared_fields, status, reason_code, reason, outcome, last_note_at, created_by, created_at, updated_at, version, change_seq, frozen_details",
    );
    let mut outcomes = Rows::new(
        "outcomes",
        "id, referral_id, instrument, timepoint, recorded_at, swemwbs_answers, raw_score, metric_hundredths, life_satisfaction, worthwhile, happiness, anxiety, scoring_version, created_by, created_at",
    );

    let mut done = 0;
    while done < plan.referrals {
        let batch = BATCH.min(plan.referrals - done);
        crate::unit_of_work::write_transaction(conn, |tx| {
            let seq = dialect::change_position(tx)?;
            for _ in 0..batch {
                let n = first_reference + made.referrals;
                made.referrals += 1;
                // The person: a new one mostly, someone referred before now and then.
                let person = if !people_seen.is_empty() && rng.chance(15) {
                    let i = usize::try_from(rng.below(people_seen.len() as u64)).unwrap_or(0);
                    &people_seen[i]
                } else {
                    let id = Uuid::now_v7();
                    let given = rng.pick(GIVEN);
                    let family = rng.pick(FAMILY);
                    let born = NaiveDate::from_ymd_opt(
                        1940 + i32::try_from(rng.below(66)).unwrap_or(0),
                        1 + u32::try_from(rng.below(12)).unwrap_or(0),
                        1 + u32::try_from(rng.below(28)).unwrap_or(0),
                    )
                    .unwrap_or_default();
                    let nhs_number = if rng.chance(80) { nhs.next() } else { None };
                    let phone = rng
                        .chance(75)
                        .then(|| format!("07700 9{:05}", rng.below(100_000)));
                    let postcode = rng.pick(POSTCODES);
                    let preferred = phone.as_ref().map(|_| "phone");
                    people.push(format!(
                        "{}, {}, {}, {}, {}, {}, NULL, {}, NULL, {}, {}, {}, 1",
                        text(&id.to_string()),
                        text(given),
                        text(family),
                        text(&born.to_string()),
                        opt(nhs_number.as_deref()),
                        opt(phone.as_deref()),
                        text(postcode),
                        opt(preferred),
                        at(start),
                        at(start)
                    ));
                    let json = serde_json::json!({
                        "given_name": given, "family_name": family, "date_of_birth": born.to_string(),
                        "nhs_number": nhs_number, "phone": phone, "email": null, "postcode": postcode,
                        "address": null, "preferred_contact": preferred,
                    })
                    .to_string();
                    made.people += 1;
                    if people_seen.len() == RECENT_PEOPLE {
                        people_seen.pop_front();
                    }
                    let shared =
                        serde_json::json!({"given_name": given, "phone": phone}).to_string();
                    people_seen.push_back(Person { id, json, shared });
                    &people_seen[people_seen.len() - 1]
                };
                let id = Uuid::now_v7();
                let id_text = text(&id.to_string());
                let received =
                    start + Duration::seconds(i64::try_from(rng.below(365 * 86_400)).unwrap_or(0));
                let source = rng.weighted(&[
                    ("gp_practice", 60),
                    ("self", 15),
                    ("family_or_friend", 8),
                    ("other_agency", 12),
                    ("community", 5),
                ]);
                let referrer = match source {
                    "gp_practice" => Some(practices[usize::try_from(rng.below(50)).unwrap_or(0)]),
                    "other_agency" => Some(agencies[usize::try_from(rng.below(10)).unwrap_or(0)]),
                    _ => None,
                };
                let mut chosen = Vec::new();
                for _ in 0..1 + rng.below(3) {
                    let reason = rng.pick(REASONS);
                    if !chosen.contains(&reason) {
                        chosen.push(reason);
                        reasons.push(format!("{id_text}, {}", text(reason)));
                    }
                }
                // The lifecycle, in roughly the national proportions (1 in 8 declined).
                let status = rng.weighted(&[
                    ("declined", 12),
                    ("rejected", 2),
                    ("withdrawn", 2),
                    ("received", 3),
                    ("accepted", 5),
                    ("active", 18),
                    ("on_hold", 4),
                    ("closed", 54),
                ]);
                let mut path = vec![("received", received)];
                let mut t = received;
                let mut step = |to: &'static str, days: u64, rng: &mut Rng| {
                    t = (t + Duration::hours(
                        1 + i64::try_from(rng.below(days.max(1) * 24)).unwrap_or(0),
                    ))
                    .min(now);
                    (to, t)
                };
                match status {
                    "declined" | "rejected" | "withdrawn" => path.push(step(status, 10, &mut rng)),
                    "received" => {}
                    _ => {
                        path.push(step("accepted", 7, &mut rng));
                        if status != "accepted" {
                            path.push(step("active", 14, &mut rng));
                        }
                        if status == "on_hold" {
                            path.push(step("on_hold", 60, &mut rng));
                        }
                        if status == "closed" {
                            path.push(step("closed", 120, &mut rng));
                        }
                    }
                }
                let engaged = matches!(status, "active" | "on_hold" | "closed");
                let closure = (status == "closed").then(|| {
                    rng.weighted(&[
                        ("goals_met", 60),
                        ("no_longer_wanted", 15),
                        ("unable_to_contact", 12),
                        ("moved_away", 5),
                        ("referred_elsewhere", 5),
                        ("other", 3),
                    ])
                });
                let mut previous: Option<&str> = None;
                for (to, when) in &path {
                    let reason = match *to {
                        "declined" | "rejected" | "withdrawn" | "on_hold" | "closed" => {
                            Some("Seeded")
                        }
                        _ => None,
                    };
                    changes.push(format!(
                        "{}, {id_text}, {}, {}, {}, {}, 'seed', 'coordinator', {}",
                        text(&Uuid::now_v7().to_string()),
                        opt(previous),
                        text(to),
                        opt(if *to == "closed" { closure } else { None }),
                        opt(reason),
                        at(*when)
                    ));
                    previous = Some(to);
                }
                let last = path.last().map_or(received, |(_, w)| *w);
                let gp_code = match status {
                    "declined" => Some("871711000000103"),
                    "accepted" | "active" | "on_hold" | "closed" => Some("871731000000106"),
                    _ => None,
                };
                // Sessions from first contact: 1 to 12 (a link worker sees a person 6–12 times).
                let accepted_at = path.get(1).map_or(received, |(_, w)| *w);
                let first_contact = engaged.then(|| {
                    (accepted_at + Duration::hours(i64::try_from(rng.below(14 * 24)).unwrap_or(0)))
                        .min(now)
                });
                if let Some(first) = first_contact {
                    let mut when = first;
                    for j in 0..1 + rng.below(12) {
                        // A person's own sessions: group work is recorded as group sessions.
                        let kind = rng.weighted(&[("coaching", 48), ("conversation", 52)]);
                        let mode = rng.weighted(&[
                            ("face_to_face", 45),
                            ("phone", 40),
                            ("video", 10),
                            ("text", 5),
                        ]);
                        let session_status = if j == 0 {
                            "attended"
                        } else {
                            rng.weighted(&[
                                ("attended", 80),
                                ("did_not_attend", 8),
                                ("cancelled_by_person", 7),
                                ("cancelled_by_service", 5),
                            ])
                        };
                        let minutes = (session_status == "attended").then(|| match kind {
                            "coaching" => 30 + rng.below(61),
                            _ => 5 + rng.below(26),
                        });
                        sessions.push(format!(
                            "{}, {id_text}, {}, {}, {}, {}, {}, NULL, 'seed', {}, {}, 1",
                            text(&Uuid::now_v7().to_string()),
                            text(kind),
                            text(mode),
                            at(when),
                            text(session_status),
                            minutes.map_or_else(|| "NULL".to_owned(), |m| m.to_string()),
                            at(when),
                            at(when)
                        ));
                        made.sessions += 1;
                        when = (when
                            + Duration::days(3 + i64::try_from(rng.below(11)).unwrap_or(0)))
                        .min(now);
                    }
                }
                if engaged && rng.chance(60) {
                    let when = first_contact.unwrap_or(received);
                    plans.push(format!("{id_text}, 'Feeling less alone; sorting the bills.', NULL, {}, 'seed', {}, {}, 1", at(when), at(when), at(when)));
                }
                if engaged {
                    for _ in 0..rng.below(3) {
                        let need = chosen.first().copied().unwrap_or("other");
                        let service = (rng.chance(50))
                            .then(|| directory[usize::try_from(rng.below(40)).unwrap_or(0)]);
                        let (org, connection_status) = match service {
                            Some((_, org, false)) => (org, "signposted"),
                            Some((_, org, true)) => (org, "requested"),
                            None => (
                                Some(partners[usize::try_from(rng.below(20)).unwrap_or(0)]),
                                "requested",
                            ),
                        };
                        let connection_status = if connection_status == "signposted" {
                            "signposted"
                        } else {
                            rng.weighted(&[
                                ("requested", 8),
                                ("accepted", 8),
                                ("in_progress", 15),
                                ("completed", 40),
                                ("failed", 6),
                                ("rejected", 10),
                                ("cancelled", 5),
                                ("expired", 5),
                                ("on_hold", 3),
                            ])
                        };
                        let outcome = match connection_status {
                            "completed" => Some(rng.weighted(&[
                                ("got_help", 80),
                                ("services_no_longer_needed", 10),
                                ("referred_elsewhere", 10),
                            ])),
                            "failed" => Some(rng.weighted(&[
                                ("could_not_contact", 50),
                                ("not_eligible", 25),
                                ("no_capacity", 25),
                            ])),
                            _ => None,
                        };
                        let reason_code = match connection_status {
                            "rejected" => Some("no_capacity"),
                            "failed" | "on_hold" | "cancelled" => Some("other"),
                            _ => None,
                        };
                        let when = first_contact.unwrap_or(received);
                        let is_final = connection_status
                            .parse::<linkwell_domain::ConnectionStatus>()
                            .is_ok_and(|s| s.is_final());
                        let frozen = is_final.then_some(person.shared.as_str());
                        connections.push(format!(
                            "{}, {id_text}, {}, {}, {}, NULL, 'given_name,phone', {}, {}, NULL, {}, NULL, 'seed', {}, {}, 2, {seq}, {}",
                            text(&Uuid::now_v7().to_string()),
                            opt(org.map(|o| o.to_string()).as_deref()),
                            opt(service.map(|(s, _, _)| s.to_string()).as_deref()),
                            text(need),
                            text(connection_status),
                            opt(reason_code),
                            opt(outcome),
                            at(when),
                            at(when),
                            opt(frozen)
                        ));
                        made.connections += 1;
                    }
                }
                if let Some(first) = first_contact {
                    let exit_at = (status == "closed").then_some(last);
                    let mut measure =
                        |instrument: &str, timepoint: &str, when: DateTime<Utc>, rng: &mut Rng| {
                            let lift = u64::from(timepoint == "exit");
                            let row = if instrument == "swemwbs" {
                                let answers: Vec<u64> =
                                    (0..7).map(|_| (1 + rng.below(4) + lift).min(5)).collect();
                                let raw: u64 = answers.iter().sum();
                                let metric = linkwell_domain::outcome::metric_hundredths(
                                    u8::try_from(raw).unwrap_or(7),
                                );
                                format!(
                                    "{}, {}, NULL, NULL, NULL, NULL, 'swemwbs-metric-2008'",
                                    text(
                                        &answers
                                            .iter()
                                            .map(u64::to_string)
                                            .collect::<Vec<_>>()
                                            .join(",")
                                    ),
                                    format_args!("{raw}, {metric}")
                                )
                            } else {
                                let item = |rng: &mut Rng| (rng.below(9) + 2 * lift).min(10);
                                format!(
                                    "NULL, NULL, NULL, {}, {}, {}, {}, 'ons4-bands-2018'",
                                    item(rng),
                                    item(rng),
                                    item(rng),
                                    rng.below(11)
                                )
                            };
                            outcomes.push(format!(
                                "{}, {id_text}, {}, {}, {}, {row}, 'seed', {}",
                                text(&Uuid::now_v7().to_string()),
                                text(instrument),
                                text(timepoint),
                                at(when),
                                at(when)
                            ));
                        };
                    for (instrument, share) in [("swemwbs", 55), ("ons4", 35)] {
                        if rng.chance(share) {
                            measure(instrument, "baseline", first, &mut rng);
                            made.outcomes += 1;
                            if let Some(exit) = exit_at.filter(|e| *e > first)
                                && rng.chance(70)
                            {
                                measure(instrument, "exit", exit, &mut rng);
                                made.outcomes += 1;
                            }
                        }
                    }
                }
                let assignee = matches!(status, "active" | "on_hold")
                    .then(|| workers[usize::try_from(rng.below(coordinators)).unwrap_or(0)]);
                referrals.push(format!(
                    "{id_text}, {}, {}, {}, NULL, {}, NULL, 'seed', {}, {}, {}, {}, {}, {}, {}, {}, {}, {seq}, {}, NULL",
                    text(&person.id.to_string()),
                    text(status),
                    text(source),
                    opt(referrer.map(|o| o.to_string()).as_deref()),
                    at(received),
                    at(last),
                    path.len(),
                    opt(matches!(status, "declined" | "rejected" | "withdrawn" | "on_hold" | "closed").then_some("Seeded")),
                    opt(closure),
                    opt(gp_code),
                    opt(assignee.map(|a| a.to_string()).as_deref()),
                    opt_at(first_contact),
                    text(&person.json),
                    text(&reference(n))
                ));
            }
            // Parents before children.
            made.rows += people.flush(tx)?
                + referrals.flush(tx)?
                + reasons.flush(tx)?
                + changes.flush(tx)?
                + sessions.flush(tx)?
                + plans.flush(tx)?
                + connections.flush(tx)?
                + outcomes.flush(tx)?;
            Ok::<_, crate::StoreError>(())
        })?;
        done += batch;
        progress(done, plan.referrals);
    }
    // The rows above bypassed the repositories, so the report totals are made afresh, from
    // tables whose statistics first catch up with the load (or the planner reads them as
    // nearly empty).
    for table in [
        "people",
        "referrals",
        "referral_reasons",
        "referral_status_changes",
        "sessions",
        "connections",
        "outcomes",
    ] {
        dialect::analyze(conn, table)?;
    }
    let totals = crate::tallies::rebuild(conn)?;
    made.totals = u64::try_from(totals).unwrap_or(u64::MAX);
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_unique_and_in_the_live_alphabet() {
        let refs: std::collections::HashSet<String> = (0..20_000).map(reference).collect();
        assert_eq!(refs.len(), 20_000);
        assert!(refs.iter().all(|r| r.len() == 9 && r.starts_with("LW-")));
    }

    #[test]
    fn nhs_numbers_are_valid_and_in_the_test_range() {
        let mut numbers = NhsNumbers(0);
        for _ in 0..1_000 {
            let n = numbers.next().unwrap_or_default();
            assert!(n.starts_with("999"), "{n}");
            assert!(linkwell_domain::NhsNumber::parse(&n).is_ok(), "{n}");
        }
    }
}
