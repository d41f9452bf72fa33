//! Attribute paths (for rule validation) and equality constraints (for SQL pre-filters).

use casebridge_query::{Field, Query};

fn paths(text: &str) -> Vec<String> {
    Query::parse(text)
        .unwrap()
        .attribute_paths()
        .iter()
        .map(|p| p.to_string())
        .collect()
}

fn constraints(text: &str) -> Vec<(String, Vec<String>)> {
    let query = Query::parse(text).unwrap();
    query
        .equality_constraints()
        .iter()
        .map(|c| {
            let field = match c.field {
                Field::Attribute(path) => format!("@{path}"),
                Field::Tag(key) => key.clone(),
            };
            (field, c.values.iter().map(|v| v.to_string()).collect())
        })
        .collect()
}

fn c(field: &str, values: &[&str]) -> (String, Vec<String>) {
    (
        field.to_owned(),
        values.iter().map(|v| v.to_string()).collect(),
    )
}

#[test]
fn attribute_paths_lists_every_attribute_once_in_order() {
    assert_eq!(
        paths("@severity:(critical OR high) -@workflow.mute.is_muted:true team:x @severity:low"),
        vec!["severity", "workflow.mute.is_muted"]
    );
    assert!(paths("team:platform weak").is_empty());
}

#[test]
fn attribute_paths_see_through_negations_and_groups() {
    assert_eq!(
        paths("-(@status:open OR NOT @workflow.triage.assignee.name:*)"),
        vec!["status", "workflow.triage.assignee.name"]
    );
}

#[test]
fn rule_validation_can_find_workflow_and_status_references() {
    let forbidden = |text: &str| {
        Query::parse(text)
            .unwrap()
            .attribute_paths()
            .into_iter()
            .any(|p| p.is_within(&["workflow"]) || p.is_within(&["status"]))
    };
    assert!(forbidden("env:prod -@workflow.mute.is_muted:true"));
    assert!(forbidden("@status:open"));
    assert!(!forbidden("env:prod @severity:critical"));
    assert!(!forbidden("@status_detail:x"));
}

#[test]
fn tag_keys_lists_tags_only() {
    let q = Query::parse("env:(prod OR test) @severity:high -team:backend").unwrap();
    assert_eq!(q.tag_keys(), vec!["env", "team"]);
}

#[test]
fn single_term_is_a_constraint() {
    assert_eq!(
        constraints("@severity:critical"),
        vec![c("@severity", &["critical"])]
    );
}

#[test]
fn conjunction_keeps_every_conjunct_constraint() {
    assert_eq!(
        constraints(
            "@finding_type:secret @severity:(critical OR high) @status:open team:platform weak"
        ),
        vec![
            c("@finding_type", &["secret"]),
            c("@severity", &["critical", "high"]),
            c("@status", &["open"]),
            c("team", &["platform"]),
        ]
    );
}

#[test]
fn disjunction_unions_fields_present_in_every_branch() {
    assert_eq!(
        constraints("(@severity:critical team:a) OR (@severity:high @status:open)"),
        vec![c("@severity", &["critical", "high"])]
    );
    assert_eq!(constraints("@severity:critical OR team:a"), vec![]);
}

#[test]
fn negations_wildcards_comparisons_and_free_text_give_no_constraint() {
    assert!(constraints("-@severity:low").is_empty());
    assert!(constraints("@severity:crit*").is_empty());
    assert!(constraints("@severity:*").is_empty());
    assert!(constraints("@score:>5").is_empty());
    assert!(constraints("critical").is_empty());
    assert!(constraints("*").is_empty());
    assert!(constraints("@severity:(critical OR crit*)").is_empty());
}

#[test]
fn allowed_values_intersects_constraints_on_a_scalar_attribute() {
    let q = Query::parse("@severity:(high OR low) @severity:(high OR critical)").unwrap();
    assert_eq!(q.allowed_values("severity"), Some(vec!["high"]));
    assert_eq!(q.allowed_values("status"), None);
    let q = Query::parse("@finding_type:(secret OR misconfiguration) @status:open").unwrap();
    assert_eq!(
        q.allowed_values("finding_type"),
        Some(vec!["secret", "misconfiguration"])
    );
    assert_eq!(q.allowed_values("status"), Some(vec!["open"]));
}

#[test]
fn allowed_values_distinguishes_escaped_dots_from_path_separators() {
    let q = Query::parse(r"@a\.b:x @a.b:y").unwrap();
    assert_eq!(q.allowed_values("a.b"), Some(vec!["y"]));
}

#[test]
fn constraints_never_exclude_a_matching_finding() {
    // Soundness spot-check: for each query, a finding that matches must satisfy every
    // constraint (some value at the field equals one of the constraint's values).
    use casebridge_query::{FindingView, JsonFinding};
    use serde_json::json;
    let findings = [
        (
            json!({"severity": "high", "status": "open", "origin": ["ci", "apm"]}),
            vec!["team:a".to_owned()],
        ),
        (
            json!({"severity": "critical", "status": "muted", "origin": ["apm"]}),
            vec!["team:b".to_owned()],
        ),
        (json!({"severity": "low", "origin": []}), vec![]),
    ];
    let queries = [
        "@severity:(critical OR high)",
        "(@severity:critical team:b) OR (@severity:high @status:open)",
        "@origin:ci @origin:apm",
        "team:(a OR b) -@status:muted",
        "@severity:low OR @severity:high",
    ];
    for text in queries {
        let query = Query::parse(text).unwrap();
        for (attributes, tags) in &findings {
            let view = JsonFinding::new(attributes, tags);
            if !query.matches(&view) {
                continue;
            }
            for constraint in query.equality_constraints() {
                let satisfied = match constraint.field {
                    Field::Attribute(path) => view.any_attribute_value(path, &mut |v| {
                        v.as_str().is_some_and(|s| constraint.values.contains(&s))
                    }),
                    Field::Tag(key) => view.any_tag(&mut |t| {
                        t.split_once(':')
                            .is_some_and(|(k, v)| k == key && constraint.values.contains(&v))
                    }),
                };
                assert!(
                    satisfied,
                    "{text:?} matched {attributes} but broke {constraint:?}"
                );
            }
        }
    }
}
