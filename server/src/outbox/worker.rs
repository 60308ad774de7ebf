use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::{Notify, watch};
use tracing::Instrument;

use super::{Claimed, JobError, Registry, claim, complete, defer, fail, renew, settle_abandoned};
use crate::db::Db;

/// How many workers of each class are running, for `/readyz`.
#[derive(Clone, Default)]
pub struct WorkerHealth {
    /// class → (started, still running)
    classes: Arc<Mutex<BTreeMap<&'static str, (usize, usize)>>>,
}

impl WorkerHealth {
    /// class → (started, still running).
    pub fn snapshot(&self) -> BTreeMap<&'static str, (usize, usize)> {
        self.classes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn started(&self, class: &'static str) -> Running {
        let mut classes = self.classes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = classes.entry(class).or_default();
        entry.0 += 1;
        entry.1 += 1;
        Running { health: self.clone(), class }
    }
}

/// Counts a worker as running until dropped, whether it returns or unwinds.
struct Running {
    health: WorkerHealth,
    class: &'static str,
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut classes = self.health.classes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = classes.get_mut(self.class) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }
}

/// How often a worker settles jobs whose worker stopped (see [`settle_abandoned`]).
const SETTLE_EVERY: Duration = Duration::from_secs(5);

/// Polls the outbox for the jobs of one class and runs what is due until told to stop.
#[derive(Clone)]
pub struct Worker {
    db: Db,
    registry: Arc<Registry>,
    class: &'static str,
    kinds: Vec<&'static str>,
    id: String,
    wake: Arc<Notify>,
    poll: Duration,
    lease: Duration,
    health: WorkerHealth,
}

impl Worker {
    pub fn new(db: Db, registry: Arc<Registry>, class: &'static str, lease: Duration, health: WorkerHealth) -> Self {
        let id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let kinds = registry.kinds_of(class);
        let wake = Arc::new(Notify::new());
        Self { db, registry, class, kinds, id, wake, poll: Duration::from_millis(250), lease, health }
    }

    /// Wakes this worker now instead of at its next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs until `stop` turns true, finishing the job in hand first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let _running = self.health.started(self.class);
        tracing::info!(worker = %self.id, class = self.class, "outbox worker started");
        let mut last_settled: Option<tokio::time::Instant> = None;
        while !*stop.borrow() {
            if last_settled.is_none_or(|at| at.elapsed() >= SETTLE_EVERY) {
                last_settled = Some(tokio::time::Instant::now());
                if let Err(error) = settle_abandoned(&self.db, &self.kinds).await {
                    tracing::warn!(%error, "outbox: cannot settle abandoned jobs");
                }
            }
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
        let Some(first) = claim(&self.db, &self.id, &self.kinds, 1, self.lease).await?.pop() else {
            return Ok(false);
        };
        let Some(runner) = self.registry.runner(&first.kind).cloned() else {
            let error = JobError::permanent(format!("no handler for job kind {:?}", first.kind));
            self.finish(&first, Err(error)).await?;
            return Ok(true);
        };
        let mut claimed = vec![first];
        if runner.batch_size() > 1 {
            let kind = [claimed[0].kind.as_str()];
            claimed.extend(claim(&self.db, &self.id, &kind, runner.batch_size() - 1, self.lease).await?);
        }
        let span = tracing::info_span!(
            "job",
            kind = %claimed[0].kind,
            job = claimed[0].id,
            attempt = claimed[0].attempts,
            batch = claimed.len(),
        );
        let outcomes = self.run_claimed(runner, &claimed).instrument(span.clone()).await;
        for (claimed, outcome) in claimed.iter().zip(outcomes) {
            self.finish(claimed, outcome).instrument(span.clone()).await?;
        }
        Ok(true)
    }

    /// Runs the jobs in a task of their own while renewing their claims; a panic fails them
    /// (retryable, with its message) and this worker goes on.
    async fn run_claimed(&self, runner: Arc<dyn super::job::Runner>, claimed: &[Claimed]) -> Vec<Result<(), JobError>> {
        let payloads: Vec<String> = claimed.iter().map(|c| c.payload.clone()).collect();
        let ids: Vec<i64> = claimed.iter().map(|c| c.id).collect();
        let work = tokio::spawn(
            async move {
                let payloads: Vec<&str> = payloads.iter().map(String::as_str).collect();
                runner.run(&payloads).await
            }
            .in_current_span(),
        );
        tokio::pin!(work);
        let ran = loop {
            tokio::select! {
                ran = &mut work => break ran,
                () = tokio::time::sleep(self.lease / 3) => {
                    if let Err(error) = renew(&self.db, &self.id, &ids, self.lease).await {
                        tracing::warn!(%error, "outbox: cannot renew a running job's claim");
                    }
                }
            }
        };
        match ran {
            Ok(outcomes) => outcomes,
            Err(join_error) => {
                let message = panic_message(join_error);
                tracing::error!(panic = %message, "outbox: a job panicked");
                claimed.iter().map(|_| Err(JobError::retryable(format!("the job panicked: {message}")))).collect()
            }
        }
    }

    async fn finish(&self, claimed: &Claimed, outcome: Result<(), JobError>) -> Result<(), sqlx::Error> {
        match outcome {
            Ok(()) => {
                if !complete(&self.db, claimed.id, &self.id).await? {
                    tracing::warn!(job = claimed.id, "outbox: job finished after its claim expired");
                }
            }
            Err(JobError::Deferred(cause, delay)) => {
                tracing::debug!(job = claimed.id, cause = %crate::telemetry::chain(cause.as_ref()), "outbox: job deferred");
                defer(&self.db, claimed, &self.id, delay).await?;
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

fn panic_message(error: tokio::task::JoinError) -> String {
    if !error.is_panic() {
        return error.to_string();
    }
    let payload = error.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::WorkerHealth;

    #[test]
    fn a_worker_counts_as_running_until_it_returns_or_unwinds() {
        let health = WorkerHealth::default();
        let running = health.started("sync");
        let unwound = std::thread::spawn({
            let health = health.clone();
            move || {
                let _running = health.started("sync");
                panic!("a worker dies");
            }
        })
        .join();
        assert!(unwound.is_err());
        assert_eq!(health.snapshot()["sync"], (2, 1));
        drop(running);
        assert_eq!(health.snapshot()["sync"], (2, 0));
    }
}
