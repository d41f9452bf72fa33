//! What an ingest did, item by item.
//!
//! Why: the HTTP ingest and `casebridge findings import` both store the valid items of a batch
//! and report the refused ones; they share this code so they cannot report differently.
//! Invariants: every input item appears exactly once, as accepted (with its upsert result) or
//! refused (with every problem found); indexes are positions in the caller's list.

use crate::domain::finding::wire::RejectedItem;
use crate::domain::finding::{FieldError, Finding, UpsertResult};
use crate::store::{Store, StoreError};

/// One accepted item of an ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedItem {
    /// Position in the caller's list.
    pub index: usize,
    pub id: String,
    pub result: UpsertResult,
}

/// One refused item of an ingest (error paths are relative to the item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedItem {
    pub index: usize,
    pub id: Option<String>,
    pub errors: Vec<FieldError>,
}

/// What an ingest did, item by item: valid items are stored even when others are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub accepted: Vec<AcceptedItem>,
    pub refused: Vec<RefusedItem>,
}

impl IngestReport {
    pub fn count(&self, result: UpsertResult) -> usize {
        self.accepted.iter().filter(|a| a.result == result).count()
    }

    /// Appends another report (e.g. the next chunk of an import).
    pub fn extend(&mut self, other: IngestReport) {
        self.accepted.extend(other.accepted);
        self.refused.extend(other.refused);
    }
}

impl Store {
    /// Ingests read items (see [`crate::domain::finding::wire`]): the valid ones are upserted
    /// together, the refused ones reported. `first_index` is the position of `items[0]` in the
    /// caller's list. The HTTP ingest and `casebridge findings import` both come through here.
    pub async fn ingest_findings(
        &self,
        items: Vec<Result<Finding, RejectedItem>>,
        first_index: usize,
        now: i64,
    ) -> Result<IngestReport, StoreError> {
        let mut report = IngestReport::default();
        let mut valid = Vec::with_capacity(items.len());
        let mut positions = Vec::with_capacity(items.len());
        for (offset, item) in items.into_iter().enumerate() {
            match item {
                Ok(finding) => {
                    positions.push(first_index + offset);
                    valid.push(finding);
                }
                Err(rejected) => report.refused.push(RefusedItem {
                    index: first_index + offset,
                    id: rejected.id,
                    errors: rejected.errors,
                }),
            }
        }
        let ids: Vec<String> = valid.iter().map(|f| f.id().to_string()).collect();
        let results = self.upsert_findings(valid, now).await?;
        report.accepted = positions
            .into_iter()
            .zip(ids)
            .zip(results)
            .map(|((index, id), result)| AcceptedItem { index, id, result })
            .collect();
        Ok(report)
    }
}
