"""The findings operations through the official Datadog client (datadog-api-client 2.62.0).

Every test ingests its own findings tagged `run:<random>` and queries only those, so tests share
the session's casebridge process without seeing each other's data.
"""

import time
import uuid

import pytest
from datadog_api_client import ApiClient
from datadog_api_client.exceptions import NotFoundException
from datadog_api_client.v2.api.security_monitoring_api import SecurityMonitoringApi
from datadog_api_client.v2.model.assignee_data_type import AssigneeDataType
from datadog_api_client.v2.model.assignee_request import AssigneeRequest
from datadog_api_client.v2.model.assignee_request_data import AssigneeRequestData
from datadog_api_client.v2.model.assignee_request_data_attributes import AssigneeRequestDataAttributes
from datadog_api_client.v2.model.assignee_request_data_relationships import AssigneeRequestDataRelationships
from datadog_api_client.v2.model.finding_data import FindingData
from datadog_api_client.v2.model.finding_data_type import FindingDataType
from datadog_api_client.v2.model.findings import Findings
from datadog_api_client.v2.model.mute_data_type import MuteDataType
from datadog_api_client.v2.model.mute_findings_mute_attributes import MuteFindingsMuteAttributes
from datadog_api_client.v2.model.mute_findings_reason import MuteFindingsReason
from datadog_api_client.v2.model.mute_findings_request import MuteFindingsRequest
from datadog_api_client.v2.model.mute_findings_request_data import MuteFindingsRequestData
from datadog_api_client.v2.model.mute_findings_request_data_attributes import MuteFindingsRequestDataAttributes
from datadog_api_client.v2.model.mute_findings_request_data_relationships import (
    MuteFindingsRequestDataRelationships,
)
from datadog_api_client.v2.model.security_findings_search_request import SecurityFindingsSearchRequest
from datadog_api_client.v2.model.security_findings_search_request_data import SecurityFindingsSearchRequestData
from datadog_api_client.v2.model.security_findings_search_request_data_attributes import (
    SecurityFindingsSearchRequestDataAttributes,
)
from datadog_api_client.v2.model.security_findings_search_request_page import SecurityFindingsSearchRequestPage
from datadog_api_client.v2.model.security_findings_sort import SecurityFindingsSort

from conftest import ingest

SEVERITIES = ["critical", "high", "medium", "low"]


def make_finding(run: str, n: int, severity: str, detection_changed_at: int) -> dict:
    finding_id = f"{run}-{n:02d}"
    return {
        "id": finding_id,
        "type": "finding",
        "attributes": {
            "attributes": {
                "finding_id": finding_id,
                "finding_type": "misconfiguration",
                "severity": severity,
                "status": "open",
                "title": f"Security group open to the world #{n}",
                "resource_id": f"sg-{n:04d}",
                "resource_type": "aws_security_group",
                "first_seen_at": 1_767_225_600_000,
                "last_seen_at": 1_767_225_600_000 + n,
                "detection_changed_at": detection_changed_at,
                "rule": {"id": "def-000-abc", "name": "Security group open"},
                "workflow": {"mute": {"is_muted": False}},
            },
            "tags": [f"run:{run}", "team:platform", "env:prod"],
            "timestamp": detection_changed_at,
        },
    }


@pytest.fixture()
def run_findings(casebridge):
    """23 findings of a fresh run: severities cycle, detection times tie in groups."""
    run = uuid.uuid4().hex[:12]
    findings = [make_finding(run, n, SEVERITIES[n % 4], 1_767_300_000_000 + 1000 * (n % 6)) for n in range(23)]
    body = ingest(casebridge, findings)
    assert body["meta"]["created"] == 23
    return run, findings


def expected_order(findings, severity=None, descending=True):
    chosen = [
        (f["attributes"]["attributes"]["detection_changed_at"], f["id"])
        for f in findings
        if severity is None or f["attributes"]["attributes"]["severity"] == severity
    ]
    return [fid for _, fid in sorted(chosen, reverse=descending)]


def finding_refs(ids):
    return Findings(data=[FindingData(id=i, type=FindingDataType.FINDINGS) for i in ids])


def attributes_of(api_client, run, finding_id):
    api = SecurityMonitoringApi(api_client)
    page = api.list_security_findings(filter_query=f"run:{run} @finding_id:{finding_id}")
    assert len(page.data) == 1
    return page.data[0].attributes.attributes


def test_list_security_findings_filters_and_pages(api_client, run_findings):
    run, findings = run_findings
    api = SecurityMonitoringApi(api_client)

    first = api.list_security_findings(filter_query=f"run:{run} @severity:high", page_limit=2)
    high = expected_order(findings, "high")
    assert [d.id for d in first.data] == high[:2]
    assert first.meta.status.value == "done"
    assert first.meta.page.after
    assert first.links.next
    item = first.data[0]
    assert item.type.value == "finding"
    assert item.attributes.attributes["severity"] == "high"
    assert "team:platform" in item.attributes.tags
    assert item.attributes.timestamp == item.attributes.attributes["detection_changed_at"]

    second = api.list_security_findings(
        filter_query=f"run:{run} @severity:high", page_limit=2, page_cursor=first.meta.page.after
    )
    assert [d.id for d in second.data] == high[2:4]

    everything = list(api.list_security_findings_with_pagination(filter_query=f"run:{run}", page_limit=4))
    assert [d.id for d in everything] == expected_order(findings)

    ascending = list(
        api.list_security_findings_with_pagination(
            filter_query=f"run:{run} @severity:(critical OR low)",
            page_limit=3,
            sort=SecurityFindingsSort.DETECTION_CHANGED_AT_ASC,
        )
    )
    wanted = sorted(
        (f["attributes"]["attributes"]["detection_changed_at"], f["id"])
        for f in findings
        if f["attributes"]["attributes"]["severity"] in ("critical", "low")
    )
    assert [d.id for d in ascending] == [fid for _, fid in wanted]


def test_search_security_findings(api_client, run_findings):
    run, findings = run_findings
    api = SecurityMonitoringApi(api_client)
    body = SecurityFindingsSearchRequest(
        data=SecurityFindingsSearchRequestData(
            attributes=SecurityFindingsSearchRequestDataAttributes(
                filter=f"run:{run} -@severity:(critical OR high)",
                page=SecurityFindingsSearchRequestPage(limit=5),
                sort=SecurityFindingsSort.DETECTION_CHANGED_AT_DESC,
            )
        )
    )
    page = api.search_security_findings(body=body)
    severity = {f["id"]: f["attributes"]["attributes"]["severity"] for f in findings}
    expected = [fid for fid in expected_order(findings) if severity[fid] in ("medium", "low")]
    assert [d.id for d in page.data] == expected[:5]
    assert page.meta.page.after

    all_pages = list(api.search_security_findings_with_pagination(body=body))
    assert [d.id for d in all_pages] == expected


def test_list_rejects_bad_parameters_with_named_errors(casebridge):
    status, body = casebridge.raw("GET", "/api/v2/security/findings?page%5Blimit%5D=151")
    assert status == 400
    assert 'invalid parameter "page[limit]"' in body["errors"][0]["detail"]
    status, body = casebridge.raw("GET", "/api/v2/security/findings?filter%5Bquery%5D=%40severity%3A%28high")
    assert status == 400
    assert "position 10" in body["errors"][0]["detail"]
    status, body = casebridge.raw("GET", "/api/v2/security/findings?page%5Bcursor%5D=nope")
    assert status == 400
    assert 'invalid parameter "page[cursor]"' in body["errors"][0]["detail"]


def test_mute_and_unmute_security_findings(api_client, run_findings):
    run, findings = run_findings
    api = SecurityMonitoringApi(api_client)
    ids = [findings[0]["id"], findings[1]["id"]]
    expire_at = int(time.time() * 1000) + 3_600_000
    mute = MuteFindingsRequest(
        data=MuteFindingsRequestData(
            attributes=MuteFindingsRequestDataAttributes(
                mute=MuteFindingsMuteAttributes(
                    is_muted=True,
                    reason=MuteFindingsReason.RISK_ACCEPTED,
                    description="To be resolved later.",
                    expire_at=expire_at,
                )
            ),
            relationships=MuteFindingsRequestDataRelationships(findings=finding_refs(ids)),
            type=MuteDataType.MUTE,
        )
    )
    response = api.mute_security_findings(body=mute)
    assert response.data.type.value == "mute"
    uuid.UUID(response.data.id)

    muted = list(api.list_security_findings_with_pagination(filter_query=f"run:{run} @status:muted"))
    assert sorted(d.id for d in muted) == sorted(ids)
    workflow_mute = muted[0].attributes.attributes["workflow"]["mute"]
    assert workflow_mute["is_muted"] is True
    assert workflow_mute["reason"] == "risk_accepted"
    assert workflow_mute["description"] == "To be resolved later."
    assert workflow_mute["expire_at"] == expire_at
    assert workflow_mute["muted_by"]["name"] == "python-tests"

    unmute = MuteFindingsRequest(
        data=MuteFindingsRequestData(
            attributes=MuteFindingsRequestDataAttributes(
                mute=MuteFindingsMuteAttributes(is_muted=False, reason=MuteFindingsReason.NO_PENDING_FIX)
            ),
            relationships=MuteFindingsRequestDataRelationships(findings=finding_refs(ids[:1])),
            type=MuteDataType.MUTE,
        )
    )
    api.mute_security_findings(body=unmute)
    attributes = attributes_of(api_client, run, ids[0])
    assert attributes["status"] == "open"
    assert attributes["workflow"]["mute"]["is_muted"] is False
    assert attributes["workflow"]["mute"]["reason"] == "no_pending_fix"
    assert attributes_of(api_client, run, ids[1])["status"] == "muted"

    with pytest.raises(NotFoundException) as raised:
        api.mute_security_findings(
            body=MuteFindingsRequest(
                data=MuteFindingsRequestData(
                    attributes=MuteFindingsRequestDataAttributes(
                        mute=MuteFindingsMuteAttributes(is_muted=True, reason=MuteFindingsReason.NO_FIX)
                    ),
                    relationships=MuteFindingsRequestDataRelationships(findings=finding_refs([f"{run}-nope"])),
                    type=MuteDataType.MUTE,
                )
            )
        )
    assert raised.value.body["errors"][0]["detail"] == "finding not found"


def raw_mute(finding_id, mute):
    return {
        "data": {
            "type": "mute",
            "attributes": {"mute": mute},
            "relationships": {"findings": {"data": [{"id": finding_id, "type": "findings"}]}},
        }
    }


def test_mute_refusals_match_the_recorded_answers(casebridge, run_findings):
    run, findings = run_findings
    finding_id = findings[2]["id"]
    path = "/api/v2/security/findings/mute"

    status, body = casebridge.raw(
        "PATCH",
        path,
        raw_mute(finding_id, {"description": "To be resolved later.", "expire_at": 1, "is_muted": True, "reason": "RISK_ACCEPTED"}),
    )
    assert status == 422
    assert body == {
        "errors": [
            {
                "status": "422",
                "title": "Invalid Request",
                "detail": "Invalid expiration date. Please provide an expiration date in the future",
            }
        ]
    }
    status, body = casebridge.raw(
        "PATCH", path, raw_mute(finding_id, {"description": "Resolved.", "is_muted": False, "reason": "RISK_ACCEPTED"})
    )
    assert status == 422
    assert body["errors"][0]["detail"] == (
        "The provided reason is not valid for the specified mute action. "
        "Possible values: [NO_PENDING_FIX HUMAN_ERROR NO_LONGER_ACCEPTED_RISK OTHER]"
    )
    status, body = casebridge.raw("PATCH", path, raw_mute(finding_id, {"is_muted": True, "reason": "BECAUSE"}))
    assert status == 400
    assert body["errors"][0]["detail"].startswith("data.attributes.mute.reason: must be one of")
    many = raw_mute(finding_id, {"is_muted": True, "reason": "NO_FIX"})
    many["data"]["relationships"]["findings"]["data"] = [{"id": f"x{i}", "type": "findings"} for i in range(101)]
    status, body = casebridge.raw("PATCH", path, many)
    assert status == 400
    assert "at most 100 per request" in body["errors"][0]["detail"]
    assert attributes_of_raw(casebridge, run, finding_id)["status"] == "open"


def attributes_of_raw(casebridge, run, finding_id):
    status, body = casebridge.raw(
        "POST",
        "/api/v2/security/findings/search",
        {"data": {"attributes": {"filter": f"run:{run} @finding_id:{finding_id}"}}},
    )
    assert status == 200
    return body["data"][0]["attributes"]["attributes"]


def test_update_findings_assignee(casebridge, run_findings):
    run, findings = run_findings
    assignee = casebridge.create_key(f"assignee-{run}", "findings_read")
    cfg = casebridge.configuration()
    cfg.unstable_operations["update_findings_assignee"] = True
    ids = [findings[5]["id"], findings[6]["id"], f"{run}-missing"]
    with ApiClient(cfg) as client:
        api = SecurityMonitoringApi(client)
        response = api.update_findings_assignee(
            body=AssigneeRequest(
                data=AssigneeRequestData(
                    attributes=AssigneeRequestDataAttributes(assignee_id=assignee["user_id"]),
                    relationships=AssigneeRequestDataRelationships(findings=finding_refs(ids)),
                    type=AssigneeDataType.ASSIGNEE,
                )
            )
        )
        assert response.data.type.value == "assignee"
        assert response.data.attributes.assignee_id == assignee["user_id"]
        assert [f.finding_id for f in response.meta.failures] == [f"{run}-missing"]
        assert response.meta.failures[0].status == 404

        assigned = list(
            api.list_security_findings_with_pagination(
                filter_query=f"run:{run} @workflow.triage.assignee.id:{assignee['user_id']}"
            )
        )
        assert sorted(d.id for d in assigned) == sorted(ids[:2])
        record = assigned[0].attributes.attributes["workflow"]["triage"]["assignee"]
        assert record["name"] == f"assignee-{run}"
        assert record["updated_by"]["name"] == "python-tests"

        api.update_findings_assignee(
            body=AssigneeRequest(
                data=AssigneeRequestData(
                    attributes=AssigneeRequestDataAttributes(),
                    relationships=AssigneeRequestDataRelationships(findings=finding_refs(ids[:1])),
                    type=AssigneeDataType.ASSIGNEE,
                )
            )
        )
        remaining = list(
            api.list_security_findings_with_pagination(filter_query=f"run:{run} @workflow.triage.assignee.id:*")
        )
        assert [d.id for d in remaining] == [ids[1]]


def test_a_list_response_reingests_unchanged(api_client, casebridge, run_findings):
    run, _ = run_findings
    api = SecurityMonitoringApi(api_client)
    page = api.list_security_findings(filter_query=f"run:{run}", page_limit=150)
    body = ingest(casebridge, [d.to_dict() for d in page.data])
    assert body["meta"]["unchanged"] == 23
    assert body["meta"]["created"] == 0
