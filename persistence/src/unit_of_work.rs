//! A write transaction as a value: [`Tx`] is the connection inside it plus what it changed
//! that the reports count. Repositories whose writes the reports count take a `&mut Tx`, so
//! the compiler refuses a counted write made outside a transaction that will settle it; every
//! other repository takes the connection, which a `Tx` derefs to.

use std::ops::{Deref, DerefMut};

use uuid::Uuid;

use crate::connection::DbConnection;
use crate::dialect;
use crate::error::{StoreError, StoreResult};
use crate::tallies::{self, Counted};

/// The connection of a running write transaction, and what it touched.
#[derive(Debug)]
pub struct Tx<'c> {
    conn: &'c mut DbConnection,
    counted: Counted,
}

impl Tx<'_> {
    /// Call before changing anything under referral `id` that a report counts: it locks the
    /// referral (so its writers queue) and notes how it stood.
    pub(crate) fn touch_referral(&mut self, id: Uuid) -> StoreResult<()> {
        self.counted.touch_referral(self.conn, id)
    }

    /// Call when adding referral `id`: it counted nothing before, and nobody else can see it.
    pub(crate) fn touch_new_referral(&mut self, id: Uuid) {
        self.counted.touch_new_referral(id);
    }

    /// Call when adding person `id`: nobody else can see them, so they have no event days and
    /// settling needs neither to lock them nor to read their days.
    pub(crate) fn touch_new_person(&mut self, id: Uuid) {
        self.counted.touch_new_person(id);
    }

    /// Call when moving referrals between people (a merge), for each of them.
    pub(crate) fn touch_person(&mut self, id: Uuid) {
        self.counted.touch_person(id);
    }
}

impl Deref for Tx<'_> {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        self.conn
    }
}

impl DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut DbConnection {
        self.conn
    }
}

/// Runs `f` in a transaction that may write, and commits it with the difference it made to
/// the report totals (see [`tallies`]); on an error nothing of it stays.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
    E: From<StoreError>,
{
    let writing = dialect::begin_write(conn).map_err(E::from)?;
    let mut tx = Tx {
        conn,
        counted: Counted::default(),
    };
    let result = f(&mut tx).and_then(|value| {
        tallies::settle(tx.conn, std::mem::take(&mut tx.counted))?;
        Ok(value)
    });
    dialect::end_write(tx.conn, writing, result)
}
