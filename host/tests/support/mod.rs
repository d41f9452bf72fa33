//! Shared helpers of the sync test suites: both engines, a controllable clock, a recording
//! executor whose outcomes a test scripts per ordering key.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use casebridge::store::test_support::TestDb;
use casebridge::sync::clock::ManualClock;
use casebridge::sync::executor::{EffectExecutor, ExecutionContext};
use casebridge::sync::outbox::enqueue_at;
use casebridge::sync::{ClaimedEffect, EffectId, EffectOutcome, NewEffect, Outbox};
use futures::future::BoxFuture;
use serde_json::json;

/// Runs an async test body once on SQLite and once on PostgreSQL, as `<name>::sqlite` and
/// `<name>::postgres`.
#[macro_export]
macro_rules! on_both_engines {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = casebridge::store::test_support::TestDb::sqlite()
                    .await
                    .unwrap();
                super::$body(&db).await;
                db.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = casebridge::store::test_support::TestDb::postgres()
                    .await
                    .unwrap();
                super::$body(&db).await;
                db.cleanup().await;
            }
        }
    };
}

/// An arbitrary fixed starting instant.
pub const T0: i64 = 1_700_000_000_000;

pub fn clock() -> ManualClock {
    ManualClock::new(T0)
}

/// Enqueues one effect in a transaction of its own at `now`.
pub async fn enqueue_one(db: &TestDb, effect: NewEffect, now: i64) -> EffectId {
    let mut tx = db.store.begin().await.unwrap();
    let id = enqueue_at(&mut tx, effect, now).await.unwrap();
    tx.commit().await.unwrap();
    id
}

pub fn effect(integration: &str, key: &str, kind: &str, n: u32) -> NewEffect {
    NewEffect::new(integration, key, kind, json!({"n": n}))
}

pub fn outbox(db: &TestDb) -> Outbox {
    Outbox::new(db.store.clone())
}

/// One call the recording executor saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub effect: EffectId,
    pub integration: String,
    pub key: String,
    pub seq: i64,
    pub attempt: u32,
    pub previous_outcome_unknown: bool,
    pub payload: serde_json::Value,
    /// The clock's instant when the call started.
    pub at_ms: i64,
}

/// Records every call and answers with scripted outcomes (per ordering key, then `Done`).
#[derive(Debug, Default)]
pub struct Recorder {
    calls: Mutex<Vec<Call>>,
    script: Mutex<HashMap<String, VecDeque<EffectOutcome>>>,
    /// Keys with a call running now, to catch two effects of one key in flight at once.
    running: Mutex<HashSet<String>>,
    overlaps: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    /// The next calls for `key` answer these outcomes, in order.
    pub fn script(&self, key: &str, outcomes: impl IntoIterator<Item = EffectOutcome>) {
        self.script
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_default()
            .extend(outcomes);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Keys that had two calls running at the same time.
    pub fn overlaps(&self) -> Vec<String> {
        self.overlaps.lock().unwrap().clone()
    }

    pub fn calls_for(&self, key: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.key == key).collect()
    }
}

impl EffectExecutor for Recorder {
    fn execute<'a>(
        &'a self,
        effect: &'a ClaimedEffect,
        ctx: &'a ExecutionContext,
    ) -> BoxFuture<'a, EffectOutcome> {
        Box::pin(async move {
            if !self
                .running
                .lock()
                .unwrap()
                .insert(effect.ordering_key.clone())
            {
                self.overlaps
                    .lock()
                    .unwrap()
                    .push(effect.ordering_key.clone());
            }
            self.calls.lock().unwrap().push(Call {
                effect: effect.id.clone(),
                integration: effect.integration_id.clone(),
                key: effect.ordering_key.clone(),
                seq: effect.seq,
                attempt: effect.attempt,
                previous_outcome_unknown: effect.previous_outcome_unknown,
                payload: effect.payload.clone(),
                at_ms: ctx.clock.now_ms(),
            });
            // Give other calls a chance to run in between (and to overlap, if they could).
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.running.lock().unwrap().remove(&effect.ordering_key);
            let scripted = self
                .script
                .lock()
                .unwrap()
                .get_mut(&effect.ordering_key)
                .and_then(VecDeque::pop_front);
            scripted.unwrap_or_else(|| EffectOutcome::Done {
                result: json!({"applied": effect.id.as_str()}),
            })
        })
    }
}
