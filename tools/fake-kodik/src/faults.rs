//! Switchable upstream faults and the per-path request counters, shared by the Kodik
//! endpoints (which suffer the faults) and the `/_control` API (which sets them).
//!
//! Faults exist so tests can reproduce how the real upstream misbehaves: a rejected
//! token, a gateway answering HTML, a connection that is accepted and never answered,
//! slowness, and an error body under status 200.

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard, PoisonError},
};

use serde::{Deserialize, Serialize};

/// The fault switches. As a control request body every field is optional and a missing
/// field means "off": the body replaces the whole set, so `{}` clears every fault.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Every request gets the token error (HTTP 500).
    pub reject_token: bool,
    /// Every request gets a 502 with an HTML page.
    pub html_502: bool,
    /// The next K requests get a 502 HTML page, then service resumes.
    pub html_502_next: u32,
    /// Every request is accepted and never answered (held for `--stall-secs`).
    pub stall: bool,
    /// The next K requests stall, then service resumes.
    pub stall_next: u32,
    /// Every answer is delayed by this many milliseconds.
    pub slow_ms: u64,
    /// Every request gets the token error JSON with HTTP 200.
    pub error_200: bool,
}

/// What to do with one request, decided when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Stall,
    Html502,
    RejectToken,
    Error200,
    Serve,
}

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub delay_ms: u64,
    pub action: Action,
}

/// Fault switches plus request counters.
#[derive(Debug, Default)]
pub struct Control {
    faults: Mutex<Faults>,
    counts: Mutex<BTreeMap<String, u64>>,
}

/// A poisoned lock only means another request panicked mid-update of plain data;
/// the data is still usable, so keep serving.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Control {
    pub fn new(faults: Faults) -> Self {
        Self {
            faults: Mutex::new(faults),
            counts: Mutex::default(),
        }
    }

    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    /// Counts the request and decides its fate, consuming one of any "next K" budget.
    pub fn on_request(&self, path: &str) -> Plan {
        *lock(&self.counts).entry(path.to_owned()).or_default() += 1;
        let mut faults = lock(&self.faults);
        let action = if faults.stall {
            Action::Stall
        } else if faults.stall_next > 0 {
            faults.stall_next -= 1;
            Action::Stall
        } else if faults.html_502 {
            Action::Html502
        } else if faults.html_502_next > 0 {
            faults.html_502_next -= 1;
            Action::Html502
        } else if faults.reject_token {
            Action::RejectToken
        } else if faults.error_200 {
            Action::Error200
        } else {
            Action::Serve
        };
        Plan {
            delay_ms: faults.slow_ms,
            action,
        }
    }

    /// Requests seen per path since start or the last reset.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        lock(&self.counts).clone()
    }

    pub fn reset_counts(&self) {
        lock(&self.counts).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_k_budgets_run_out() {
        let control = Control::new(Faults {
            html_502_next: 2,
            ..Faults::default()
        });
        let actions: Vec<Action> = (0..3).map(|_| control.on_request("/list").action).collect();
        assert_eq!(actions, [Action::Html502, Action::Html502, Action::Serve]);
        assert_eq!(control.counts().get("/list"), Some(&3));
        control.reset_counts();
        assert!(control.counts().is_empty());
    }

    #[test]
    fn control_bodies_replace_the_whole_set() {
        let faults: Faults = serde_json::from_str(r#"{"slow_ms": 20}"#).expect("valid body");
        assert_eq!(
            faults,
            Faults {
                slow_ms: 20,
                ..Faults::default()
            }
        );
        assert!(serde_json::from_str::<Faults>(r#"{"nope": true}"#).is_err());
    }
}
