//! Where received Stripe events are stored: in group commits. Concurrent deliveries share one
//! transaction (each event stored with its job, as alone), and each is answered only after that
//! transaction is on disk, so an acknowledged event is never lost. With `synchronous = FULL` a
//! commit costs an fsync and SQLite takes one writer at a time: one commit per group instead of
//! per event is what lets the webhook endpoint answer thousands of deliveries a second.

use tokio::sync::{mpsc, oneshot};

use super::{EventHeader, store};
use crate::{db::Db, jobs, outbox, outbox::Wake};

/// The most events one transaction stores.
const MAX_GROUP: usize = 256;

/// One delivery waiting for its group's commit.
struct Pending {
    id: String,
    event_type: String,
    payload: String,
    /// True when the event is new; false for a duplicate delivery.
    answer: oneshot::Sender<Result<bool, sqlx::Error>>,
}

/// The handle deliveries go through; the committer runs as long as a handle exists.
#[derive(Clone)]
pub struct Inbox(mpsc::Sender<Pending>);

impl Inbox {
    /// Starts the committer (on the current Tokio runtime).
    pub fn start(db: Db, wake: Wake) -> Self {
        let (sender, receiver) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(commit_in_groups(db, wake, receiver));
        Self(sender)
    }

    /// Stores an event and its job, answering once both are committed. False when the event was
    /// stored already (a duplicate delivery).
    pub async fn record(&self, header: &EventHeader, payload: &str) -> Result<bool, sqlx::Error> {
        let (answer, answered) = oneshot::channel();
        let pending = Pending {
            id: header.id.clone(),
            event_type: header.event_type.clone(),
            payload: payload.to_owned(),
            answer,
        };
        self.0.send(pending).await.map_err(|_| sqlx::Error::WorkerCrashed)?;
        answered.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }
}

async fn commit_in_groups(db: Db, wake: Wake, mut receiver: mpsc::Receiver<Pending>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    // Waits for one delivery, then takes every other one that arrived meanwhile.
    while receiver.recv_many(&mut group, MAX_GROUP).await > 0 {
        match store_group(&db, &group).await {
            Ok(new) => {
                if new.contains(&true) {
                    wake.job::<jobs::ApplyStripeEvent>();
                }
                for (pending, new) in group.drain(..).zip(new) {
                    let _ = pending.answer.send(Ok(new));
                }
            }
            Err(error) if group.len() == 1 => {
                if let Some(pending) = group.pop() {
                    let _ = pending.answer.send(Err(error));
                }
            }
            // One event the database refuses must not fail the others: each alone, then.
            Err(error) => {
                tracing::warn!(%error, events = group.len(), "cannot store a group of Stripe events; storing each alone");
                for pending in group.drain(..) {
                    let stored = store_group(&db, std::slice::from_ref(&pending)).await.map(|new| new[0]);
                    if matches!(stored, Ok(true)) {
                        wake.job::<jobs::ApplyStripeEvent>();
                    }
                    let _ = pending.answer.send(stored);
                }
            }
        }
    }
}

/// Stores the events (each new one with its job) in one transaction of two statements, however
/// many there are; whether each was new (a second delivery in one group is not).
async fn store_group(db: &Db, group: &[Pending]) -> Result<Vec<bool>, sqlx::Error> {
    let mut tx = db.writes.begin().await?;
    let events: Vec<(&str, &str, &str)> =
        group.iter().map(|p| (p.id.as_str(), p.event_type.as_str(), p.payload.as_str())).collect();
    let inserted = store::insert_events(&mut tx, &events).await?;
    let mut first = std::collections::HashSet::new();
    let new: Vec<bool> = group.iter().map(|p| inserted.contains(&p.id) && first.insert(p.id.as_str())).collect();
    let jobs: Vec<jobs::ApplyStripeEvent> = group
        .iter()
        .zip(&new)
        .filter(|(_, new)| **new)
        .map(|(p, _)| jobs::ApplyStripeEvent { event_id: p.id.clone() })
        .collect();
    outbox::enqueue_all(&mut tx, &jobs).await?;
    tx.commit().await?;
    Ok(new)
}
