//! How the query language sees a stored finding.
//!
//! Why: `filter[query]` must see the finding as the API shows it, including the
//! `workflow.integrations` casebridge computes from cases and ticket links (so
//! `@workflow.integrations.cases.key:SEC-12` works), without copying the document per row.
//! Invariants: attribute paths read the finding's document, except `workflow.integrations.*`,
//! which reads the computed integrations when there are any; tags are the finding's tags.

use casebridge_query::{visit_path, AttributePath, FindingView};
use serde_json::Value;

use super::Finding;

/// A finding plus its computed `workflow.integrations`, as the evaluator sees it.
#[derive(Debug, Clone, Copy)]
pub struct FindingQueryView<'a> {
    finding: &'a Finding,
    integrations: Option<&'a Value>,
}

impl<'a> FindingQueryView<'a> {
    pub fn new(finding: &'a Finding, integrations: Option<&'a Value>) -> Self {
        FindingQueryView {
            finding,
            integrations,
        }
    }
}

impl FindingView for FindingQueryView<'_> {
    fn any_attribute_value(
        &self,
        path: &AttributePath,
        visit: &mut dyn FnMut(&Value) -> bool,
    ) -> bool {
        let segments = path.segments();
        if let Some(integrations) = self.integrations {
            if let [workflow, integrations_key, rest @ ..] = segments {
                if workflow == "workflow" && integrations_key == "integrations" {
                    return visit_path(integrations, rest, visit);
                }
            }
        }
        let Some((head, tail)) = segments.split_first() else {
            return false;
        };
        self.finding
            .document()
            .get(head.as_str())
            .is_some_and(|value| visit_path(value, tail, visit))
    }

    fn any_tag(&self, visit: &mut dyn FnMut(&str) -> bool) -> bool {
        self.finding.tags().iter().any(|tag| visit(tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casebridge_query::Query;
    use serde_json::json;

    fn finding() -> Finding {
        super::super::validate::finding_from_document(
            "f1",
            json!({"finding_type": "secret", "severity": "high", "status": "open", "title": "Key",
                   "first_seen_at": 1, "last_seen_at": 2, "detection_changed_at": 2,
                   "workflow": {"mute": {"is_muted": false}}}),
            json!(["team:platform"]),
        )
        .unwrap()
    }

    #[test]
    fn queries_see_computed_integrations_and_the_stored_workflow() {
        let f = finding();
        let integrations = json!({"cases": [{"key": "SEC-12"}], "jira": ["APPSEC-1"]});
        let view = FindingQueryView::new(&f, Some(&integrations));
        for text in [
            "@workflow.integrations.cases.key:SEC-12",
            "@workflow.integrations.jira:APPSEC-1",
            "@workflow.mute.is_muted:false team:platform @status:open",
        ] {
            assert!(Query::parse(text).unwrap().matches(&view), "{text}");
        }
        let bare = FindingQueryView::new(&f, None);
        assert!(!Query::parse("@workflow.integrations.cases.key:*")
            .unwrap()
            .matches(&bare));
    }
}
