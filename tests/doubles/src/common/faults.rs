//! Fault injection: which requests fail, how, and the per-second rate limit.
//!
//! A [`FaultSpec`] selects requests (method and/or path prefix) and fires either for the next N
//! matches or with a probability drawn from a seeded RNG, so a run with the same seed and the same
//! request order fails the same requests. Invariants: a count-based fault is removed once spent;
//! rules are consulted in the order they were added and the first that fires wins; the RNG is
//! only advanced by probability rules that match the request.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// What an injected fault does to the response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 with `Retry-After`. For Jira, `reason` becomes `RateLimit-Reason`
    /// (`jira-burst-based` by default, or `jira-per-issue-on-write`).
    RateLimited {
        retry_after_secs: u64,
        #[serde(default)]
        reason: Option<String>,
    },
    /// 503, with `Retry-After` when given.
    Unavailable {
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// 500 with the product's error body.
    ServerError,
    /// The request is served normally after `delay_ms`.
    Slow { delay_ms: u64 },
    /// The connection is cut before the request is processed: the client never receives a
    /// complete response and nothing changed on the server.
    DropConnection,
    /// The request is processed (state changes, webhooks fire) but the connection is cut
    /// before the response arrives: the client cannot tell whether its write happened.
    DropAfterProcessing,
}

impl FaultKind {
    /// Short name used in the request log.
    pub fn label(&self) -> &'static str {
        match self {
            FaultKind::RateLimited { .. } => "rate_limited",
            FaultKind::Unavailable { .. } => "unavailable",
            FaultKind::ServerError => "server_error",
            FaultKind::Slow { .. } => "slow",
            FaultKind::DropConnection => "drop_connection",
            FaultKind::DropAfterProcessing => "drop_after_processing",
        }
    }
}

/// A fault rule as configured through the Rust API or `POST /_double/faults`.
///
/// JSON form: `{"kind":"rate_limited","retry_after_secs":2,"times":1,"method":"POST",
/// "path_prefix":"/rest/api/3/issue"}`; use `"probability":0.3` instead of `"times"` for random
/// faults. With neither, the fault fires once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
}

impl FaultSpec {
    /// A fault that fires for the next `times` requests of any method and path.
    pub fn next(times: u32, kind: FaultKind) -> Self {
        FaultSpec {
            kind,
            times: Some(times),
            probability: None,
            method: None,
            path_prefix: None,
        }
    }

    /// A fault that fires with probability `p` for every matching request.
    pub fn with_probability(p: f64, kind: FaultKind) -> Self {
        FaultSpec {
            kind,
            times: None,
            probability: Some(p),
            method: None,
            path_prefix: None,
        }
    }

    /// Restricts the fault to one HTTP method.
    pub fn on_method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Restricts the fault to paths starting with `prefix`.
    pub fn on_path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_string());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        let path_ok = self
            .path_prefix
            .as_deref()
            .is_none_or(|p| path.starts_with(p));
        method_ok && path_ok
    }
}

/// Why a fault spec was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultSpecError {
    #[error("give either `times` or `probability`, not both")]
    BothTriggers,
    #[error("`probability` must be between 0 and 1, got {0}")]
    BadProbability(f64),
    #[error("`times` must be at least 1")]
    ZeroTimes,
}

/// A configured fault with its remaining budget.
#[derive(Clone, Debug, Serialize)]
pub struct ActiveFault {
    pub id: u64,
    pub spec: FaultSpec,
    /// Remaining firings for count-based faults; `None` for probability faults.
    pub remaining: Option<u32>,
    pub fired: u64,
}

/// Ordered fault rules plus the seeded RNG for probability rules.
#[derive(Debug)]
pub struct FaultEngine {
    rules: Vec<ActiveFault>,
    rng: StdRng,
    next_id: u64,
}

impl FaultEngine {
    pub fn new(seed: u64) -> Self {
        FaultEngine {
            rules: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
            next_id: 1,
        }
    }

    /// Restarts the RNG from `seed` (keeps the rules).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = StdRng::seed_from_u64(seed);
    }

    /// Adds a rule and returns its id.
    pub fn add(&mut self, spec: FaultSpec) -> Result<u64, FaultSpecError> {
        let remaining = match (spec.times, spec.probability) {
            (Some(_), Some(_)) => return Err(FaultSpecError::BothTriggers),
            (Some(0), None) => return Err(FaultSpecError::ZeroTimes),
            (Some(n), None) => Some(n),
            (None, Some(p)) if !(0.0..=1.0).contains(&p) || p.is_nan() => {
                return Err(FaultSpecError::BadProbability(p))
            }
            (None, Some(_)) => None,
            (None, None) => Some(1),
        };
        let id = self.next_id;
        self.next_id += 1;
        self.rules.push(ActiveFault {
            id,
            spec,
            remaining,
            fired: 0,
        });
        Ok(id)
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        before != self.rules.len()
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn list(&self) -> Vec<ActiveFault> {
        self.rules.clone()
    }

    /// Decides whether a request gets a fault, consuming budget / randomness as it goes.
    pub fn pick(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        let mut chosen: Option<(usize, FaultKind)> = None;
        for (index, rule) in self.rules.iter_mut().enumerate() {
            if !rule.spec.matches(method, path) {
                continue;
            }
            let fires = match (rule.remaining.as_mut(), rule.spec.probability) {
                (Some(left), _) => {
                    *left = left.saturating_sub(1);
                    true
                }
                (None, Some(p)) => self.rng.gen::<f64>() < p,
                (None, None) => false,
            };
            if fires {
                rule.fired += 1;
                chosen = Some((index, rule.spec.kind.clone()));
                break;
            }
        }
        let (index, kind) = chosen?;
        if self.rules[index].remaining == Some(0) {
            self.rules.remove(index);
        }
        Some(kind)
    }
}

/// Per-second request budget (token bucket): `per_second` tokens refill continuously, up to
/// `burst` (defaults to `per_second`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    pub per_second: f64,
    #[serde(default)]
    pub burst: Option<f64>,
}

/// Live token-bucket state for a [`RateLimit`].
#[derive(Debug)]
pub struct TokenBucket {
    pub limit: RateLimit,
    tokens: f64,
    last_ms: i64,
}

/// A request the bucket refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttled {
    /// Whole seconds until a token is available (at least 1), for `Retry-After`.
    pub retry_after_secs: u64,
    /// Configured capacity, for `X-RateLimit-Limit`.
    pub capacity: u64,
    /// Tokens added per second, for `X-RateLimit-FillRate`.
    pub fill_rate: f64,
}

impl TokenBucket {
    pub fn new(limit: RateLimit, now_ms: i64) -> Self {
        let capacity = limit.burst.unwrap_or(limit.per_second).max(1.0);
        TokenBucket {
            limit,
            tokens: capacity,
            last_ms: now_ms,
        }
    }

    fn capacity(&self) -> f64 {
        self.limit.burst.unwrap_or(self.limit.per_second).max(1.0)
    }

    /// Takes one token, or reports how long to wait.
    pub fn try_take(&mut self, now_ms: i64) -> Result<u64, Throttled> {
        let elapsed = (now_ms - self.last_ms).max(0) as f64 / 1000.0;
        self.last_ms = now_ms.max(self.last_ms);
        self.tokens = (self.tokens + elapsed * self.limit.per_second).min(self.capacity());
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(self.tokens.floor() as u64)
        } else {
            let missing = 1.0 - self.tokens;
            let wait = if self.limit.per_second > 0.0 {
                (missing / self.limit.per_second).ceil().max(1.0)
            } else {
                60.0
            };
            Err(Throttled {
                retry_after_secs: wait as u64,
                capacity: self.capacity() as u64,
                fill_rate: self.limit.per_second,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_fault_fires_exactly_n_times_then_disappears() {
        let mut engine = FaultEngine::new(7);
        engine
            .add(FaultSpec::next(2, FaultKind::ServerError).on_method("post"))
            .unwrap();
        assert_eq!(engine.pick("GET", "/x"), None);
        assert_eq!(engine.pick("POST", "/x"), Some(FaultKind::ServerError));
        assert_eq!(engine.pick("POST", "/x"), Some(FaultKind::ServerError));
        assert_eq!(engine.pick("POST", "/x"), None);
        assert!(engine.list().is_empty());
    }

    #[test]
    fn probability_faults_repeat_for_the_same_seed() {
        let run = |seed| {
            let mut engine = FaultEngine::new(seed);
            engine
                .add(FaultSpec::with_probability(0.5, FaultKind::ServerError))
                .unwrap();
            (0..64)
                .map(|_| engine.pick("GET", "/a").is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
        let fired = run(42).iter().filter(|f| **f).count();
        assert!((16..=48).contains(&fired), "fired {fired} of 64");
    }

    #[test]
    fn refuses_both_triggers_and_bad_probability() {
        let mut engine = FaultEngine::new(0);
        let mut spec = FaultSpec::next(1, FaultKind::ServerError);
        spec.probability = Some(0.1);
        assert_eq!(engine.add(spec), Err(FaultSpecError::BothTriggers));
        assert_eq!(
            engine.add(FaultSpec::with_probability(1.5, FaultKind::ServerError)),
            Err(FaultSpecError::BadProbability(1.5))
        );
    }

    #[test]
    fn token_bucket_refuses_excess_and_refills() {
        let mut bucket = TokenBucket::new(
            RateLimit {
                per_second: 2.0,
                burst: None,
            },
            0,
        );
        assert!(bucket.try_take(0).is_ok());
        assert!(bucket.try_take(0).is_ok());
        let refused = bucket.try_take(0).unwrap_err();
        assert_eq!(refused.retry_after_secs, 1);
        assert!(bucket.try_take(500).is_ok());
        assert!(bucket.try_take(500).is_err());
    }
}
