//! What each construct matches, on small hand-written findings.

use casebridge_query::{AttributePath, FindingView, JsonFinding, Query};
use serde_json::{json, Value};

/// A library-vulnerability-like finding with arrays, nested objects, numbers and booleans.
fn sample() -> (Value, Vec<String>) {
    let attributes = json!({
        "finding_type": "library_vulnerability",
        "title": "Apache Log4j2 JNDI features do not protect against attacker controlled LDAP",
        "description": "Remote code execution through **JNDI** lookups.",
        "resource_name": "github.com/example-org/java-app",
        "severity": "critical",
        "status": "open",
        "origin": ["ci", "apm"],
        "first_seen_at": 1767225600000_i64,
        "exposure_time_seconds": 5097262,
        "advisory": {"aliases": ["CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q"], "cve": "CVE-2021-44228"},
        "package": {"name": "org.apache.logging.log4j:log4j-core", "version": "2.14.1"},
        "risk": {"is_publicly_accessible": true, "is_production": false},
        "severity_details": {"adjusted": {"score": 10, "value": "critical", "value_id": 4}},
        "vulnerability": {"cwes": ["CWE-502", "CWE-400"], "owasp_top10_years": [2017, 2021]},
        "remediation": {"description": null},
        "workflow": {
            "mute": {"is_muted": false},
            "integrations": {
                "cases": [
                    {"key": "SEC-12", "status": "open", "jira_issue": {"key": "APPSEC-7", "status": "In Progress"}},
                    {"key": "SEC-40", "status": "closed"}
                ],
                "jira": ["APPSEC-7"]
            }
        }
    });
    let tags = [
        "team:platform",
        "env:prod",
        "service:checkout-api",
        "base_score:9.8",
        "owasp_url:https://owasp.org/Top10/A06_2021",
        "env:",
        "standalone",
    ]
    .map(str::to_owned)
    .to_vec();
    (attributes, tags)
}

#[track_caller]
fn check(query: &str, expected: bool) {
    let (attributes, tags) = sample();
    let finding = JsonFinding::new(&attributes, &tags);
    let parsed = Query::parse(query).unwrap_or_else(|e| panic!("{query:?}: {e}"));
    assert_eq!(parsed.matches(&finding), expected, "query {query:?}");
}

#[test]
fn match_all_matches_everything() {
    check("*", true);
    check("", true);
    check("-*", false);
}

#[test]
fn attribute_equality_is_exact_and_case_sensitive() {
    check("@severity:critical", true);
    check("@severity:Critical", false);
    check("@severity:critica", false);
    check("@status:open", true);
    check("@finding_type:library_vulnerability", true);
}

#[test]
fn dotted_paths_reach_nested_objects() {
    check("@package.name:org.apache.logging.log4j\\:log4j-core", true);
    check("@severity_details.adjusted.value:critical", true);
    check("@package.version:2.14.1", true);
    check("@package.missing:x", false);
}

#[test]
fn array_attribute_matches_when_any_element_equals() {
    check("@origin:ci", true);
    check("@origin:apm", true);
    check("@origin:agentless-scanner", false);
    check("@advisory.aliases:CVE-2021-44228", true);
    check("@vulnerability.cwes:CWE-502", true);
    check("@vulnerability.cwes:CWE-338", false);
}

#[test]
fn both_elements_of_one_array_can_be_required() {
    check("@origin:ci @origin:apm", true);
    check("@origin:(ci AND apm)", true);
}

#[test]
fn paths_cross_arrays_of_objects() {
    check("@workflow.integrations.cases.key:SEC-12", true);
    check("@workflow.integrations.cases.key:SEC-40", true);
    check("@workflow.integrations.cases.key:SEC-99", false);
    check("@workflow.integrations.cases.jira_issue.key:APPSEC-7", true);
    check(
        r#"@workflow.integrations.cases.jira_issue.status:"In Progress""#,
        true,
    );
    check("@workflow.integrations.jira:APPSEC-*", true);
}

#[test]
fn booleans_compare_with_json_booleans() {
    check("@risk.is_publicly_accessible:true", true);
    check("@risk.is_publicly_accessible:false", false);
    check("@risk.is_production:false", true);
    check("@workflow.mute.is_muted:false", true);
    check("@workflow.mute.is_muted:true", false);
    check("@risk.is_production:FALSE", false);
}

#[test]
fn numbers_compare_numerically_for_equality() {
    check("@severity_details.adjusted.value_id:4", true);
    check("@severity_details.adjusted.value_id:4.0", true);
    check("@severity_details.adjusted.score:10", true);
    check("@severity_details.adjusted.score:1e1", true);
    check("@vulnerability.owasp_top10_years:2021", true);
    check("@vulnerability.owasp_top10_years:2020", false);
}

#[test]
fn wildcards_against_numbers_use_their_json_text() {
    check("@exposure_time_seconds:5097*", true);
    check("@exposure_time_seconds:*262", true);
    check("@exposure_time_seconds:6*", false);
}

#[test]
fn numeric_comparisons_on_attributes() {
    check("@exposure_time_seconds:>5097261", true);
    check("@exposure_time_seconds:>5097262", false);
    check("@exposure_time_seconds:>=5097262", true);
    check("@exposure_time_seconds:<5097262", false);
    check("@exposure_time_seconds:<=5097262", true);
    check("@vulnerability.owasp_top10_years:<2018", true);
}

#[test]
fn comparisons_do_not_apply_to_strings_booleans_or_missing_values() {
    check("@package.version:>1", false);
    check("@severity:>0", false);
    check("@risk.is_publicly_accessible:>0", false);
    check("@missing:<1", false);
}

#[test]
fn ranges_are_inclusive_and_exclusive_as_written() {
    check("@first_seen_at:[1767225600000 TO 1767225600000]", true);
    check("@first_seen_at:{1767225600000 TO *]", false);
    check("@first_seen_at:[* TO 1767225600000}", false);
    check("@first_seen_at:[1700000000000 TO 1800000000000]", true);
    check("@first_seen_at:[1800000000000 TO *]", false);
}

#[test]
fn wildcards_on_attribute_values() {
    check("@package.name:org.apache.logging.log4j*", true);
    check("@package.name:*log4j-core", true);
    check("@package.name:*logging*", true);
    check("@package.name:*Logging*", false);
    check("@package.version:2.1?.1", true);
    check("@package.version:2.1?", false);
    check("@title:Apache*LDAP", true);
}

#[test]
fn quoted_phrase_matches_the_whole_value_with_literal_wildcards() {
    check(
        r#"@title:"Apache Log4j2 JNDI features do not protect against attacker controlled LDAP""#,
        true,
    );
    check(r#"@title:"Apache Log4j2""#, false);
    check(r#"@title:"Apache*""#, false);
}

#[test]
fn exists_and_absent() {
    check("@advisory.cve:*", true);
    check("-@advisory.cve:*", false);
    check("@secret.validation_status:*", false);
    check("-@secret.validation_status:*", true);
    check("@workflow.integrations.cases:*", true);
    check("@workflow.mute:*", true);
}

#[test]
fn null_values_match_nothing_not_even_exists() {
    check("@remediation.description:*", false);
    check("-@remediation.description:*", true);
    check("@remediation.description:null", false);
}

#[test]
fn empty_arrays_do_not_exist() {
    let attributes = json!({"origin": []});
    let finding = JsonFinding::new(&attributes, &[]);
    assert!(!Query::parse("@origin:*").unwrap().matches(&finding));
}

#[test]
fn tags_match_by_key_and_value() {
    check("team:platform", true);
    check("team:payments", false);
    check("env:prod", true);
    check("service:checkout-*", true);
    check("team:*", true);
    check("owner:*", false);
    check("-owner:*", true);
}

#[test]
fn tags_are_split_at_the_first_colon() {
    check(r"owasp_url:https\://owasp.org/*", true);
    check(r#"owasp_url:"https://owasp.org/Top10/A06_2021""#, true);
}

#[test]
fn tag_with_empty_value_matches_the_empty_string_and_exists() {
    check(r#"env:"""#, true);
    check("env:*", true);
}

#[test]
fn tag_without_colon_matches_only_existence_of_its_name() {
    check("standalone:*", true);
    check(r#"standalone:"""#, false);
}

#[test]
fn tags_are_never_read_as_attributes_and_vice_versa() {
    check("severity:critical", false);
    check("@team:platform", false);
}

#[test]
fn numeric_comparisons_on_tags_parse_the_tag_value() {
    check("base_score:>9", true);
    check("base_score:>=9.8", true);
    check("base_score:<9.8", false);
    check("base_score:[9 TO 10]", true);
    check("team:>1", false);
}

#[test]
fn free_text_is_a_case_insensitive_substring_of_title_description_or_resource_name() {
    check("log4j2", true);
    check("LOG4J2", true);
    check("jndi", true);
    check("**JNDI**", true);
    check(r#""remote code execution""#, true);
    check("java-app", true);
    check("ldap injection", false);
    check("log?j2", true);
    check("critical", false);
}

#[test]
fn boolean_operators_combine() {
    check("@severity:critical AND team:platform", true);
    check("@severity:critical AND team:payments", false);
    check("@severity:low OR team:platform", true);
    check("@severity:low OR team:payments", false);
    check("-@status:muted", true);
    check("NOT @status:open", false);
    check(
        "@severity:(critical OR high) @status:open team:platform",
        true,
    );
    check("@severity:(-low -medium)", true);
    check("env:(prod OR test) -team:backend", true);
}

#[test]
fn precedence_or_loosest() {
    // true OR (false AND true) = true
    check("team:platform OR team:payments @severity:critical", true);
    // (false OR true) AND false = false
    check("(team:payments OR team:platform) @severity:low", false);
    // false OR (true AND false) = false
    check("team:payments OR team:platform @severity:low", false);
}

#[test]
fn escaped_path_dot_reads_a_key_containing_a_dot() {
    let attributes = json!({"k8s.io": {"name": "x"}, "k8s": {"io": {"name": "y"}}});
    let finding = JsonFinding::new(&attributes, &[]);
    assert!(Query::parse(r"@k8s\.io.name:x").unwrap().matches(&finding));
    assert!(Query::parse("@k8s.io.name:y").unwrap().matches(&finding));
}

#[test]
fn overrides_supply_computed_workflow_state() {
    let (attributes, tags) = sample();
    let computed = json!({"mute": {"is_muted": true, "reason": "risk_accepted"}});
    let status = json!("muted");
    let overrides = [("workflow", &computed), ("status", &status)];
    let finding = JsonFinding::new(&attributes, &tags).with_overrides(&overrides);
    let q = |text: &str| Query::parse(text).unwrap().matches(&finding);
    assert!(q("@workflow.mute.is_muted:true @status:muted"));
    assert!(q("@workflow.mute.reason:risk_accepted"));
    // The override replaces the whole namespace: the document's cases are not visible.
    assert!(!q("@workflow.integrations.cases.key:SEC-12"));
    assert!(q("@severity:critical"));
}

/// A view whose workflow data lives outside any JSON document, proving the trait is enough.
struct ComputedView {
    muted: Value,
    tags: Vec<String>,
}

impl FindingView for ComputedView {
    fn any_attribute_value(
        &self,
        path: &AttributePath,
        visit: &mut dyn FnMut(&Value) -> bool,
    ) -> bool {
        if path.segments() == ["workflow", "mute", "is_muted"] {
            visit(&self.muted)
        } else {
            false
        }
    }

    fn any_tag(&self, visit: &mut dyn FnMut(&str) -> bool) -> bool {
        self.tags.iter().any(|t| visit(t))
    }
}

#[test]
fn custom_views_drive_the_same_evaluator() {
    let view = ComputedView {
        muted: Value::Bool(true),
        tags: vec!["team:platform".into()],
    };
    assert!(Query::parse("@workflow.mute.is_muted:true team:platform")
        .unwrap()
        .matches(&view));
    assert!(!Query::parse("weak").unwrap().matches(&view));
    let dynamic: &dyn FindingView = &view;
    assert!(Query::parse("team:platform").unwrap().matches(dynamic));
}

#[test]
fn api_items_can_be_viewed_directly() {
    let item = json!({"id": "abc", "type": "finding", "attributes": {
        "attributes": {"severity": "high"}, "tags": ["env:prod"], "timestamp": 1}});
    let view = JsonFinding::from_api_item(&item).unwrap();
    assert!(Query::parse("@severity:high env:prod")
        .unwrap()
        .matches(&view));
}
