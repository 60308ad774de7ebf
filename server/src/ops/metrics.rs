//! Prometheus metrics. Counters and histograms are recorded where things happen, with the
//! `metrics` macros (webhooks, HTTP requests, jobs, Stripe, Salesforce, email); gauges of what the
//! database holds (the queue by class and state, dead letters, payments by status) are read at
//! each scrape, so every instance on one database reports the same figures for them.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::OnceLock,
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{
    config::WorkerCounts,
    db::{Db, now_ms},
    jobs,
    outbox::{self, QueueCount},
    payments::Payments,
};

/// Seconds: from a fast page to a slow Salesforce composite call.
const DURATION_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed by the first caller: metrics are process-wide, so several
/// apps in one process (tests) share it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
                .expect("the buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics will show only the gauges");
            }
            handle
        })
        .clone()
}

/// The queue's state as the metrics name it.
pub fn queue_state(count: &QueueCount) -> &'static str {
    match (count.status.as_str(), count.due, count.retried) {
        ("pending", true, _) => "due",
        ("pending", false, true) => "retrying",
        ("pending", false, false) => "scheduled",
        ("running", ..) => "running",
        ("dead", ..) => "dead",
        _ => "other",
    }
}

/// Per class and state: how many jobs, and (for due jobs) how long the oldest has waited in ms.
pub fn queue_figures(counts: &[QueueCount], now: i64) -> BTreeMap<(&'static str, &'static str), (i64, i64)> {
    let mut figures = BTreeMap::new();
    for count in counts {
        let class = jobs::class_of(&count.kind).unwrap_or("unknown");
        let state = queue_state(count);
        let entry = figures.entry((class, state)).or_insert((0, 0));
        entry.0 += count.jobs;
        if state == "due" {
            entry.1 = entry.1.max(now - count.oldest_run_at);
        }
    }
    figures
}

/// Every state a scrape reports for each class.
const QUEUE_STATES: &[&str] = &["due", "retrying", "scheduled", "running", "dead"];

/// Reads the gauges from the database, then renders every metric in Prometheus's text format.
/// `classes` are reported even when empty, so a queue that drains reads 0 rather than vanishing.
pub async fn render(
    handle: &PrometheusHandle,
    db: &Db,
    payments: &Payments,
    classes: &WorkerCounts,
) -> Result<String, sqlx::Error> {
    let figures = queue_figures(&outbox::census(db).await?, now_ms());
    let mut reported: BTreeSet<&str> = classes.0.keys().map(String::as_str).collect();
    reported.extend(figures.keys().map(|(class, _)| *class));
    for class in reported {
        for state in QUEUE_STATES {
            let (jobs, _) = figures.get(&(class, *state)).copied().unwrap_or_default();
            metrics::gauge!("remit_outbox_jobs", "class" => class.to_owned(), "state" => *state).set(jobs as f64);
        }
        let (_, oldest_ms) = figures.get(&(class, "due")).copied().unwrap_or_default();
        metrics::gauge!("remit_outbox_oldest_due_seconds", "class" => class.to_owned()).set(oldest_ms as f64 / 1000.0);
    }
    let dead: i64 = figures.iter().filter(|((_, state), _)| *state == "dead").map(|(_, (jobs, _))| jobs).sum();
    metrics::gauge!("remit_dead_letters").set(dead as f64);
    for (status, count) in payments.count_by_status().await? {
        metrics::gauge!("remit_payments", "status" => status).set(count as f64);
    }
    Ok(handle.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(kind: &str, status: &str, retried: bool, due: bool, jobs: i64, oldest: i64) -> QueueCount {
        QueueCount { kind: kind.into(), status: status.into(), retried, due, jobs, oldest_run_at: oldest }
    }

    #[test]
    fn jobs_are_counted_by_class_and_state_with_the_oldest_due_wait() {
        let figures = queue_figures(
            &[
                count("sync_payment", "pending", false, true, 3, 9_000),
                count("sync_payment", "pending", true, true, 1, 4_000),
                count("sync_payment", "pending", true, false, 2, 20_000),
                count("email_receipt", "running", false, true, 1, 1_000),
                count("email_credit_note", "dead", true, true, 4, 1_000),
                count("retired_kind", "pending", false, true, 1, 9_500),
            ],
            10_000,
        );
        assert_eq!(figures[&("sync", "due")], (4, 6_000), "both due groups, the older wait");
        assert_eq!(figures[&("sync", "retrying")], (2, 0));
        assert_eq!(figures[&("receipts", "running")].0, 1);
        assert_eq!(figures[&("receipts", "dead")].0, 4);
        assert_eq!(figures[&("unknown", "due")], (1, 500));
    }
}
