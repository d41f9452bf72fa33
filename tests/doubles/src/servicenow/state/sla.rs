//! Task SLAs: one `task_sla` per incident / security incident, started at insert, paused while
//! on hold, completed on resolve/close, cancelled on cancel or re-prioritisation, and breached
//! by the double's clock.
//!
//! Invariant: elapsed time excludes paused time; `refresh_slas` is the only place percentages
//! and breach flags are computed, and it runs before every read.

use super::ServiceNowState;
use crate::common::time_format::servicenow_timestamp;
use crate::servicenow::tables::{new_sys_id, Record};

/// Timing of one task SLA (kept beside the record, which only holds strings).
#[derive(Debug, Clone)]
pub(super) struct SlaClock {
    duration_ms: i64,
    start_ms: i64,
    paused_total_ms: i64,
    paused_since: Option<i64>,
    end_ms: Option<i64>,
}

/// SLA length by priority (1..5).
fn sla_hours(priority: &str) -> i64 {
    match priority {
        "1" => 4,
        "2" => 8,
        "3" => 24,
        "4" => 72,
        _ => 120,
    }
}

impl ServiceNowState {
    pub(super) fn start_sla(&mut self, task_sys_id: &str, priority: &str, actor: &str, now: i64) {
        let hours = sla_hours(priority);
        let sla_id = new_sys_id();
        let clock = SlaClock {
            duration_ms: hours * 3_600_000,
            start_ms: now,
            paused_total_ms: 0,
            paused_since: None,
            end_ms: None,
        };
        let mut row: Record = [
            ("task", task_sys_id.to_string()),
            (
                "sla",
                format!("Priority {priority} resolution ({hours} hour)"),
            ),
            ("stage", "in_progress".to_string()),
            ("has_breached", "false".to_string()),
            ("active", "true".to_string()),
            ("start_time", servicenow_timestamp(now)),
            ("end_time", String::new()),
            (
                "planned_end_time",
                servicenow_timestamp(now + clock.duration_ms),
            ),
            ("pause_duration", "0".to_string()),
            ("pause_time", String::new()),
            ("percentage", "0.00".to_string()),
            ("business_percentage", "0.00".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        self.stamp_new(&mut row, "task_sla", &sla_id, actor, now);
        self.store("task_sla", row);
        self.sla_clocks.insert(sla_id, clock);
    }

    pub(super) fn active_slas(&self, task_sys_id: &str) -> Vec<String> {
        self.records
            .get("task_sla")
            .map(|rows| {
                rows.values()
                    .filter(|s| {
                        s.values.get("task").map(String::as_str) == Some(task_sys_id)
                            && s.values.get("active").map(String::as_str) == Some("true")
                    })
                    .filter_map(|s| s.values.get("sys_id").cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn set_sla_stage(&mut self, sla_id: &str, stage: &str, now: i64) {
        let Some(clock) = self.sla_clocks.get_mut(sla_id) else {
            return;
        };
        match stage {
            "paused" => {
                if clock.paused_since.is_none() {
                    clock.paused_since = Some(now);
                }
            }
            "in_progress" => {
                if let Some(since) = clock.paused_since.take() {
                    clock.paused_total_ms += now - since;
                }
            }
            _ => {
                if let Some(since) = clock.paused_since.take() {
                    clock.paused_total_ms += now - since;
                }
                clock.end_ms = Some(now);
            }
        }
        let finished = matches!(stage, "completed" | "cancelled");
        let pause_time = clock
            .paused_since
            .map(servicenow_timestamp)
            .unwrap_or_default();
        let end = clock.end_ms.map(servicenow_timestamp).unwrap_or_default();
        if let Some(row) = self
            .records
            .get_mut("task_sla")
            .and_then(|r| r.get_mut(sla_id))
        {
            let v = &mut row.values;
            if v.get("stage").map(String::as_str) != Some(stage) {
                v.insert("stage".into(), stage.to_string());
                v.insert("pause_time".into(), pause_time);
                v.insert("end_time".into(), end);
                if finished {
                    v.insert("active".into(), "false".into());
                }
                let count = v
                    .get("sys_mod_count")
                    .and_then(|c| c.parse::<u64>().ok())
                    .unwrap_or(0)
                    + 1;
                v.insert("sys_mod_count".into(), count.to_string());
                v.insert("sys_updated_on".into(), servicenow_timestamp(now));
            }
        }
    }

    pub(super) fn cancel_slas(&mut self, task_sys_id: &str, now: i64) {
        for id in self.active_slas(task_sys_id) {
            self.set_sla_stage(&id, "cancelled", now);
        }
    }

    pub(super) fn sync_sla_stage(&mut self, task_sys_id: &str, state: &str, table: &str, now: i64) {
        let stage = match (table, state) {
            ("incident", "3") => "paused",
            ("incident", "6") | ("incident", "7") => "completed",
            ("incident", "8") => "cancelled",
            ("sn_si_incident", "3") => "completed",
            ("sn_si_incident", "7") => "cancelled",
            _ => "in_progress",
        };
        for id in self.active_slas(task_sys_id) {
            self.set_sla_stage(&id, stage, now);
        }
    }

    /// Recomputes elapsed percentages and breach flags from the clock (before any SLA read).
    pub fn refresh_slas(&mut self, now: i64) {
        let ids: Vec<String> = self.sla_clocks.keys().cloned().collect();
        for id in ids {
            let Some(clock) = self.sla_clocks.get(&id).cloned() else {
                continue;
            };
            let until = clock.end_ms.or(clock.paused_since).unwrap_or(now);
            let elapsed = (until - clock.start_ms - clock.paused_total_ms).max(0);
            let percentage = if clock.duration_ms > 0 {
                elapsed as f64 * 100.0 / clock.duration_ms as f64
            } else {
                0.0
            };
            let planned = clock.start_ms + clock.duration_ms + clock.paused_total_ms;
            if let Some(row) = self
                .records
                .get_mut("task_sla")
                .and_then(|r| r.get_mut(&id))
            {
                let v = &mut row.values;
                v.insert("percentage".into(), format!("{percentage:.2}"));
                v.insert("business_percentage".into(), format!("{percentage:.2}"));
                v.insert(
                    "pause_duration".into(),
                    (clock.paused_total_ms / 1000).to_string(),
                );
                v.insert("planned_end_time".into(), servicenow_timestamp(planned));
                v.insert(
                    "has_breached".into(),
                    (elapsed > clock.duration_ms).to_string(),
                );
            }
        }
    }
}
