//! The directory of services, searchable by need, words, status and capacity.

use std::collections::HashMap;

use chrono::NaiveTime;
use diesel::prelude::*;
use linkwell_domain::directory::{Contact, Website};
use linkwell_domain::opening_hours::{AreaQuery, OpeningPeriod, Weekday, time_of_day};
use linkwell_domain::{
    Capacity, Email, Invalid, Need, NeedCode, Phone, Postcode, Reason, Reasons, Service,
    ServiceStatus,
};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::{StoreResult, corrupt};
use crate::page::{Keyset, Order, keyset};
use crate::schema::{service_needs, service_opening_hours as hours, services};

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

#[derive(Insertable, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = services, treat_none_as_null = true)]
struct ServiceRow {
    id: String,
    name: String,
    description: String,
    organisation_id: Option<String>,
    area: Option<String>,
    postcode: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    website: Option<String>,
    accepts_referrals: bool,
    status: String,
    capacity: String,
    min_age: Option<i32>,
    max_age: Option<i32>,
    search_text: String,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i64,
}

impl ServiceRow {
    fn from_domain(s: &Service) -> Self {
        Self {
            id: s.id.to_string(),
            name: s.name.clone(),
            description: s.description.clone(),
            organisation_id: s.organisation_id.map(|o| o.to_string()),
            area: s.area.clone(),
            postcode: s.postcode.as_ref().map(|p| p.as_str().to_owned()),
            phone: s.contact.phone.as_ref().map(|p| p.as_str().to_owned()),
            email: s.contact.email.as_ref().map(|e| e.as_str().to_owned()),
            website: s.contact.website.as_ref().map(|w| w.as_str().to_owned()),
            accepts_referrals: s.accepts_referrals,
            status: s.status.as_str().to_owned(),
            capacity: s.capacity.as_str().to_owned(),
            min_age: s.min_age.map(i32::from),
            max_age: s.max_age.map(i32::from),
            search_text: s.search_text(),
            created_at: convert::to_db(s.created_at),
            updated_at: convert::to_db(s.updated_at),
            version: s.version,
        }
    }

    fn into_domain(
        self,
        needs: Vec<NeedCode>,
        mut opening_hours: Vec<OpeningPeriod>,
    ) -> StoreResult<Service> {
        opening_hours.sort();
        fn value<T>(
            what: &str,
            stored: Option<String>,
            parse: impl Fn(&str) -> Result<T, Invalid>,
        ) -> StoreResult<Option<T>> {
            stored
                .map(|v| parse(&v).map_err(|e| corrupt(what, e)))
                .transpose()
        }
        Ok(Service {
            id: convert::uuid("service id", &self.id)?,
            name: self.name,
            description: self.description,
            organisation_id: convert::optional_uuid(
                "service organisation",
                self.organisation_id.as_deref(),
            )?,
            needs: Reasons::of(needs).map_err(|e| corrupt("service needs", e))?,
            area: self.area,
            postcode: value("service postcode", self.postcode, Postcode::parse)?,
            contact: Contact {
                phone: value("service phone", self.phone, Phone::parse)?,
                email: value("service email", self.email, Email::parse)?,
                website: value("service website", self.website, Website::parse)?,
            },
            accepts_referrals: self.accepts_referrals,
            status: convert::parse("service status", &self.status)?,
            capacity: convert::parse("service capacity", &self.capacity)?,
            min_age: self
                .min_age
                .map(|a| u8::try_from(a).map_err(|e| corrupt("service minimum age", e)))
                .transpose()?,
            max_age: self
                .max_age
                .map(|a| u8::try_from(a).map_err(|e| corrupt("service maximum age", e)))
                .transpose()?,
            opening_hours,
            created_at: convert::from_db(self.created_at),
            updated_at: convert::from_db(self.updated_at),
            version: self.version,
        })
    }
}

/// What a directory search asks for; every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    /// A reason (met by services with it or any specific need under it) or a specific need.
    pub need: Option<NeedCode>,
    /// Lower-case words to find in the name or description (see `directory::normalise_query`).
    pub query: Option<String>,
    pub status: Option<ServiceStatus>,
    pub capacity: Option<Capacity>,
    pub accepts_referrals: Option<bool>,
    /// Serving this outward code (by postcode) or named area.
    pub area: Option<AreaQuery>,
    /// Taking someone of this age.
    pub age: Option<u8>,
    /// Open on this day (at `open_at`, when given).
    pub open_on: Option<Weekday>,
    /// Open at this time (on `open_on`, when given; else on any day).
    pub open_at: Option<NaiveTime>,
}

/// Stores a new service and its needs.
pub fn insert(conn: &mut DbConnection, service: &Service) -> StoreResult<()> {
    diesel::insert_into(services::table)
        .values(ServiceRow::from_domain(service))
        .execute(conn)?;
    insert_needs(conn, service)?;
    insert_hours(conn, service)
}

/// One statement per opening period: at most three a day.
fn insert_hours(conn: &mut DbConnection, service: &Service) -> StoreResult<()> {
    let id = service.id.to_string();
    for period in &service.opening_hours {
        diesel::insert_into(hours::table)
            .values((
                hours::service_id.eq(&id),
                hours::day.eq(period.day.as_str()),
                hours::opens.eq(clock(period.opens)),
                hours::closes.eq(clock(period.closes)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A time of day as stored: `HH:MM`, so text order is time order.
fn clock(time: NaiveTime) -> String {
    time.format("%H:%M").to_string()
}

/// One statement per need: a service helps with at most a few dozen. Its reasons (rolled up)
/// and its specific needs share the table, so a search by either level is one look-up.
fn insert_needs(conn: &mut DbConnection, service: &Service) -> StoreResult<()> {
    let id = service.id.to_string();
    let codes = service
        .needs
        .iter()
        .map(Reason::as_str)
        .chain(service.needs.needs().map(Need::as_str));
    for need in codes {
        diesel::insert_into(service_needs::table)
            .values((
                service_needs::service_id.eq(&id),
                service_needs::need.eq(need),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Writes a changed service if still at `expected_version`; `false` when another change won.
pub fn save(
    conn: &mut DbConnection,
    service: &Service,
    expected_version: i64,
) -> StoreResult<bool> {
    let id = service.id.to_string();
    let updated = diesel::update(
        services::table
            .filter(services::id.eq(&id))
            .filter(services::version.eq(expected_version)),
    )
    .set(ServiceRow::from_domain(service))
    .execute(conn)?;
    if updated != 1 {
        return Ok(false);
    }
    diesel::delete(service_needs::table.filter(service_needs::service_id.eq(&id))).execute(conn)?;
    insert_needs(conn, service)?;
    diesel::delete(hours::table.filter(hours::service_id.eq(&id))).execute(conn)?;
    insert_hours(conn, service)?;
    Ok(true)
}

/// One service by id.
pub fn get(conn: &mut DbConnection, id: Uuid) -> StoreResult<Option<Service>> {
    let row = services::table
        .find(id.to_string())
        .select(ServiceRow::as_select())
        .first(conn)
        .optional()?;
    Ok(assemble(conn, row.into_iter().collect())?.pop())
}

/// A page of the services `filter` matches, in the order they were listed, after `after`.
pub fn search(
    conn: &mut DbConnection,
    filter: &ServiceFilter,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<Service>> {
    let mut query = services::table
        .select(ServiceRow::as_select())
        .limit(limit)
        .into_boxed();
    if let Some(need) = filter.need {
        query = query.filter(
            services::id.eq_any(
                service_needs::table
                    .filter(service_needs::need.eq(need.as_str()))
                    .select(service_needs::service_id),
            ),
        );
    }
    if let Some(words) = &filter.query {
        query = query.filter(
            services::search_text
                .like(format!("%{}%", escape_like(words)))
                .escape('\\'),
        );
    }
    if let Some(status) = filter.status {
        query = query.filter(services::status.eq(status.as_str()));
    }
    if let Some(capacity) = filter.capacity {
        query = query.filter(services::capacity.eq(capacity.as_str()));
    }
    if let Some(accepts) = filter.accepts_referrals {
        query = query.filter(services::accepts_referrals.eq(accepts));
    }
    match &filter.area {
        // Postcodes are stored `OUTWARD INWARD`; an outward code is letters and digits only.
        Some(AreaQuery::Outward(code)) => {
            query = query.filter(services::postcode.like(format!("{code} %")));
        }
        Some(AreaQuery::Named(name)) => {
            query = query.filter(lower(services::area).eq(name.to_ascii_lowercase()));
        }
        None => {}
    }
    if let Some(age) = filter.age {
        let age = i32::from(age);
        query = query
            .filter(services::min_age.is_null().or(services::min_age.le(age)))
            .filter(services::max_age.is_null().or(services::max_age.ge(age)));
    }
    // Open on a day, at a time, or both: a period that day covering that time.
    let day = filter.open_on.map(Weekday::as_str);
    let at = filter.open_at.map(clock);
    match (day, at) {
        (Some(day), Some(at)) => {
            query = query.filter(
                services::id.eq_any(
                    hours::table
                        .filter(hours::day.eq(day))
                        .filter(hours::opens.le(at.clone()))
                        .filter(hours::closes.gt(at))
                        .select(hours::service_id),
                ),
            );
        }
        (Some(day), None) => {
            query = query.filter(
                services::id.eq_any(
                    hours::table
                        .filter(hours::day.eq(day))
                        .select(hours::service_id),
                ),
            );
        }
        (None, Some(at)) => {
            query = query.filter(
                services::id.eq_any(
                    hours::table
                        .filter(hours::opens.le(at.clone()))
                        .filter(hours::closes.gt(at))
                        .select(hours::service_id),
                ),
            );
        }
        (None, None) => {}
    }
    let rows = keyset(
        query,
        (services::created_at, services::id),
        Order::OldestFirst,
        after,
    )
    .load(conn)?;
    assemble(conn, rows)
}

/// `%`, `_` and the escape itself match only themselves.
fn escape_like(words: &str) -> String {
    let mut escaped = String::with_capacity(words.len());
    for c in words.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Loads the needs of all `rows` in one query and builds the services, keeping row order.
fn assemble(conn: &mut DbConnection, rows: Vec<ServiceRow>) -> StoreResult<Vec<Service>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let pairs: Vec<(String, String)> = service_needs::table
        .filter(service_needs::service_id.eq_any(&ids))
        .select((service_needs::service_id, service_needs::need))
        .load(conn)?;
    let periods: Vec<(String, String, String, String)> = hours::table
        .filter(hours::service_id.eq_any(&ids))
        .select((hours::service_id, hours::day, hours::opens, hours::closes))
        .load(conn)?;
    let mut timetables: HashMap<String, Vec<OpeningPeriod>> = HashMap::new();
    for (service_id, day, opens, closes) in periods {
        let time = |t: &str| time_of_day(t).map_err(|e| corrupt("service opening time", e));
        timetables
            .entry(service_id)
            .or_default()
            .push(OpeningPeriod {
                day: convert::parse("service opening day", &day)?,
                opens: time(&opens)?,
                closes: time(&closes)?,
            });
    }
    let mut needs: HashMap<String, Vec<NeedCode>> = HashMap::new();
    for (service_id, need) in pairs {
        let code = NeedCode::parse(&need).map_err(|e| corrupt("service need", e))?;
        needs.entry(service_id).or_default().push(code);
    }
    rows.into_iter()
        .map(|row| {
            let own = needs.remove(&row.id).unwrap_or_default();
            let open = timetables.remove(&row.id).unwrap_or_default();
            row.into_domain(own, open)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_match_only_themselves() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
        assert_eq!(escape_like("lunch club"), "lunch club");
    }
}
