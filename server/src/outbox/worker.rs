use std::{sync::Arc, time::Duration};

use tokio::sync::{Notify, watch};

use super::{Claimed, Job, claim, complete, fail};
use crate::db::Db;

/// Why a job failed, and so whether it is worth another try.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    Permanent(String),
}

/// Runs jobs. Implementations must be safe to run again for the same job: a crash after the work
/// and before `complete` runs it a second time.
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// The kinds of job this handler runs; others wait in the queue for a handler that does.
    fn kinds(&self) -> &'static [&'static str];

    async fn run(&self, job: &Job) -> Result<(), JobError>;

    /// How many due jobs of `kind` are worth running together (1: one at a time).
    fn batch_size(&self, _kind: &str) -> usize {
        1
    }

    /// Runs jobs of one kind together; one outcome per job, in order.
    async fn run_batch(&self, jobs: &[&Job]) -> Vec<Result<(), JobError>> {
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            outcomes.push(self.run(job).await);
        }
        outcomes
    }
}

/// Polls the outbox and runs what is due until told to stop.
#[derive(Clone)]
pub struct Worker {
    db: Db,
    handler: Arc<dyn JobHandler>,
    id: String,
    wake: Arc<Notify>,
    poll: Duration,
}

impl Worker {
    pub fn new(db: Db, handler: Arc<dyn JobHandler>) -> Self {
        let id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Self { db, handler, id, wake: Arc::new(Notify::new()), poll: Duration::from_millis(250) }
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

    /// Claims and runs the next due job, with other due jobs of its kind when its handler batches
    /// them; false when none was due.
    pub async fn run_one(&self) -> Result<bool, sqlx::Error> {
        let Some(first) = claim(&self.db, &self.id, self.handler.kinds(), 1).await?.pop() else { return Ok(false) };
        let kind = match &first.job {
            Ok(job) => job.kind(),
            Err(unreadable) => {
                self.finish(&first, Err(JobError::Permanent(unreadable.clone()))).await?;
                return Ok(true);
            }
        };
        let mut claimed = vec![first];
        let batch = self.handler.batch_size(kind);
        if batch > 1 {
            claimed.extend(claim(&self.db, &self.id, &[kind], batch - 1).await?);
        }
        let (readable, unreadable): (Vec<&Claimed>, Vec<&Claimed>) = claimed.iter().partition(|c| c.job.is_ok());
        for claimed in unreadable {
            let error = claimed.job.as_ref().err().cloned().unwrap_or_default();
            self.finish(claimed, Err(JobError::Permanent(error))).await?;
        }
        let jobs: Vec<&Job> = readable.iter().filter_map(|c| c.job.as_ref().ok()).collect();
        let outcomes =
            if jobs.len() == 1 { vec![self.handler.run(jobs[0]).await] } else { self.handler.run_batch(&jobs).await };
        for (claimed, outcome) in readable.into_iter().zip(outcomes) {
            self.finish(claimed, outcome).await?;
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
                let retryable = matches!(error, JobError::Retryable(_));
                tracing::warn!(job = claimed.id, attempts = claimed.attempts, retryable, %error, "outbox: job failed");
                fail(&self.db, claimed, &self.id, &error.to_string(), retryable).await?;
            }
        }
        Ok(())
    }
}
