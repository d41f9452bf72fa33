//! Known answers: queries over the 48-finding sample fixture, with the matching findings worked
//! out by hand from the variation table in
//! `tests/fixtures/findings/generate_sample_findings.py` (never by running this crate).
//!
//! Findings are named by their position in the fixture: `F01` is `data[0]`, `F48` is
//! `data[47]`.

use std::collections::BTreeSet;

use casebridge_query::{JsonFinding, Query};
use serde_json::Value;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/findings/sample-findings.json"
);

fn load() -> Vec<Value> {
    let text = std::fs::read_to_string(FIXTURE).expect("fixture is readable");
    let body: Value = serde_json::from_str(&text).expect("fixture is JSON");
    body["data"].as_array().expect("data array").clone()
}

const ALL: &str = "ALL";
const CRITICAL: &[&str] = &[
    "F05", "F06", "F11", "F20", "F23", "F28", "F32", "F37", "F39", "F40", "F42", "F47",
];
const MUTED: &[&str] = &["F03", "F08", "F13", "F17", "F25", "F33", "F41", "F48"];
const PLATFORM: &[&str] = &[
    "F01", "F04", "F07", "F09", "F10", "F13", "F15", "F17", "F25", "F26", "F28", "F31", "F33",
    "F36", "F38", "F40", "F44", "F46", "F48",
];

/// (query, expected labels). `["ALL"]` means every finding.
fn table() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("*", vec![ALL]),
        ("", vec![ALL]),
        ("@severity:critical", CRITICAL.to_vec()),
        (
            "@severity:(critical OR high) @status:open team:platform",
            vec!["F10", "F26", "F28", "F31", "F38", "F40", "F46"],
        ),
        (
            "@finding_type:library_vulnerability",
            vec!["F22", "F23", "F24", "F25", "F26", "F27", "F28", "F29"],
        ),
        ("@status:muted", MUTED.to_vec()),
        ("@workflow.mute.is_muted:true", MUTED.to_vec()),
        (
            "-@status:muted -@status:auto_closed",
            vec![
                "F01", "F02", "F05", "F06", "F07", "F09", "F10", "F11", "F15", "F16", "F18", "F19",
                "F20", "F22", "F23", "F24", "F26", "F28", "F29", "F30", "F31", "F32", "F36", "F37",
                "F38", "F40", "F43", "F44", "F45", "F46", "F47",
            ],
        ),
        ("env:prod service:checkout-api", vec!["F01", "F25", "F36", "F46"]),
        // OR binds loosest: platform, or (payments and critical).
        (
            "team:platform OR team:payments @severity:critical",
            [PLATFORM, &["F06", "F11", "F23", "F32", "F37"]].concat(),
        ),
        (
            "(team:platform OR team:payments) @severity:critical",
            vec!["F06", "F11", "F23", "F28", "F32", "F37", "F40"],
        ),
        (
            "env:(prod OR staging) -team:backend",
            vec![
                "F01", "F02", "F04", "F06", "F07", "F09", "F10", "F11", "F19", "F20", "F21", "F23",
                "F24", "F25", "F26", "F29", "F31", "F32", "F33", "F36", "F37", "F38", "F45", "F46",
                "F48",
            ],
        ),
        (
            "NOT env:prod",
            vec![
                "F03", "F04", "F05", "F08", "F12", "F13", "F14", "F15", "F16", "F17", "F18", "F21",
                "F22", "F26", "F27", "F28", "F29", "F30", "F33", "F38", "F39", "F40", "F41", "F42",
                "F43", "F44", "F45",
            ],
        ),
        ("@package.name:org.apache.logging.log4j*", vec!["F11", "F23", "F24", "F29"]),
        ("@rule.name:*SSH*", vec!["F16", "F31"]),
        ("@package.version:2.1?.?", vec!["F11", "F23", "F24", "F25", "F29"]),
        (r#"@title:"Weak Randomness""#, vec!["F35", "F36"]),
        ("@advisory.aliases:CVE-2021-44228", vec!["F11", "F23"]),
        ("@advisory.cve:CVE-2021-4*", vec!["F11", "F23", "F24", "F29"]),
        ("@vulnerability.cwes:CWE-338", vec!["F35", "F36"]),
        ("@vulnerability.owasp_top10_years:2017", vec!["F37", "F42", "F43"]),
        ("@workflow.integrations.cases.key:SEC-12", vec!["F06", "F23"]),
        ("@workflow.integrations.cases.key:SEC-12*", vec!["F06", "F23", "F37"]),
        (
            r#"@workflow.integrations.cases.jira_issue.status:"In Progress""#,
            vec!["F06", "F23", "F32", "F37"],
        ),
        ("@workflow.integrations.jira:APPSEC-1?0", vec!["F26", "F32", "F37", "F40"]),
        ("@workflow.triage.assignee.name:*", vec!["F06", "F07", "F29", "F32", "F47"]),
        (
            "@finding_type:library_vulnerability -@workflow.integrations.cases:*",
            vec!["F22", "F24", "F25", "F27", "F28", "F29"],
        ),
        ("@finding_type:library_vulnerability -@advisory.cve:*", vec!["F28"]),
        (
            "@risk.is_publicly_accessible:true",
            vec!["F05", "F06", "F07", "F08", "F10", "F31", "F32"],
        ),
        ("@severity_details.adjusted.score:>=9", CRITICAL.to_vec()),
        ("@severity_details.adjusted.score:<3", vec!["F01", "F03", "F14", "F22", "F30"]),
        ("@severity_details.adjusted.value_id:4", CRITICAL.to_vec()),
        (
            "@first_seen_at:[1768003210000 TO 1768867220000]",
            vec!["F10", "F11", "F12", "F13", "F14", "F15", "F16", "F17", "F18", "F19", "F20"],
        ),
        (
            "@first_seen_at:{1768003210000 TO 1768867220000}",
            vec!["F11", "F12", "F13", "F14", "F15", "F16", "F17", "F18", "F19"],
        ),
        ("@exposure_time_seconds:>5000000", vec!["F14", "F16", "F35", "F36", "F43"]),
        ("randomness", vec!["F35", "F36", "F44"]),
        (r#""host namespace""#, vec!["F30", "F33"]),
        (r#""sql injection""#, vec!["F37", "F43"]),
        (
            "@origin:ci",
            vec![
                "F14", "F15", "F16", "F17", "F22", "F23", "F24", "F25", "F26", "F27", "F28", "F29",
                "F39", "F40", "F41", "F42", "F43", "F44",
            ],
        ),
        (r"owasp_url:https\://owasp.org/*", vec!["F01", "F02", "F03", "F04"]),
        (r#"@api_endpoint.resource_name:"GET /api/v2/cart""#, vec!["F01", "F36"]),
        ("@rule.id:csharp-security/ensure-secure-logging", vec!["F42"]),
        ("@status:in-progress", vec!["F07", "F29", "F47"]),
        (r#"env:"""#, vec!["F03"]),
        ("@severity:Critical", vec![]),
        ("base_score:>7", vec!["F09", "F10", "F11", "F13"]),
        (
            "@git.repository_id:*/payments-api",
            vec!["F23", "F24", "F29", "F37", "F43"],
        ),
        (
            "@workflow.mute.reason:(false_positive OR risk_accepted)",
            vec!["F03", "F08", "F25", "F33", "F41"],
        ),
        ("@workflow.mute.is_muted_by_rule:true", vec!["F08", "F33"]),
        (
            "@cloud_resource.cloud_provider:aws @compliance.evaluation:fail",
            vec!["F07", "F08", "F19", "F31", "F32"],
        ),
        ("@severity_details.base.value:critical -@severity:critical", vec!["F13"]),
        (
            "@finding_type:(misconfiguration OR identity_risk) @severity:(-low -medium)",
            vec!["F19", "F20", "F21", "F31", "F32"],
        ),
        ("@is_in_security_inbox:true", vec!["F05", "F06", "F32"]),
        ("-team:* -@status:auto_closed", vec!["F03", "F18", "F30", "F45"]),
        (
            "@finding_type:secret AND (@secret.validation_status:valid OR @status:muted)",
            vec!["F39", "F40", "F41"],
        ),
        (
            "team:payments -@finding_type:(library_vulnerability OR host_and_container_vulnerability)",
            vec!["F02", "F06", "F16", "F32", "F37", "F43"],
        ),
    ]
}

#[test]
fn fixture_has_48_uniquely_identified_findings_in_the_ingest_shape() {
    let data = load();
    assert_eq!(data.len(), 48);
    let ids: BTreeSet<&str> = data.iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(ids.len(), 48);
    for item in &data {
        assert_eq!(item["type"], "finding");
        let attributes = &item["attributes"]["attributes"];
        assert_eq!(
            attributes["finding_id"], item["id"],
            "data[].id is the finding_id"
        );
        assert!(item["attributes"]["tags"].is_array());
        assert_eq!(
            item["attributes"]["timestamp"],
            attributes["detection_changed_at"]
        );
        assert_eq!(attributes["metadata"]["schema_version"], "2");
        let muted = attributes["status"] == "muted";
        assert_eq!(
            attributes["workflow"]["mute"]["is_muted"], muted,
            "status and mute agree"
        );
    }
}

#[test]
fn queries_over_the_sample_fixture_match_the_hand_computed_findings() {
    let data = load();
    let labels: Vec<String> = (1..=data.len()).map(|n| format!("F{n:02}")).collect();
    let views: Vec<JsonFinding<'_>> = data
        .iter()
        .map(|item| JsonFinding::from_api_item(item).expect("ingest item shape"))
        .collect();
    let mut failures = Vec::new();
    for (text, expected) in table() {
        let query = Query::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let expected: BTreeSet<&str> = if expected == [ALL] {
            labels.iter().map(String::as_str).collect()
        } else {
            expected.into_iter().collect()
        };
        let actual: BTreeSet<&str> = views
            .iter()
            .zip(&labels)
            .filter(|(view, _)| query.matches(*view))
            .map(|(_, label)| label.as_str())
            .collect();
        if actual != expected {
            failures.push(format!(
                "{text:?}\n  missing:    {:?}\n  unexpected: {:?}",
                expected.difference(&actual).collect::<Vec<_>>(),
                actual.difference(&expected).collect::<Vec<_>>()
            ));
        }
        // The canonical form must select the same findings.
        let canonical = Query::parse(&query.to_string()).unwrap();
        assert!(
            views
                .iter()
                .all(|v| canonical.matches(v) == query.matches(v)),
            "canonical form of {text:?} selects different findings"
        );
    }
    assert!(
        failures.is_empty(),
        "{} queries disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn equality_constraints_hold_for_every_fixture_match() {
    use casebridge_query::{Field, FindingView};
    let data = load();
    let views: Vec<JsonFinding<'_>> = data.iter().filter_map(JsonFinding::from_api_item).collect();
    for (text, _) in table() {
        let query = Query::parse(text).unwrap();
        for view in views.iter().filter(|v| query.matches(*v)) {
            for constraint in query.equality_constraints() {
                let holds = match constraint.field {
                    Field::Attribute(path) => view.any_attribute_value(path, &mut |v| match v {
                        Value::String(s) => constraint.values.contains(&s.as_str()),
                        Value::Bool(b) => {
                            constraint
                                .values
                                .contains(&if *b { "true" } else { "false" })
                        }
                        Value::Number(n) => constraint
                            .values
                            .iter()
                            .any(|c| c.parse::<f64>().ok() == n.as_f64()),
                        _ => false,
                    }),
                    Field::Tag(key) => view.any_tag(&mut |t| {
                        t.split_once(':')
                            .is_some_and(|(k, v)| k == key && constraint.values.contains(&v))
                    }),
                };
                assert!(holds, "{text:?}: a match breaks {constraint:?}");
            }
        }
    }
}
