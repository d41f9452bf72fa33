//! Client-side pacing of calls to each integration: a token bucket per integration, shared by
//! every worker of the process, that slows down when the backend says "rate limited".
//!
//! Why: backends (Jira Cloud above all) throttle bursts; sending at a sustainable pace avoids
//! the 429s, and slowing down after one keeps a replica from hammering a throttled backend.
//! Across replicas the persisted not-before gates ([`crate::sync::gate`]) do the holding back;
//! this bucket paces the calls of one process.
//!
//! Invariants:
//! - A bucket grants at most `burst + rate · W` calls in any window of `W` ms, where `rate` is the
//!   configured rate; the effective rate is never above it.
//! - Grants are reservations: [`TokenBucket::reserve`] debits a token at once and says how long
//!   the caller must wait before using it, so concurrent workers queue fairly instead of racing.
//!   For non-decreasing `now`, grant instants never decrease in the order of reservations.
//! - [`TokenBucket::slow_down`] halves the effective rate (down to an eighth of the configured
//!   one), empties the bucket and grants nothing before the instant it is given; each
//!   [`TokenBucket::speed_up`] (a successful call) gives back a tenth of the configured rate.
//! - Time comes from the caller (`now` in ms), so the bucket is deterministic under test.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Pace of one integration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateConfig {
    /// Sustained calls per second (> 0).
    pub per_second: f64,
    /// Calls that may go at once after a quiet period (≥ 1).
    pub burst: u32,
}

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig {
            per_second: 10.0,
            burst: 20,
        }
    }
}

impl RateConfig {
    /// Checks the numbers make a bucket.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return Err(format!(
                "rate must be a positive number of calls per second, got {}",
                self.per_second
            ));
        }
        if self.burst == 0 {
            return Err("burst must be at least 1".to_string());
        }
        Ok(())
    }
}

/// Fraction of the configured rate the bucket may slow down to.
const SLOWEST_FRACTION: f64 = 1.0 / 8.0;
/// Fraction of the configured rate each success gives back.
const RECOVERY_FRACTION: f64 = 1.0 / 10.0;

/// A token bucket over explicit instants, kept as its "theoretical arrival time" (the GCRA form
/// of a token bucket): the bucket is full when `tat <= now`, and each grant pushes `tat` one
/// emission interval further.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    config: RateConfig,
    /// Effective calls per second (≤ configured).
    per_second: f64,
    /// Theoretical arrival time, ms; never moves backwards.
    tat_ms: f64,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(config: RateConfig, now: i64) -> Self {
        TokenBucket {
            config,
            per_second: config.per_second,
            tat_ms: now as f64,
        }
    }

    /// How far ahead of `tat` a grant may go: the burst, always at the configured pace (a slowed
    /// bucket must not earn a larger burst).
    fn tolerance_ms(&self) -> f64 {
        f64::from(self.config.burst.saturating_sub(1)) * 1000.0 / self.config.per_second
    }

    fn interval_ms(&self) -> f64 {
        1000.0 / self.per_second
    }

    /// Takes a token; returns how long to wait before using it (zero when one was available).
    pub fn reserve(&mut self, now: i64) -> Duration {
        match self.reserve_within(now, Duration::MAX) {
            Ok(wait) | Err(wait) => wait,
        }
    }

    /// Takes a token only if it can be used within `max_wait`: `Ok(wait)` with the token taken,
    /// or `Err(wait)` with the bucket untouched (the caller comes back later instead of holding
    /// a slot it will not use).
    pub fn reserve_within(&mut self, now: i64, max_wait: Duration) -> Result<Duration, Duration> {
        let now_ms = now as f64;
        let grant = now_ms.max(self.tat_ms - self.tolerance_ms());
        let wait = Duration::from_millis((grant - now_ms).ceil().max(0.0) as u64);
        if wait > max_wait {
            return Err(wait);
        }
        self.tat_ms = self.tat_ms.max(grant) + self.interval_ms();
        Ok(wait)
    }

    /// The backend limited us: halve the pace, empty the bucket and grant nothing before
    /// `until_ms`.
    pub fn slow_down(&mut self, now: i64, until_ms: i64) {
        self.per_second = (self.per_second / 2.0).max(self.config.per_second * SLOWEST_FRACTION);
        let empty_from = (now.max(until_ms)) as f64 + self.tolerance_ms();
        self.tat_ms = self.tat_ms.max(empty_from);
    }

    /// A call succeeded: recover part of the configured pace.
    pub fn speed_up(&mut self) {
        self.per_second = (self.per_second + self.config.per_second * RECOVERY_FRACTION)
            .min(self.config.per_second);
    }

    /// The effective rate in calls per second.
    pub fn effective_per_second(&self) -> f64 {
        self.per_second
    }
}

/// The buckets of every integration this process calls, created on first use.
#[derive(Debug)]
pub struct RateLimiter {
    default: RateConfig,
    overrides: HashMap<String, RateConfig>,
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

impl RateLimiter {
    pub fn new(default: RateConfig) -> Self {
        RateLimiter {
            default,
            overrides: HashMap::new(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// A different pace for one integration.
    pub fn with_override(mut self, integration_id: impl Into<String>, config: RateConfig) -> Self {
        self.overrides.insert(integration_id.into(), config);
        self
    }

    fn with_bucket<T>(
        &self,
        integration_id: &str,
        now: i64,
        f: impl FnOnce(&mut TokenBucket) -> T,
    ) -> T {
        // A poisoned lock only means another worker panicked mid-update; the buckets are still
        // usable numbers, so keep pacing rather than stop syncing.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let config = self
            .overrides
            .get(integration_id)
            .copied()
            .unwrap_or(self.default);
        let bucket = buckets
            .entry(integration_id.to_string())
            .or_insert_with(|| TokenBucket::new(config, now));
        f(bucket)
    }

    /// Reserves a call to `integration_id`; returns how long to wait first.
    pub fn reserve(&self, integration_id: &str, now: i64) -> Duration {
        self.with_bucket(integration_id, now, |b| b.reserve(now))
    }

    /// See [`TokenBucket::reserve_within`].
    pub fn reserve_within(
        &self,
        integration_id: &str,
        now: i64,
        max_wait: Duration,
    ) -> Result<Duration, Duration> {
        self.with_bucket(integration_id, now, |b| b.reserve_within(now, max_wait))
    }

    /// See [`TokenBucket::slow_down`].
    pub fn slow_down(&self, integration_id: &str, now: i64, until_ms: i64) {
        self.with_bucket(integration_id, now, |b| b.slow_down(now, until_ms));
    }

    /// See [`TokenBucket::speed_up`].
    pub fn speed_up(&self, integration_id: &str, now: i64) {
        self.with_bucket(integration_id, now, TokenBucket::speed_up);
    }

    /// The effective pace of an integration, in calls per second.
    pub fn effective_per_second(&self, integration_id: &str, now: i64) -> f64 {
        self.with_bucket(integration_id, now, |b| b.effective_per_second())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Instants at which the bucket lets calls go, for calls requested at `requests`.
    fn grants(bucket: &mut TokenBucket, requests: &[i64]) -> Vec<i64> {
        requests
            .iter()
            .map(|&at| at + bucket.reserve(at).as_millis() as i64)
            .collect()
    }

    /// Largest number of grants in any window of `window_ms`.
    fn busiest_window(grants: &[i64], window_ms: i64) -> usize {
        let mut sorted = grants.to_vec();
        sorted.sort_unstable();
        let mut best = 0;
        let mut start = 0;
        for end in 0..sorted.len() {
            while sorted[end] - sorted[start] >= window_ms {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }

    fn allowed(config: RateConfig, window_ms: i64) -> usize {
        config.burst as usize + (config.per_second * window_ms as f64 / 1000.0).ceil() as usize
    }

    #[test]
    fn token_bucket_never_exceeds_its_rate_over_any_window() {
        let config = RateConfig {
            per_second: 5.0,
            burst: 3,
        };
        let mut rng = StdRng::seed_from_u64(42);
        let mut bucket = TokenBucket::new(config, 0);
        // 2,000 requests arriving in clumps far faster than the rate allows.
        let mut at = 0i64;
        let requests: Vec<i64> = (0..2000)
            .map(|_| {
                at += rng.gen_range(0..40);
                at
            })
            .collect();
        let granted = grants(&mut bucket, &requests);
        for window in [1i64, 100, 200, 1_000, 10_000, 60_000] {
            let busiest = busiest_window(&granted, window);
            assert!(
                busiest <= allowed(config, window),
                "{busiest} grants in a {window} ms window (allowed {})",
                allowed(config, window)
            );
        }
        // Grants never precede requests, and the pace is actually reached (not just safe).
        assert!(granted.iter().zip(&requests).all(|(g, r)| g >= r));
        let span = granted.last().unwrap() - granted.first().unwrap();
        let achieved = (granted.len() - 1) as f64 / (span as f64 / 1000.0);
        assert!(achieved > 4.9, "achieved {achieved} calls/s of 5");
    }

    #[test]
    fn a_full_bucket_lets_a_burst_through_then_paces() {
        let config = RateConfig {
            per_second: 2.0,
            burst: 3,
        };
        let mut bucket = TokenBucket::new(config, 1_000);
        let waits: Vec<u128> = (0..5).map(|_| bucket.reserve(1_000).as_millis()).collect();
        assert_eq!(waits, vec![0, 0, 0, 500, 1000]);
    }

    #[test]
    fn slowing_down_halves_the_pace_and_holds_until_the_instant() {
        let config = RateConfig {
            per_second: 10.0,
            burst: 5,
        };
        let mut bucket = TokenBucket::new(config, 0);
        bucket.slow_down(0, 30_000);
        assert_eq!(bucket.effective_per_second(), 5.0);
        // Nothing before the Retry-After instant, then one call per 200 ms (no burst).
        assert_eq!(bucket.reserve(100).as_millis(), 29_900);
        assert_eq!(bucket.reserve(100).as_millis(), 29_900 + 200);
        assert_eq!(bucket.reserve(100).as_millis(), 29_900 + 400);
        // Repeated slow-downs bottom out at an eighth of the configured rate.
        for _ in 0..10 {
            bucket.slow_down(0, 0);
        }
        assert_eq!(bucket.effective_per_second(), 1.25);
        // Successes recover toward, never beyond, the configured rate.
        for _ in 0..20 {
            bucket.speed_up();
        }
        assert_eq!(bucket.effective_per_second(), 10.0);
    }

    #[test]
    fn slowed_bucket_still_never_exceeds_the_configured_rate() {
        let config = RateConfig {
            per_second: 20.0,
            burst: 4,
        };
        let mut rng = StdRng::seed_from_u64(9);
        let mut bucket = TokenBucket::new(config, 0);
        let mut granted = Vec::new();
        let mut at = 0i64;
        for i in 0..3000 {
            at += rng.gen_range(0..20);
            if i % 97 == 0 {
                bucket.slow_down(at, at + rng.gen_range(0..2_000));
            } else if i % 3 == 0 {
                bucket.speed_up();
            }
            granted.push(at + bucket.reserve(at).as_millis() as i64);
        }
        for window in [50i64, 500, 1_000, 5_000] {
            assert!(busiest_window(&granted, window) <= allowed(config, window));
        }
    }

    #[test]
    fn a_refused_reservation_leaves_the_bucket_untouched() {
        let config = RateConfig {
            per_second: 1.0,
            burst: 1,
        };
        let mut bucket = TokenBucket::new(config, 0);
        assert_eq!(bucket.reserve_within(0, Duration::ZERO), Ok(Duration::ZERO));
        for _ in 0..10 {
            assert_eq!(
                bucket.reserve_within(0, Duration::from_millis(500)),
                Err(Duration::from_secs(1))
            );
        }
        // The refusals took no slot: the next call goes at 1 s, not 11 s.
        assert_eq!(
            bucket.reserve_within(1_000, Duration::ZERO),
            Ok(Duration::ZERO)
        );
    }

    #[test]
    fn limiter_keeps_one_bucket_per_integration() {
        let limiter = RateLimiter::new(RateConfig {
            per_second: 1.0,
            burst: 1,
        })
        .with_override(
            "fast",
            RateConfig {
                per_second: 1000.0,
                burst: 100,
            },
        );
        assert_eq!(limiter.reserve("jira", 0), Duration::ZERO);
        assert_eq!(limiter.reserve("jira", 0), Duration::from_secs(1));
        // Another integration is not slowed by the first one's queue.
        assert_eq!(limiter.reserve("snow", 0), Duration::ZERO);
        for _ in 0..100 {
            assert_eq!(limiter.reserve("fast", 0), Duration::ZERO);
        }
    }
}
