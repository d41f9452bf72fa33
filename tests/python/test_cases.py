"""Case Management and findings <-> cases, driven by the official datadog-api-client.

Each test creates its own project (random key) on the session's casebridge, so tests are
independent of each other and of their order.
"""

import random
import string
import time
import uuid

import pytest
from datadog_api_client.exceptions import ApiException, NotFoundException
from datadog_api_client.v2.api.case_management_api import CaseManagementApi
from datadog_api_client.v2.api.security_monitoring_api import SecurityMonitoringApi
from datadog_api_client.v2.model.attach_case_request import AttachCaseRequest
from datadog_api_client.v2.model.attach_case_request_data import AttachCaseRequestData
from datadog_api_client.v2.model.attach_case_request_data_relationships import (
    AttachCaseRequestDataRelationships,
)
from datadog_api_client.v2.model.case_assign import CaseAssign
from datadog_api_client.v2.model.case_assign_attributes import CaseAssignAttributes
from datadog_api_client.v2.model.case_assign_request import CaseAssignRequest
from datadog_api_client.v2.model.case_comment import CaseComment
from datadog_api_client.v2.model.case_comment_attributes import CaseCommentAttributes
from datadog_api_client.v2.model.case_comment_request import CaseCommentRequest
from datadog_api_client.v2.model.case_create import CaseCreate
from datadog_api_client.v2.model.case_create_attributes import CaseCreateAttributes
from datadog_api_client.v2.model.case_create_relationships import CaseCreateRelationships
from datadog_api_client.v2.model.case_create_request import CaseCreateRequest
from datadog_api_client.v2.model.case_data_type import CaseDataType
from datadog_api_client.v2.model.case_empty import CaseEmpty
from datadog_api_client.v2.model.case_empty_request import CaseEmptyRequest
from datadog_api_client.v2.model.case_management_project import CaseManagementProject
from datadog_api_client.v2.model.case_management_project_data import CaseManagementProjectData
from datadog_api_client.v2.model.case_management_project_data_type import (
    CaseManagementProjectDataType,
)
from datadog_api_client.v2.model.case_object_attributes import CaseObjectAttributes
from datadog_api_client.v2.model.case_priority import CasePriority
from datadog_api_client.v2.model.case_resource_type import CaseResourceType
from datadog_api_client.v2.model.case_sortable_field import CaseSortableField
from datadog_api_client.v2.model.case_status import CaseStatus
from datadog_api_client.v2.model.case_update_attributes import CaseUpdateAttributes
from datadog_api_client.v2.model.case_update_attributes_attributes import (
    CaseUpdateAttributesAttributes,
)
from datadog_api_client.v2.model.case_update_attributes_request import CaseUpdateAttributesRequest
from datadog_api_client.v2.model.case_update_comment import CaseUpdateComment
from datadog_api_client.v2.model.case_update_comment_attributes import CaseUpdateCommentAttributes
from datadog_api_client.v2.model.case_update_comment_request import CaseUpdateCommentRequest
from datadog_api_client.v2.model.case_update_description import CaseUpdateDescription
from datadog_api_client.v2.model.case_update_description_attributes import (
    CaseUpdateDescriptionAttributes,
)
from datadog_api_client.v2.model.case_update_description_request import (
    CaseUpdateDescriptionRequest,
)
from datadog_api_client.v2.model.case_update_priority import CaseUpdatePriority
from datadog_api_client.v2.model.case_update_priority_attributes import (
    CaseUpdatePriorityAttributes,
)
from datadog_api_client.v2.model.case_update_priority_request import CaseUpdatePriorityRequest
from datadog_api_client.v2.model.case_update_status import CaseUpdateStatus
from datadog_api_client.v2.model.case_update_status_attributes import CaseUpdateStatusAttributes
from datadog_api_client.v2.model.case_update_status_request import CaseUpdateStatusRequest
from datadog_api_client.v2.model.case_update_title import CaseUpdateTitle
from datadog_api_client.v2.model.case_update_title_attributes import CaseUpdateTitleAttributes
from datadog_api_client.v2.model.case_update_title_request import CaseUpdateTitleRequest
from datadog_api_client.v2.model.create_case_request_array import CreateCaseRequestArray
from datadog_api_client.v2.model.create_case_request_data import CreateCaseRequestData
from datadog_api_client.v2.model.create_case_request_data_attributes import (
    CreateCaseRequestDataAttributes,
)
from datadog_api_client.v2.model.create_case_request_data_relationships import (
    CreateCaseRequestDataRelationships,
)
from datadog_api_client.v2.model.detach_case_request import DetachCaseRequest
from datadog_api_client.v2.model.detach_case_request_data import DetachCaseRequestData
from datadog_api_client.v2.model.detach_case_request_data_relationships import (
    DetachCaseRequestDataRelationships,
)
from datadog_api_client.v2.model.finding_data import FindingData
from datadog_api_client.v2.model.finding_data_type import FindingDataType
from datadog_api_client.v2.model.findings import Findings
from datadog_api_client.v2.model.integration_jira import IntegrationJira
from datadog_api_client.v2.model.project_create import ProjectCreate
from datadog_api_client.v2.model.project_create_attributes import ProjectCreateAttributes
from datadog_api_client.v2.model.project_create_request import ProjectCreateRequest
from datadog_api_client.v2.model.project_relationship import ProjectRelationship
from datadog_api_client.v2.model.project_relationship_data import ProjectRelationshipData
from datadog_api_client.v2.model.project_resource_type import ProjectResourceType
from datadog_api_client.v2.model.project_settings import ProjectSettings
from datadog_api_client.v2.model.project_update import ProjectUpdate
from datadog_api_client.v2.model.project_update_attributes import ProjectUpdateAttributes
from datadog_api_client.v2.model.project_update_request import ProjectUpdateRequest

from conftest import ingest_or_skip

STANDARD_TYPE_ID = "00000000-0000-0000-0000-000000000001"


@pytest.fixture()
def cm(api_client):
    return CaseManagementApi(api_client)


@pytest.fixture()
def sm(api_client):
    return SecurityMonitoringApi(api_client)


def random_key() -> str:
    return "P" + "".join(random.choices(string.ascii_uppercase, k=7))


def new_project(cm, name="Security investigations"):
    body = ProjectCreateRequest(
        data=ProjectCreate(
            attributes=ProjectCreateAttributes(key=random_key(), name=name),
            type=ProjectResourceType.PROJECT,
        )
    )
    return cm.create_project(body=body).data


def new_case(cm, project_id, title="Leaked credentials", priority=CasePriority.NOT_DEFINED):
    body = CaseCreateRequest(
        data=CaseCreate(
            attributes=CaseCreateAttributes(title=title, type_id=STANDARD_TYPE_ID, priority=priority),
            relationships=CaseCreateRelationships(
                project=ProjectRelationship(
                    data=ProjectRelationshipData(id=project_id, type=ProjectResourceType.PROJECT)
                )
            ),
            type=CaseResourceType.CASE,
        )
    )
    return cm.create_case(body=body).data


def empty_case_request():
    return CaseEmptyRequest(data=CaseEmpty(type=CaseResourceType.CASE))


def new_user(casebridge, handle=None):
    handle = handle or f"user-{uuid.uuid4().hex[:8]}@example.com"
    status, body = casebridge.raw(
        "POST",
        "/api/v2/casebridge/users",
        {"data": {"type": "users", "attributes": {"email": handle, "name": "Test User"}}},
    )
    assert status == 201, body
    return body["data"]["id"]


# ---------------------------------------------------------------------------------------------
# Projects
# ---------------------------------------------------------------------------------------------


def test_projects_are_created_listed_updated_and_deleted(cm):
    project = new_project(cm)
    assert project.type == ProjectResourceType.PROJECT
    assert project.attributes.name == "Security investigations"

    listed = [p.id for p in cm.get_projects().data]
    assert project.id in listed
    assert cm.get_project(project_id=project.id).data.attributes.key == project.attributes.key

    update = ProjectUpdateRequest(
        data=ProjectUpdate(
            attributes=ProjectUpdateAttributes(
                name="Renamed",
                settings=ProjectSettings(integration_jira=IntegrationJira(enabled=True)),
            ),
            type=ProjectResourceType.PROJECT,
        )
    )
    updated = cm.update_project(project_id=project.id, body=update).data
    assert updated.attributes.name == "Renamed"
    assert updated.attributes.settings.integration_jira.enabled is True
    assert updated.attributes.key == project.attributes.key

    cm.delete_project(project_id=project.id)
    with pytest.raises(NotFoundException) as missing:
        cm.get_project(project_id=project.id)
    assert missing.value.body["errors"][0]["code"] == "resource_not_found"


def test_project_with_an_invalid_key_is_refused(casebridge):
    status, body = casebridge.raw(
        "POST",
        "/api/v2/cases/projects",
        {"data": {"type": "project", "attributes": {"key": "lower", "name": "x"}}},
    )
    assert status == 400
    assert "uppercase" in body["errors"][0]["detail"]


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------


def test_case_is_created_and_found_by_id_and_by_key(cm):
    project = new_project(cm)
    case = new_case(cm, project.id, priority=CasePriority.P4)
    assert case.attributes.key == f"{project.attributes.key}-1"
    assert case.attributes.status == CaseStatus.OPEN
    assert case.attributes.priority == CasePriority.P4
    assert cm.get_case(case_id=case.id).data.id == case.id
    by_key = cm.get_case(case_id=case.attributes.key).data
    assert by_key.id == case.id
    assert by_key.relationships.project.data.id == project.id
    second = new_case(cm, project.id, title="Second")
    assert second.attributes.key == f"{project.attributes.key}-2"


def test_case_fields_are_updated_one_operation_at_a_time(cm, casebridge):
    project = new_project(cm)
    case = new_case(cm, project.id)

    status = cm.update_status(
        case_id=case.id,
        body=CaseUpdateStatusRequest(
            data=CaseUpdateStatus(
                attributes=CaseUpdateStatusAttributes(status=CaseStatus.IN_PROGRESS),
                type=CaseResourceType.CASE,
            )
        ),
    ).data
    assert status.attributes.status == CaseStatus.IN_PROGRESS
    assert str(status.attributes.status_group) == "SG_IN_PROGRESS"
    assert status.attributes.status_name == "In Progress"

    priority = cm.update_priority(
        case_id=case.id,
        body=CaseUpdatePriorityRequest(
            data=CaseUpdatePriority(
                attributes=CaseUpdatePriorityAttributes(priority=CasePriority.P3),
                type=CaseResourceType.CASE,
            )
        ),
    ).data
    assert priority.attributes.priority == CasePriority.P3

    user_id = new_user(casebridge)
    assigned = cm.assign_case(
        case_id=case.id,
        body=CaseAssignRequest(
            data=CaseAssign(attributes=CaseAssignAttributes(assignee_id=user_id), type=CaseResourceType.CASE)
        ),
    ).data
    assert assigned.relationships.assignee.data.id == user_id
    unassigned = cm.unassign_case(case_id=case.id, body=empty_case_request()).data
    assert "assignee" not in unassigned.relationships.to_dict()

    archived = cm.archive_case(case_id=case.id, body=empty_case_request()).data
    assert archived.attributes.archived_at is not None
    unarchived = cm.unarchive_case(case_id=case.id, body=empty_case_request()).data
    assert "archived_at" not in unarchived.attributes.to_dict()

    titled = cm.update_case_title(
        case_id=case.id,
        body=CaseUpdateTitleRequest(
            data=CaseUpdateTitle(
                attributes=CaseUpdateTitleAttributes(title="[UPDATED] Leaked credentials"),
                type=CaseResourceType.CASE,
            )
        ),
    ).data
    assert titled.attributes.title == "[UPDATED] Leaked credentials"

    described = cm.update_case_description(
        case_id=case.id,
        body=CaseUpdateDescriptionRequest(
            data=CaseUpdateDescription(
                attributes=CaseUpdateDescriptionAttributes(description="Rotated the key."),
                type=CaseResourceType.CASE,
            )
        ),
    ).data
    assert described.attributes.description == "Rotated the key."

    attributed = cm.update_attributes(
        case_id=case.id,
        body=CaseUpdateAttributesRequest(
            data=CaseUpdateAttributes(
                attributes=CaseUpdateAttributesAttributes(
                    attributes=CaseObjectAttributes(env=["test"], service=["web-store", "web-api"])
                ),
                type=CaseResourceType.CASE,
            )
        ),
    ).data
    assert attributed.attributes.attributes["service"] == ["web-store", "web-api"]
    assert attributed.relationships.modified_by.data.id is not None


def test_invalid_status_and_priority_get_the_recorded_generic_error(cm, casebridge):
    case = new_case(cm, new_project(cm).id)
    status, body = casebridge.raw(
        "POST",
        f"/api/v2/cases/{case.id}/status",
        {"data": {"type": "case", "attributes": {"status": "OPENED"}}},
    )
    assert status == 400
    assert body["errors"][0]["title"] == "Generic Error"
    assert body["errors"][0]["detail"].startswith("invalid status OPENED. Must be one of NOT_STARTED")
    status, body = casebridge.raw(
        "POST",
        f"/api/v2/cases/{case.id}/priority",
        {"data": {"type": "case", "attributes": {"priority": "P1234"}}},
    )
    assert status == 400
    assert body["errors"][0]["detail"] == "invalid priority P1234. Must be one of P1, P2, P3, P4, P5, NOT_DEFINED"


def test_unknown_case_is_not_found_for_the_client(cm):
    with pytest.raises(NotFoundException) as missing:
        cm.get_case(case_id="67d80aa3-36ff-44b9-a694-c501a7591737")
    assert missing.value.body["errors"][0]["title"] == "case not found"


# ---------------------------------------------------------------------------------------------
# Comments and timeline
# ---------------------------------------------------------------------------------------------


def test_comments_are_added_edited_deleted_and_listed(cm):
    case = new_case(cm, new_project(cm).id)
    comment = cm.comment_case(
        case_id=case.id,
        body=CaseCommentRequest(
            data=CaseComment(attributes=CaseCommentAttributes(comment="Hello World !"), type=CaseResourceType.CASE)
        ),
    ).data[0]
    assert str(comment.type) == "timeline_cell"
    assert comment.attributes.cell_content.message == "Hello World !"

    cm.update_case_comment(
        case_id=case.id,
        cell_id=comment.id,
        body=CaseUpdateCommentRequest(
            data=CaseUpdateComment(
                attributes=CaseUpdateCommentAttributes(comment="Updated comment text"),
                type=CaseResourceType.CASE,
            )
        ),
    )
    newest = cm.list_case_timeline(case_id=case.id, page_size=1, page_number=0).data
    assert newest[0].id == comment.id
    assert newest[0].attributes.cell_content.message == "Updated comment text"

    cm.delete_case_comment(case_id=case.id, cell_id=comment.id)
    oldest_first = cm.list_case_timeline(case_id=case.id, sort_ascending=True).data
    assert comment.id not in [cell.id for cell in oldest_first]
    # The creation event is the first cell; event types beyond COMMENT parse leniently.
    assert oldest_first[0].id is not None

    with pytest.raises(NotFoundException):
        cm.delete_case_comment(case_id=case.id, cell_id=comment.id)
    with pytest.raises(ApiException) as bad:
        cm.delete_case_comment(case_id=case.id, cell_id="not-an-uuid")
    assert bad.value.status == 400
    assert bad.value.body["errors"][0]["title"] == "Invalid Parameter"


def test_timeline_records_every_change(cm):
    case = new_case(cm, new_project(cm).id)
    cm.archive_case(case_id=case.id, body=empty_case_request())
    cm.unarchive_case(case_id=case.id, body=empty_case_request())
    cells = cm.list_case_timeline(case_id=case.attributes.key, sort_ascending=True).data
    kinds = [str(cell.attributes.to_dict()["type"]) for cell in cells]
    assert kinds == ["CASE_CREATED", "ARCHIVED", "UNARCHIVED"]


# ---------------------------------------------------------------------------------------------
# Search
# ---------------------------------------------------------------------------------------------


def test_search_cases_pages_and_filters(cm):
    project = new_project(cm)
    key = project.attributes.key
    for n in range(5):
        case = new_case(cm, project.id, title=f"case {n}")
        if n < 3:
            cm.update_status(
                case_id=case.id,
                body=CaseUpdateStatusRequest(
                    data=CaseUpdateStatus(
                        attributes=CaseUpdateStatusAttributes(status=CaseStatus.CLOSED),
                        type=CaseResourceType.CASE,
                    )
                ),
            )
    query = f"project:{key} status:closed"
    first = cm.search_cases(page_size=2, page_number=1, filter=query)
    assert len(first.data) == 2
    assert first.meta.page.total == 2
    assert first.meta.page.current == 1
    second = cm.search_cases(page_size=2, page_number=2, filter=query)
    assert len(second.data) == 1
    assert {c.id for c in first.data}.isdisjoint({c.id for c in second.data})

    every = list(cm.search_cases_with_pagination(page_size=2, filter=f"project:{key}"))
    assert len(every) == 5

    ordered = cm.search_cases(filter=f"project:{key}", sort_field=CaseSortableField.CREATED_AT, sort_asc=True)
    assert [c.attributes.title for c in ordered.data] == [f"case {n}" for n in range(5)]


# ---------------------------------------------------------------------------------------------
# Findings <-> cases (need the findings ingest route)
# ---------------------------------------------------------------------------------------------


def finding(finding_id: str, title: str) -> dict:
    now = int(time.time() * 1000)
    attributes = {
        "finding_id": finding_id,
        "finding_type": "library_vulnerability",
        "title": title,
        "description": "A vulnerable library version is in use.",
        "severity": "high",
        "base_severity": "high",
        "status": "open",
        "resource_id": f"repo-{finding_id}",
        "resource_name": "web-store",
        "resource_type": "repository",
        "detection_changed_at": now,
        "first_seen_at": now,
        "last_seen_at": now,
        "origin": ["ci"],
        "workflow": {"mute": {"is_muted": False}},
    }
    return {
        "id": finding_id,
        "type": "finding",
        "attributes": {
            "attributes": attributes,
            "tags": ["source:sca", "origin:ci", "service:web-store"],
            "timestamp": now,
        },
    }


def findings_rel(ids):
    return Findings(data=[FindingData(id=i, type=FindingDataType.FINDINGS) for i in ids])


def project_rel(project_id):
    return CaseManagementProject(
        data=CaseManagementProjectData(id=project_id, type=CaseManagementProjectDataType.PROJECTS)
    )


def test_cases_are_created_for_findings_attached_and_detached(cm, sm, casebridge):
    ids = [f"py-{uuid.uuid4().hex}" for _ in range(3)]
    ingest_or_skip(casebridge, [finding(i, f"Vulnerable lib {n}") for n, i in enumerate(ids)])
    project = new_project(cm)

    created = sm.create_cases(
        body=CreateCaseRequestArray(
            data=[
                CreateCaseRequestData(
                    attributes=CreateCaseRequestDataAttributes(title="A title", description="A description"),
                    relationships=CreateCaseRequestDataRelationships(
                        findings=findings_rel(ids[:2]), project=project_rel(project.id)
                    ),
                    type=CaseDataType.CASES,
                )
            ]
        )
    ).data
    assert len(created) == 1
    case = created[0]
    assert case.attributes.type == "SECURITY"
    assert case.attributes.creation_source == "CS_SECURITY_FINDING"
    assert [i.resource_id for i in case.attributes.insights] == ids[:2]

    attached = sm.attach_case(
        case_id=case.id,
        body=AttachCaseRequest(
            data=AttachCaseRequestData(
                id=case.id,
                relationships=AttachCaseRequestDataRelationships(findings=findings_rel([ids[2]])),
                type=CaseDataType.CASES,
            )
        ),
    ).data
    assert attached.attributes.status_group == "SG_OPEN"
    assert ids[2] in [i.resource_id for i in attached.attributes.insights]

    sm.detach_case(
        body=DetachCaseRequest(
            data=DetachCaseRequestData(
                relationships=DetachCaseRequestDataRelationships(findings=findings_rel([ids[0]])),
                type=CaseDataType.CASES,
            )
        )
    )
    # CaseAttributes (Case Management) has no `insights` model in 2.62.0: items stay dicts.
    remaining = cm.get_case(case_id=case.id).data.attributes.to_dict()["insights"]
    assert [i["resource_id"] for i in remaining] == ids[1:]


def test_findings_operations_answer_the_recorded_errors(sm, casebridge):
    ids = [f"py-{uuid.uuid4().hex}"]
    ingest_or_skip(casebridge, [finding(ids[0], "Open port")])
    with pytest.raises(NotFoundException) as missing_project:
        sm.create_cases(
            body=CreateCaseRequestArray(
                data=[
                    CreateCaseRequestData(
                        relationships=CreateCaseRequestDataRelationships(
                            findings=findings_rel(ids),
                            project=project_rel("00000000-0000-0000-0000-000000000000"),
                        ),
                        type=CaseDataType.CASES,
                    )
                ]
            )
        )
    assert missing_project.value.body["errors"][0]["detail"] == "project not found"
    with pytest.raises(NotFoundException) as missing_case:
        sm.attach_case(
            case_id="wrong-case-id",
            body=AttachCaseRequest(
                data=AttachCaseRequestData(
                    id="wrong-case-id",
                    relationships=AttachCaseRequestDataRelationships(findings=findings_rel(ids)),
                    type=CaseDataType.CASES,
                )
            ),
        )
    assert missing_case.value.body["errors"][0]["detail"] == "failed to get case: case not found"
    with pytest.raises(NotFoundException) as missing_finding:
        sm.detach_case(
            body=DetachCaseRequest(
                data=DetachCaseRequestData(
                    relationships=DetachCaseRequestDataRelationships(findings=findings_rel(["wrong-finding-id"])),
                    type=CaseDataType.CASES,
                )
            )
        )
    assert missing_finding.value.body["errors"][0]["detail"] == "finding not found"
    with pytest.raises(ApiException) as empty:
        sm.detach_case(
            body=DetachCaseRequest(
                data=DetachCaseRequestData(
                    relationships=DetachCaseRequestDataRelationships(findings=findings_rel([])),
                    type=CaseDataType.CASES,
                )
            )
        )
    assert empty.value.status == 400
    assert empty.value.body["errors"][0]["detail"] == "no finding provided"


def test_findings_operations_refuse_empty_findings_without_ingest(casebridge):
    """The recorded 400 does not need any finding to exist."""
    status, body = casebridge.raw(
        "DELETE",
        "/api/v2/security/findings/cases",
        {"data": {"relationships": {"findings": {"data": []}}, "type": "cases"}},
    )
    assert status == 400
    assert body == {"errors": [{"status": "400", "title": "Bad Request", "detail": "no finding provided"}]}
