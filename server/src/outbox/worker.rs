use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::{Notify, watch};
use tracing::Instrument;

use super::{Claimed, JobError, Registry, Wake, claim, complete, defer, fail, prune_done, renew, settle_abandoned};
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
    /// Jobs claimed at once: the class's largest batch.
    batch: usize,
    linger: Duration,
    id: String,
    wake: Arc<Notify>,
    poll: Duration,
    lease: Duration,
    health: WorkerHealth,
}

impl Worker {
    /// A worker of `class`, woken through `wake` when a job of its class is enqueued.
    pub fn new(
        db: Db,
        registry: Arc<Registry>,
        class: &'static str,
        lease: Duration,
        health: WorkerHealth,
        wake: &Wake,
    ) -> Self {
        let id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let kinds = registry.kinds_of(class);
        let (batch, linger) = registry.batching_of(class);
        let notify = Arc::new(Notify::new());
        wake.register(class, notify.clone());
        Self {
            db,
            registry,
            class,
            kinds,
            batch,
            linger,
            id,
            wake: notify,
            poll: Duration::from_millis(250),
            lease,
            health,
        }
    }

    /// Runs until `stop` turns true, finishing the jobs in hand first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let _running = self.health.started(self.class);
        tracing::info!(worker = %self.id, class = self.class, "outbox worker started");
        let mut last_settled: Option<tokio::time::Instant> = None;
        while !*stop.borrow() {
            if last_settled.is_none_or(|at| at.elapsed() >= SETTLE_EVERY) {
                last_settled = Some(tokio::time::Instant::now());
                self.settle().await;
            }
            let ran = match self.run_batch().await {
                Ok(ran) => ran,
                Err(error) => {
                    tracing::error!(%error, "outbox: cannot claim or finish jobs");
                    0
                }
            };
            if ran >= self.batch {
                continue;
            }
            if ran == 0 {
                tokio::select! {
                    _ = stop.changed() => {}
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.poll) => {}
                }
            }
            if !self.linger.is_zero() {
                tokio::select! {
                    _ = stop.changed() => {}
                    () = tokio::time::sleep(self.linger) => {}
                }
            }
        }
        tracing::info!(worker = %self.id, "outbox worker stopped");
    }

    async fn settle(&self) {
        if let Err(error) = settle_abandoned(&self.db, &self.kinds).await {
            tracing::warn!(%error, "outbox: cannot settle abandoned jobs");
        }
        if let Err(error) = prune_done(&self.db).await {
            tracing::warn!(%error, "outbox: cannot prune finished jobs");
        }
    }

    /// Claims up to a batch of due jobs in one statement, runs them (those of one kind together)
    /// and records their outcomes, the successes in one statement; returns how many it claimed.
    pub async fn run_batch(&self) -> Result<usize, sqlx::Error> {
        let claimed = claim(&self.db, &self.id, &self.kinds, self.batch, self.lease).await?;
        let count = claimed.len();
        let mut by_kind: BTreeMap<String, Vec<Claimed>> = BTreeMap::new();
        for job in claimed {
            by_kind.entry(job.kind.clone()).or_default().push(job);
        }
        for (kind, jobs) in by_kind {
            let started = std::time::Instant::now();
            let outcomes = match self.registry.runner(&kind).cloned() {
                Some(runner) => {
                    let span = tracing::info_span!("job", %kind, job = jobs[0].id, attempt = jobs[0].attempts, batch = jobs.len());
                    self.run_claimed(runner, &jobs).instrument(span).await
                }
                None => {
                    jobs.iter().map(|_| Err(JobError::permanent(format!("no handler for job kind {kind:?}")))).collect()
                }
            };
            record_outcomes(self.class, &kind, &outcomes, started.elapsed());
            self.finish(&jobs, outcomes).await?;
        }
        Ok(count)
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

    async fn finish(&self, jobs: &[Claimed], outcomes: Vec<Result<(), JobError>>) -> Result<(), sqlx::Error> {
        let mut succeeded = Vec::with_capacity(jobs.len());
        for (claimed, outcome) in jobs.iter().zip(outcomes) {
            match outcome {
                Ok(()) => succeeded.push(claimed.id),
                Err(JobError::Deferred(cause, delay)) => {
                    tracing::debug!(job = claimed.id, cause = %crate::telemetry::chain(cause.as_ref()), "outbox: job deferred");
                    defer(&self.db, claimed, &self.id, delay).await?;
                }
                Err(error) => {
                    let retryable = error.is_retryable();
                    let error = error.chain();
                    tracing::warn!(job = claimed.id, kind = %claimed.kind, attempts = claimed.attempts, retryable, %error, "outbox: job failed");
                    fail(&self.db, claimed, &self.id, &error, retryable).await?;
                }
            }
        }
        let completed = complete(&self.db, &succeeded, &self.id).await?;
        if completed < succeeded.len() as u64 {
            tracing::warn!(
                jobs = succeeded.len() as u64 - completed,
                "outbox: jobs finished after their claims expired"
            );
        }
        Ok(())
    }
}

/// Counts and times each job by class, kind and outcome. Jobs run in a batch finish together, so
/// each is timed as the batch took.
fn record_outcomes(class: &str, kind: &str, outcomes: &[Result<(), JobError>], took: std::time::Duration) {
    for outcome in outcomes {
        let outcome = match outcome {
            Ok(()) => "succeeded",
            Err(JobError::Deferred(..)) => "deferred",
            Err(error) if error.is_retryable() => "failed_retryable",
            Err(_) => "failed_permanently",
        };
        let labels = [("class", class.to_owned()), ("kind", kind.to_owned()), ("outcome", outcome.to_owned())];
        metrics::counter!("remit_jobs_total", &labels).increment(1);
        metrics::histogram!("remit_job_duration_seconds", &labels).record(took.as_secs_f64());
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
