//! Group commit for the audit rows of reads.
//!
//! Every read of personal data leaves a row that must be durable before the data leaves. A
//! transaction of its own per read made every GET a commit: a WAL flush on PostgreSQL, and on
//! SQLite a turn at the one writer's lock. Instead a read hands its row to this writer and the
//! response waits for its receipt (`middleware`): the writer takes every row queued while it
//! was busy and commits them in one transaction with one multi-row INSERT, so concurrent reads
//! share a commit. The request's pooled connection is back in the pool while it waits.
//!
//! A row is handed over synchronously, so it is committed even if the client goes away before
//! its answer: a refusal or a read that was attempted stays on the trail.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use linkwell_persistence::audit::{self, AuditEvent};
use linkwell_persistence::{
    DatabaseUrl, DbConnection, StoreError, establish_with, write_transaction,
};
use tokio::sync::oneshot;

use crate::error::ApiError;

/// How many requests' rows may wait for the writer; past that a read answers 503 rather than
/// queue without bound behind a stalled database.
const QUEUE: usize = 4096;
/// The most requests one commit answers.
const BATCH: usize = 512;

/// The writer's mailbox. Cloning it is cheap; the writer's thread ends when the last clone
/// is dropped.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    jobs: SyncSender<Job>,
}

struct Job {
    events: Vec<AuditEvent>,
    done: oneshot::Sender<Result<(), ()>>,
}

/// Proof that rows were handed to the writer: await it to know they committed.
#[derive(Debug)]
pub struct Receipt(oneshot::Receiver<Result<(), ()>>);

impl Receipt {
    /// Waits for the commit; the database's failure is 503 (the writer logged its cause).
    pub async fn committed(self) -> Result<(), ApiError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(())) => Err(ApiError::Unavailable),
            Err(_) => Err(ApiError::Internal("the audit writer stopped".into())),
        }
    }
}

/// The receipts a request collected, which the response waits for.
#[derive(Debug, Clone, Default)]
pub struct Receipts(Arc<Mutex<Vec<Receipt>>>);

impl Receipts {
    fn push(&self, receipt: Receipt) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(receipt);
    }

    /// Waits until every row handed over so far has committed.
    pub async fn committed(&self) -> Result<(), ApiError> {
        let receipts = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        for receipt in receipts {
            receipt.committed().await?;
        }
        Ok(())
    }
}

impl AuditWriter {
    /// Starts the writer's thread; it opens its own connection to `url` when the first rows
    /// arrive, so it never waits for (or starves) the request pool.
    pub fn start(url: DatabaseUrl, lock_timeout: Duration) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || run(&url, lock_timeout, &queue))?;
        Ok(Self { jobs })
    }

    /// Hands `events` over; `receipts` collects the proof the response waits for.
    pub fn write(&self, events: Vec<AuditEvent>, receipts: &Receipts) -> Result<(), ApiError> {
        receipts.push(self.submit(events)?);
        Ok(())
    }

    /// Hands `events` over and returns the receipt to await.
    pub fn submit(&self, events: Vec<AuditEvent>) -> Result<Receipt, ApiError> {
        let (done, receipt) = oneshot::channel();
        match self.jobs.try_send(Job { events, done }) {
            Ok(()) => Ok(Receipt(receipt)),
            Err(TrySendError::Full(_)) => {
                log::warn!("audit rows refused: {QUEUE} requests already wait for the writer");
                Err(ApiError::Unavailable)
            }
            Err(TrySendError::Disconnected(_)) => {
                Err(ApiError::Internal("the audit writer stopped".into()))
            }
        }
    }
}

fn run(url: &DatabaseUrl, lock_timeout: Duration, queue: &Receiver<Job>) {
    let mut conn: Option<DbConnection> = None;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let events: Vec<AuditEvent> = batch
            .iter_mut()
            .flat_map(|job| job.events.drain(..))
            .collect();
        let result = commit(&mut conn, url, lock_timeout, &events).map_err(|error| {
            log::error!("{} audit rows not written: {error}", events.len());
            // A fresh connection next time: this one may be what failed.
            conn = None;
        });
        for job in batch {
            // A waiter that went away needs no answer; its row is committed all the same.
            let _ = job.done.send(result);
        }
    }
}

fn commit(
    conn: &mut Option<DbConnection>,
    url: &DatabaseUrl,
    lock_timeout: Duration,
    events: &[AuditEvent],
) -> Result<(), StoreError> {
    let conn = match conn {
        Some(conn) => conn,
        None => conn.insert(
            establish_with(url, lock_timeout)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?,
        ),
    };
    write_transaction(conn, |tx| audit::record_many(tx, events))
}

/// Where one request's audit rows go: the writer, and the receipts its response waits for.
#[derive(Debug, Clone)]
pub struct Sink {
    writer: AuditWriter,
    receipts: Receipts,
}

impl Sink {
    /// The sink of the request being served (`middleware` gives every request its receipts).
    pub fn of(req: &actix_web::HttpRequest) -> Result<Self, ApiError> {
        use actix_web::HttpMessage;
        let writer = req
            .app_data::<actix_web::web::Data<crate::state::AppState>>()
            .map(|state| state.audit.clone())
            .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
        let receipts = req
            .extensions()
            .get::<Receipts>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("audit receipts missing".into()))?;
        Ok(Self { writer, receipts })
    }

    /// Hands `event` over; the response waits for its commit.
    pub fn write(&self, event: AuditEvent) -> Result<(), ApiError> {
        self.writer.write(vec![event], &self.receipts)
    }

    /// Hands `event` over and waits for its commit here.
    pub async fn write_now(&self, event: AuditEvent) -> Result<(), ApiError> {
        self.writer.submit(vec![event])?.committed().await
    }
}
