//! Restart policies as dockerd applies them: `no`, `on-failure[:N]`, `always` and
//! `unless-stopped`, with docker's back-off (100 ms doubling up to a minute, back to 100 ms once
//! a run lasted 10 s), and the restarts at daemon start.
//!
//! The policy is read from the container's record at each exit, so `POST /update` takes effect.

use crate::daemon::{Daemon, Entry};
use crate::error::{ApiError, ApiResult};
use crate::record::{HostConfig, Record, ZERO_TIME};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The first back-off.
const FIRST: Duration = Duration::from_millis(100);
/// The longest back-off.
const MAX: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
const STABLE: Duration = Duration::from_secs(10);

/// `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// `""`/`no`, `on-failure`, `always` or `unless-stopped`.
    pub name: String,
    /// The most restarts for `on-failure` (0: no limit).
    pub maximum_retry_count: i64,
}

impl RestartPolicy {
    /// Whether the policy never restarts.
    pub fn is_none(&self) -> bool {
        matches!(self.name.as_str(), "" | "no")
    }

    /// Docker's checks of the policy.
    pub fn validate(&self) -> ApiResult<()> {
        match self.name.as_str() {
            "" | "no" | "always" | "unless-stopped" if self.maximum_retry_count != 0 => {
                Err(ApiError::bad(format!(
                    "maximum retry count cannot be used with restart policy '{}'",
                    self.name
                )))
            }
            "" | "no" | "always" | "unless-stopped" => Ok(()),
            "on-failure" if self.maximum_retry_count < 0 => {
                Err(ApiError::bad("maximum retry count cannot be negative"))
            }
            "on-failure" => Ok(()),
            other => Err(ApiError::bad(format!("invalid restart policy '{other}'"))),
        }
    }

    /// Whether a container that exited with `code` restarts, given whether a user stopped it
    /// and how often the policy restarted it already.
    pub fn should_restart(&self, code: i32, manually_stopped: bool, restarts: u64) -> bool {
        match self.name.as_str() {
            "always" => true,
            "unless-stopped" => !manually_stopped,
            "on-failure" => {
                let max = self.maximum_retry_count;
                code != 0 && (max == 0 || restarts < max as u64)
            }
            _ => false,
        }
    }
}

/// The create-time checks of a HostConfig's policy (and its clash with AutoRemove).
pub fn check_create(host: &HostConfig) -> ApiResult<()> {
    let Some(p) = &host.restart_policy else {
        return Ok(());
    };
    p.validate()?;
    if host.auto_remove && !p.is_none() {
        return Err(ApiError::bad(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    Ok(())
}

/// A container's restart bookkeeping that lives in memory only.
#[derive(Debug, Default)]
pub struct Life {
    /// The back-off before the next restart (zero: none yet).
    pub backoff: Duration,
    /// A user stopped or killed this run: its exit never restarts it.
    pub exit_on_next: bool,
    /// Bumped to cancel a pending restart.
    pub generation: u64,
    /// Held across a start and across a stop, so a user's stop waits for a policy restart in
    /// flight (then stops the new run) instead of missing it, as dockerd's container lock does.
    pub ops: Arc<tokio::sync::Mutex<()>>,
}

/// The back-off after a run of `ran`, following `prev`.
fn next_backoff(prev: Duration, ran: Duration) -> Duration {
    let prev = if ran >= STABLE { Duration::ZERO } else { prev };
    if prev.is_zero() {
        FIRST
    } else {
        (prev * 2).min(MAX)
    }
}

/// How long ago an RFC 3339 time was (zero when unreadable or in the future).
fn since(rfc3339: &str) -> Duration {
    humantime::parse_rfc3339_weak(rfc3339.trim_end_matches('Z'))
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// Decides at an exit (the entry locked, its state already the exit's): with a restart due,
/// marks the container restarting and returns the delay and the generation to restart.
pub fn plan(en: &mut Entry, code: i32) -> Option<(Duration, u64)> {
    let policy = en
        .rec
        .host_config
        .restart_policy
        .clone()
        .unwrap_or_default();
    if policy.is_none() {
        return None;
    }
    en.life.backoff = next_backoff(en.life.backoff, since(&en.rec.state.started_at));
    if en.life.exit_on_next
        || !policy.should_restart(code, en.rec.manually_stopped, en.rec.restart_count)
    {
        return None;
    }
    en.rec.restart_count += 1;
    let st = &mut en.rec.state;
    st.status = "restarting".into();
    st.running = true;
    st.restarting = true;
    en.life.generation += 1;
    Some((en.life.backoff, en.life.generation))
}

/// Whether a container the daemon found stopped at its start restarts (docker's rule: started
/// before, and the policy says so for its last exit).
fn due_at_boot(rec: &Record) -> bool {
    let policy = rec.host_config.restart_policy.clone().unwrap_or_default();
    !rec.state.running
        && rec.state.started_at != ZERO_TIME
        && policy.should_restart(rec.state.exit_code, rec.manually_stopped, rec.restart_count)
}

impl Daemon {
    /// Starts `id` again after `delay` unless the restart was cancelled meanwhile.
    pub fn schedule_restart(self: &Arc<Self>, id: &str, delay: Duration, generation: u64) {
        let (d, id) = (self.clone(), id.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(ops) = d.ops(&id) else { return };
            let _op = ops.lock().await;
            {
                let mut ctrs = d.ctrs();
                let Some(en) = ctrs.get_mut(&id) else { return };
                if !en.rec.state.restarting || en.life.generation != generation {
                    return;
                }
                en.rec.state.restarting = false;
                en.rec.state.running = false;
                en.rec.state.status = "exited".into();
            }
            if let Err(e) = d.start_locked(&id, false).await {
                eprintln!("dockermindd: restart container {id}: {}", e.message);
            }
        });
    }

    /// A user stops or kills `id` with `signal`: marks it manually stopped and, as dockerd
    /// does for SIGKILL, its stop signal (or any signal when it has none), cancels restarts.
    /// True when it was only waiting to restart: then it is stopped now.
    pub fn user_stop(&self, id: &str, signal: u32) -> bool {
        let mut ctrs = self.ctrs();
        let Some(en) = ctrs.get_mut(id).filter(|en| en.rec.state.running) else {
            return false;
        };
        let stop_sig = en
            .rec
            .config
            .stop_signal
            .as_deref()
            .and_then(|s| crate::lifecycle::parse_signal(s).ok());
        let ends_run = signal == libc::SIGKILL as u32 || stop_sig.is_none_or(|s| s == signal);
        en.rec.manually_stopped = true;
        if ends_run {
            en.life.exit_on_next = true;
        }
        let waiting = en.rec.state.restarting;
        if waiting && ends_run {
            en.life.generation += 1;
            let st = &mut en.rec.state;
            st.restarting = false;
            st.running = false;
            st.status = "exited".into();
            // Waiters (stop, wait) see the run end now.
            en.phase.send_modify(|p| {
                p.exits += 1;
                p.code = en.rec.state.exit_code;
            });
        }
        self.save(&en.rec);
        waiting && ends_run
    }

    /// The lock that orders starts and stops of `id` (see [`Life::ops`]).
    pub fn ops(&self, id: &str) -> Option<Arc<tokio::sync::Mutex<()>>> {
        self.ctrs().get(id).map(|e| e.life.ops.clone())
    }

    /// A user stops `id` while its run is ending (not running, exit not yet handled): its exit
    /// must not restart it. Returns the exit count to wait past, None when it is not ending.
    pub fn stop_while_exiting(&self, id: &str) -> Option<u64> {
        let mut ctrs = self.ctrs();
        let en = ctrs.get_mut(id)?;
        if en.rec.state.running || en.rec.state.status != "exiting" {
            return None;
        }
        en.rec.manually_stopped = true;
        en.life.exit_on_next = true;
        self.save(&en.rec);
        let seen = en.phase.borrow().exits;
        Some(seen)
    }

    /// After recovery: starts the stopped containers whose policy says so (`always` even when a
    /// user stopped them, `unless-stopped` only when not), as dockerd does at its start.
    pub async fn restart_on_boot(self: &Arc<Self>) {
        let due: Vec<String> = self
            .ctrs()
            .values()
            .filter(|e| due_at_boot(&e.rec))
            .map(|e| e.rec.id.clone())
            .collect();
        for id in due {
            if let Err(e) = self.start(&id).await {
                eprintln!(
                    "dockermindd: start container {id} by its restart policy: {}",
                    e.message
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, max: i64) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        }
    }

    #[test]
    fn policies_decide_like_dockerd() {
        assert!(!p("no", 0).should_restart(1, false, 0));
        assert!(p("always", 0).should_restart(0, true, 9));
        assert!(p("unless-stopped", 0).should_restart(0, false, 9));
        assert!(!p("unless-stopped", 0).should_restart(0, true, 0));
        assert!(!p("on-failure", 0).should_restart(0, false, 0));
        assert!(p("on-failure", 0).should_restart(2, false, 100));
        assert!(p("on-failure", 2).should_restart(2, false, 1));
        assert!(!p("on-failure", 2).should_restart(2, false, 2));
    }

    #[test]
    fn bad_policies_get_dockers_messages() {
        let msg = |x: RestartPolicy| x.validate().unwrap_err().message;
        assert_eq!(msg(p("sometimes", 0)), "invalid restart policy 'sometimes'");
        assert_eq!(
            msg(p("always", 3)),
            "maximum retry count cannot be used with restart policy 'always'"
        );
        assert_eq!(
            msg(p("on-failure", -1)),
            "maximum retry count cannot be negative"
        );
        let host = HostConfig {
            auto_remove: true,
            restart_policy: Some(p("always", 0)),
            ..Default::default()
        };
        assert!(check_create(&host)
            .unwrap_err()
            .message
            .contains("'AutoRemove' container with restart policy"));
    }

    #[test]
    fn back_off_doubles_to_a_minute_and_resets_after_ten_seconds() {
        let short = Duration::from_secs(1);
        let mut b = Duration::ZERO;
        let mut seen = vec![];
        for _ in 0..12 {
            b = next_backoff(b, short);
            seen.push(b.as_millis());
        }
        assert_eq!(&seen[..4], &[100, 200, 400, 800]);
        assert_eq!(*seen.last().unwrap(), 60_000);
        assert_eq!(next_backoff(b, Duration::from_secs(10)), FIRST);
    }
}
