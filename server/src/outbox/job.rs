//! What the outbox asks of a job kind, and how it runs kinds it knows only by name.

use std::{collections::BTreeMap, sync::Arc};

use serde::{Serialize, de::DeserializeOwned};

use crate::Cause;

/// Why a job failed, and so whether it is worth another try.
#[derive(Debug)]
pub enum JobError {
    Retryable(Cause),
    Permanent(Cause),
    /// Not tried at all (what it needs is known to be down): run it again after the delay,
    /// without counting an attempt.
    Deferred(Cause, std::time::Duration),
}

impl JobError {
    pub fn retryable(cause: impl Into<Cause>) -> Self {
        Self::Retryable(cause.into())
    }

    pub fn permanent(cause: impl Into<Cause>) -> Self {
        Self::Permanent(cause.into())
    }

    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Permanent(_))
    }

    /// The cause and everything behind it, `outer: inner: innermost`.
    pub fn chain(&self) -> String {
        let (Self::Retryable(cause) | Self::Permanent(cause) | Self::Deferred(cause, _)) = self;
        crate::telemetry::chain(cause.as_ref())
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.chain())
    }
}

/// A kind of durable job: its name in the queue, which jobs coalesce, and what it does. Running
/// a job twice must be harmless: a crash after the work and before it is marked done runs it again.
#[async_trait::async_trait]
pub trait Job: Serialize + DeserializeOwned + Send + Sync + Sized + 'static {
    /// Stored in `outbox.kind`: never rename a kind that may still be queued.
    const KIND: &'static str;
    /// The workers that run it (`REMIT_WORKERS`), so a slow outside system stalls only its class.
    const CLASS: &'static str;
    /// How many due jobs of this kind are worth running together (1: one at a time).
    const BATCH_SIZE: usize = 1;
    /// How long a worker lets more jobs of this kind gather before it runs a batch that is not
    /// full: a little latency for far fewer calls to a system that counts them.
    const LINGER: std::time::Duration = std::time::Duration::ZERO;
    /// What the handler needs (clients, services), shared by every run.
    type Context: Send + Sync + 'static;

    /// Jobs with the same key coalesce while one waits: the job reads current state when it runs.
    fn dedupe_key(&self) -> String;

    async fn run(&self, context: &Self::Context) -> Result<(), JobError>;

    /// Runs due jobs of this kind together; one outcome per job, in order.
    async fn run_batch(jobs: &[Self], context: &Self::Context) -> Vec<Result<(), JobError>> {
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            outcomes.push(job.run(context).await);
        }
        outcomes
    }
}

/// Runs stored payloads of one kind.
#[async_trait::async_trait]
pub(super) trait Runner: Send + Sync {
    fn class(&self) -> &'static str;
    fn batch_size(&self) -> usize;
    fn linger(&self) -> std::time::Duration;
    async fn run(&self, payloads: &[&str]) -> Vec<Result<(), JobError>>;
}

struct Typed<J: Job> {
    context: Arc<J::Context>,
}

#[async_trait::async_trait]
impl<J: Job> Runner for Typed<J> {
    fn class(&self) -> &'static str {
        J::CLASS
    }

    fn batch_size(&self) -> usize {
        J::BATCH_SIZE
    }

    fn linger(&self) -> std::time::Duration {
        J::LINGER
    }

    async fn run(&self, payloads: &[&str]) -> Vec<Result<(), JobError>> {
        // An unreadable payload fails alone, for good; the readable ones run together.
        let mut outcomes: Vec<Option<Result<(), JobError>>> = Vec::with_capacity(payloads.len());
        let mut readable = Vec::with_capacity(payloads.len());
        for payload in payloads {
            match serde_json::from_str::<J>(payload) {
                Ok(job) => {
                    readable.push(job);
                    outcomes.push(None);
                }
                Err(unreadable) => outcomes.push(Some(Err(JobError::permanent(unreadable)))),
            }
        }
        let mut ran = match readable.as_slice() {
            [] => Vec::new(),
            [job] => vec![job.run(&self.context).await],
            jobs => J::run_batch(jobs, &self.context).await,
        }
        .into_iter();
        outcomes
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| {
                    ran.next().unwrap_or_else(|| Err(JobError::permanent("the batch gave no outcome")))
                })
            })
            .collect()
    }
}

/// Every job kind a process runs, by kind name.
#[derive(Default)]
pub struct Registry {
    runners: BTreeMap<&'static str, Arc<dyn Runner>>,
}

impl Registry {
    pub fn register<J: Job>(mut self, context: Arc<J::Context>) -> Self {
        let previous = self.runners.insert(J::KIND, Arc::new(Typed::<J> { context }));
        assert!(previous.is_none(), "job kind {} registered twice", J::KIND);
        self
    }

    /// The kinds the workers of `class` run.
    pub fn kinds_of(&self, class: &str) -> Vec<&'static str> {
        self.runners.iter().filter(|(_, r)| r.class() == class).map(|(kind, _)| *kind).collect()
    }

    /// The largest batch of any kind of `class`, and the longest linger.
    pub(super) fn batching_of(&self, class: &str) -> (usize, std::time::Duration) {
        let runners = self.runners.values().filter(|r| r.class() == class);
        runners.fold((1, std::time::Duration::ZERO), |(size, linger), r| {
            (size.max(r.batch_size()), linger.max(r.linger()))
        })
    }

    pub fn classes(&self) -> std::collections::BTreeSet<&'static str> {
        self.runners.values().map(|r| r.class()).collect()
    }

    pub(super) fn runner(&self, kind: &str) -> Option<&Arc<dyn Runner>> {
        self.runners.get(kind)
    }
}
