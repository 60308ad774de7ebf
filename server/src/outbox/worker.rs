use std::{sync::Arc, time::Duration};

use tokio::sync::{Notify, watch};
use tracing::Instrument;

use super::{Claimed, JobError, Registry, claim, complete, fail};
use crate::db::Db;

/// Polls the outbox and runs what is due until told to stop.
#[derive(Clone)]
pub struct Worker {
    db: Db,
    registry: Arc<Registry>,
    id: String,
    wake: Arc<Notify>,
    poll: Duration,
}

impl Worker {
    pub fn new(db: Db, registry: Arc<Registry>) -> Self {
        let id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Self { db, registry, id, wake: Arc::new(Notify::new()), poll: Duration::from_millis(250) }
    }

    /// Wakes the worker now instead of at its next poll (after enqueueing, say).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs until `stop` turns true, finishing the job in hand first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(worker = %self.id, "outbox worker started");
        while !*stop.borrow() {
            match self.run_one().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) => tracing::error!(%error, "outbox: cannot claim jobs"),
            }
            tokio::select! {
                _ = stop.changed() => {}
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.poll) => {}
            }
        }
        tracing::info!(worker = %self.id, "outbox worker stopped");
    }

    /// Claims and runs the next due job, with other due jobs of its kind when its kind batches
    /// them; false when none was due.
    pub async fn run_one(&self) -> Result<bool, sqlx::Error> {
        let Some(first) = claim(&self.db, &self.id, &self.registry.kinds(), 1).await?.pop() else { return Ok(false) };
        let Some(runner) = self.registry.runner(&first.kind).cloned() else {
            let error = JobError::permanent(format!("no handler for job kind {:?}", first.kind));
            self.finish(&first, Err(error)).await?;
            return Ok(true);
        };
        let mut claimed = vec![first];
        if runner.batch_size() > 1 {
            let kind = [claimed[0].kind.as_str()];
            claimed.extend(claim(&self.db, &self.id, &kind, runner.batch_size() - 1).await?);
        }
        let payloads: Vec<&str> = claimed.iter().map(|c| c.payload.as_str()).collect();
        let span = tracing::info_span!(
            "job",
            kind = %claimed[0].kind,
            job = claimed[0].id,
            attempt = claimed[0].attempts,
            batch = claimed.len(),
        );
        let outcomes = runner.run(&payloads).instrument(span.clone()).await;
        for (claimed, outcome) in claimed.iter().zip(outcomes) {
            self.finish(claimed, outcome).instrument(span.clone()).await?;
        }
        Ok(true)
    }

    async fn finish(&self, claimed: &Claimed, outcome: Result<(), JobError>) -> Result<(), sqlx::Error> {
        match outcome {
            Ok(()) => {
                if !complete(&self.db, claimed.id, &self.id).await? {
                    tracing::warn!(job = claimed.id, "outbox: job finished after its claim expired");
                }
            }
            Err(error) => {
                let retryable = error.is_retryable();
                let error = error.chain();
                tracing::warn!(job = claimed.id, attempts = claimed.attempts, retryable, %error, "outbox: job failed");
                fail(&self.db, claimed, &self.id, &error, retryable).await?;
            }
        }
        Ok(())
    }
}
