//! Misbehaviour beyond failing calls, for fault tests: a slow org, an org that holds calls (a
//! hang, until released), one that carries a call out and then answers too late for the client
//! (commit, then time out), and a login server that answers 503 with an HTML page.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

#[derive(Default)]
struct State {
    latency: Duration,
    /// (calls left, how long each waits after it is carried out)
    commit_then_stall: (u32, Duration),
    html_outages_of_login: u32,
    /// Share of API calls (0 to 1) answered 503 at random.
    failing_share: f64,
    /// What each held call is: `METHOD path body`.
    held: Vec<String>,
}

#[derive(Clone)]
pub struct Disruptions {
    state: Arc<Mutex<State>>,
    holding: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Disruptions {
    fn default() -> Self {
        Self { state: Arc::default(), holding: Arc::new(tokio::sync::watch::channel(false).0) }
    }
}

impl Disruptions {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// While holding, API calls wait unanswered (a hang) until `hold(false)`.
    pub fn hold(&self, holding: bool) {
        self.holding.send_replace(holding);
        if !holding {
            self.lock().held.clear();
        }
    }

    /// The calls waiting while holding, oldest first, as `METHOD path body`.
    pub fn held(&self) -> Vec<String> {
        self.lock().held.clone()
    }

    pub fn commit_then_stall(&self, times: u32, stall: Duration) {
        self.lock().commit_then_stall = (times, stall);
    }

    /// Answers this share of API calls (picked at random) with 503 SERVER_UNAVAILABLE.
    pub fn fail_share(&self, share: f64) {
        self.lock().failing_share = share.clamp(0.0, 1.0);
    }

    pub(super) fn fails_at_random(&self) -> bool {
        let share = self.lock().failing_share;
        share > 0.0 && rand::Rng::random_bool(&mut rand::rng(), share)
    }

    pub fn html_outage_of_login(&self, times: u32) {
        self.lock().html_outages_of_login = times;
    }

    /// Before an API call is carried out: the latency, and the hold.
    pub(super) async fn before_call(&self, call: String) {
        let latency = self.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut holding = self.holding.subscribe();
        if *holding.borrow() {
            self.lock().held.push(call);
            let _ = holding.wait_for(|holding| !holding).await;
        }
    }

    /// After an API call was carried out: how long to stall before answering.
    pub(super) fn stall_after_call(&self) -> Option<Duration> {
        let mut state = self.lock();
        let (left, stall) = &mut state.commit_then_stall;
        (*left > 0).then(|| {
            *left -= 1;
            *stall
        })
    }

    /// Whether this login request meets an HTML outage page.
    pub(super) fn login_outage(&self) -> bool {
        let mut state = self.lock();
        (state.html_outages_of_login > 0).then(|| state.html_outages_of_login -= 1).is_some()
    }
}
