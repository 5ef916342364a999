//! What a write transaction changed that the reports count, and settling it as deltas.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use linkwell_domain::tally::{self, Event, ReferralFacts, Tallies};
use uuid::Uuid;

use super::{Records, TOTALS, days, load, rebuild, store};
use crate::connection::DbConnection;
use crate::dialect::{self, Hold};
use crate::error::StoreResult;

/// A touched referral as it stood before the transaction changed it.
#[derive(Debug, Default)]
struct Before {
    person: Option<String>,
    tallies: Tallies,
    events: Vec<Event>,
}

/// The referrals and people a write transaction touched, kept by its [`crate::unit_of_work::Tx`].
#[derive(Debug, Default)]
pub(crate) struct Counted {
    referrals: BTreeMap<String, Before>,
    /// People whose referrals moved (merges): their days are re-read from the records.
    people: BTreeSet<String>,
    /// People added by the transaction: no other can see them, so they have no days yet.
    new_people: BTreeSet<String>,
}

impl Counted {
    pub(crate) fn touch_referral(&mut self, conn: &mut DbConnection, id: Uuid) -> StoreResult<()> {
        let id = id.to_string();
        if self.referrals.contains_key(&id) {
            return Ok(());
        }
        // Writers of one referral queue here, so each reads what the last one committed.
        dialect::lock_row(conn, "referrals", &id)?;
        let before = match load(conn, Records::Referrals(std::slice::from_ref(&id)))?.pop() {
            Some((_, person, facts)) => Before {
                person: Some(person),
                tallies: facts.tallies(),
                events: facts.events(),
            },
            None => Before::default(),
        };
        self.referrals.insert(id, before);
        Ok(())
    }

    pub(crate) fn touch_new_referral(&mut self, id: Uuid) {
        self.referrals.entry(id.to_string()).or_default();
    }

    pub(crate) fn touch_new_person(&mut self, id: Uuid) {
        self.new_people.insert(id.to_string());
    }

    pub(crate) fn touch_person(&mut self, id: Uuid) {
        self.people.insert(id.to_string());
    }

    fn is_empty(&self) -> bool {
        self.referrals.is_empty() && self.people.is_empty()
    }
}

/// Inserts the difference the transaction made to the totals as deltas, just before it
/// commits. Only people a running rebuild has already counted (all of them when none runs)
/// are settled here: the rebuild reads the others' records, this change included, later.
pub(crate) fn settle(conn: &mut DbConnection, touched: Counted) -> StoreResult<()> {
    if touched.is_empty() {
        return Ok(());
    }
    // A rebuild's batch holds this alone: it never reads records a settling writer is about
    // to count, nor counts what one has.
    dialect::lock_key(conn, TOTALS, Hold::Shared)?;
    let ids: Vec<String> = touched.referrals.keys().cloned().collect();
    let mut now: HashMap<String, (String, ReferralFacts)> = load(conn, Records::Referrals(&ids))?
        .into_iter()
        .map(|(id, person, facts)| (id, (person, facts)))
        .collect();
    let everyone: BTreeSet<String> = touched
        .referrals
        .values()
        .filter_map(|b| b.person.clone())
        .chain(now.values().map(|(person, _)| person.clone()))
        .chain(touched.people.iter().cloned())
        .collect();
    let counted = rebuild::counted(conn, everyone)?;
    let counts = |person: Option<&String>| person.is_some_and(|p| counted.contains(p));

    let mut before = Tallies::default();
    let mut after = Tallies::default();
    // Event counts moved, per person (people re-read whole are left out).
    let mut moved: BTreeMap<String, BTreeMap<Event, i64>> = BTreeMap::new();
    let mut shift = |person: &String, events: &[Event], by: i64| {
        if !touched.people.contains(person) {
            let counts = moved.entry(person.clone()).or_default();
            for e in events {
                *counts.entry(e.clone()).or_default() += by;
            }
        }
    };
    for (id, was) in &touched.referrals {
        if let Some(person) = was.person.as_ref().filter(|p| counts(Some(p))) {
            before.absorb(was.tallies.clone());
            shift(person, &was.events, -1);
        }
        if let Some((person, facts)) = now.remove(id).filter(|(p, _)| counts(Some(p))) {
            after.absorb(facts.tallies());
            shift(&person, &facts.events(), 1);
        }
    }
    // Most changes (a later session, a connection moving on) move no event.
    moved.retain(|_, counts| {
        counts.retain(|_, n| *n != 0);
        !counts.is_empty()
    });
    let rechained: Vec<&String> = touched.people.iter().filter(|p| counts(Some(p))).collect();
    // Each person's days are read and written under their lock, taken in one order by every
    // writer, after the referrals' (so a merge, which locks referrals as it moves them, cannot
    // deadlock with a writer of one of them). Only people whose days change are locked.
    // A person added by this transaction is invisible to every other until it commits: there
    // is nothing to wait for and no day stored.
    let people: BTreeSet<&String> = moved.keys().chain(rechained.iter().copied()).collect();
    for person in people
        .into_iter()
        .filter(|p| !touched.new_people.contains(*p))
    {
        dialect::lock_key(conn, person, Hold::Exclusive)?;
    }
    for (person, counts) in moved {
        let stored = if touched.new_people.contains(&person) {
            BTreeMap::new()
        } else {
            days::of(conn, &person)?
        };
        let mut next = stored.clone();
        for (event, by) in &counts {
            *next.entry(event.clone()).or_default() += by;
        }
        next.retain(|_, n| *n > 0);
        before.absorb(tally::chain_tallies(stored.keys()));
        after.absorb(tally::chain_tallies(next.keys()));
        days::add(conn, &person, &counts)?;
    }
    for person in rechained {
        let stored = days::of(conn, person)?;
        let fresh = tally::event_counts(
            load(conn, Records::People(std::slice::from_ref(person)))?
                .iter()
                .map(|(_, _, f)| f),
        );
        before.absorb(tally::chain_tallies(stored.keys()));
        after.absorb(tally::chain_tallies(fresh.keys()));
        days::replace(conn, person, &fresh)?;
    }
    store::insert_deltas(conn, &after.minus(&before))
}
