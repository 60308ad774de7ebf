//! Where the periodic reconciliation with Stripe's event list starts and what it remembers: pure.
//! Stripe lists events newest first; a pass that uses up its call budget goes on after the last
//! event it saw, and a finished pass makes the next one start where it began, less an overlap
//! (events created just before a pass can be listed only after it).

use super::{apply::Fed, store::Reconciliation};

/// Stripe's event list keeps 30 days; Remit looks back at most this far.
pub const MAX_WINDOW_SECS: i64 = 72 * 3600;
/// How far before the last pass's start the next one looks again.
pub const OVERLAP_SECS: i64 = 10 * 60;
/// Pages of 100 events per run at most.
pub const MAX_CALLS: u32 = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub since: i64,
    pub starting_after: Option<String>,
    pub pass_started_at: i64,
}

pub fn plan(state: &Reconciliation, now: i64) -> Plan {
    let oldest = now - MAX_WINDOW_SECS;
    match (&state.resume_after, state.created_gte, state.pass_started_at) {
        (Some(after), Some(since), Some(started)) => {
            Plan { since: since.max(oldest), starting_after: Some(after.clone()), pass_started_at: started }
        }
        (_, created_gte, _) => {
            Plan { since: created_gte.unwrap_or(oldest).max(oldest), starting_after: None, pass_started_at: now }
        }
    }
}

pub fn after(plan: &Plan, fed: &Fed) -> Reconciliation {
    if fed.complete {
        Reconciliation {
            created_gte: Some(plan.pass_started_at - OVERLAP_SECS),
            resume_after: None,
            pass_started_at: None,
        }
    } else {
        Reconciliation {
            created_gte: Some(plan.since),
            resume_after: fed.last.clone(),
            pass_started_at: Some(plan.pass_started_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn fed(complete: bool, last: Option<&str>) -> Fed {
        Fed { calls: 1, recovered: 0, complete, last: last.map(str::to_owned) }
    }

    #[test]
    fn a_first_pass_looks_back_the_whole_window() {
        let fresh = Reconciliation { created_gte: None, resume_after: None, pass_started_at: None };
        assert_eq!(
            plan(&fresh, NOW),
            Plan { since: NOW - MAX_WINDOW_SECS, starting_after: None, pass_started_at: NOW }
        );
    }

    #[test]
    fn a_finished_pass_makes_the_next_start_where_it_began_less_the_overlap() {
        let first = plan(&Reconciliation { created_gte: None, resume_after: None, pass_started_at: None }, NOW);
        let next = after(&first, &fed(true, Some("evt_9")));
        let second = plan(&next, NOW + 900);
        assert_eq!(second.since, NOW - OVERLAP_SECS);
        assert_eq!(second.starting_after, None);
    }

    #[test]
    fn a_pass_cut_short_goes_on_after_the_last_event_it_saw() {
        let first =
            plan(&Reconciliation { created_gte: Some(NOW - 600), resume_after: None, pass_started_at: None }, NOW);
        let next = after(&first, &fed(false, Some("evt_5")));
        let resumed = plan(&next, NOW + 900);
        assert_eq!(resumed, Plan { since: NOW - 600, starting_after: Some("evt_5".into()), pass_started_at: NOW });
        let done = after(&resumed, &fed(true, Some("evt_1")));
        assert_eq!(done.created_gte, Some(NOW - OVERLAP_SECS), "from the cut-short pass's own start");
    }

    #[test]
    fn a_cursor_older_than_the_window_is_brought_into_it() {
        let stale = Reconciliation { created_gte: Some(0), resume_after: None, pass_started_at: None };
        assert_eq!(plan(&stale, NOW).since, NOW - MAX_WINDOW_SECS);
    }
}
