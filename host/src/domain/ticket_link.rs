//! Ticket links: a case's ticket on an external backend (Jira, ServiceNow, Case Management).
//!
//! Why: connectors create tickets and the sync engine keeps them in step; the link is the durable
//! record of which external ticket belongs to which case, and whether its creation succeeded.
//! Invariants:
//! - a case has at most one live link per backend;
//! - deleting a case or its project *detaches* its links (the row stays, without a case, with
//!   `detached_at` set); external tickets are never deleted by casebridge;
//! - a FAILED link carries an error message; a COMPLETED link carries the external id or key.

/// The ticketing backends a case can be linked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketBackend {
    Jira,
    ServiceNow,
    CaseManagement,
}

impl TicketBackend {
    pub const ALL: [TicketBackend; 3] = [
        TicketBackend::Jira,
        TicketBackend::ServiceNow,
        TicketBackend::CaseManagement,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketBackend::Jira => "jira",
            TicketBackend::ServiceNow => "servicenow",
            TicketBackend::CaseManagement => "case_management",
        }
    }

    pub fn parse(value: &str) -> Option<TicketBackend> {
        TicketBackend::ALL.into_iter().find(|b| b.as_str() == value)
    }
}

/// Outcome of creating (or attaching) the external ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreationStatus {
    InProgress,
    Completed,
    Failed,
}

impl CreationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CreationStatus::InProgress => "IN_PROGRESS",
            CreationStatus::Completed => "COMPLETED",
            CreationStatus::Failed => "FAILED",
        }
    }

    pub fn parse(value: &str) -> Option<CreationStatus> {
        match value {
            "IN_PROGRESS" => Some(CreationStatus::InProgress),
            "COMPLETED" => Some(CreationStatus::Completed),
            "FAILED" => Some(CreationStatus::Failed),
            _ => None,
        }
    }
}

/// A stored link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketLink {
    pub id: String,
    /// `None` once detached.
    pub case_id: Option<String>,
    pub backend: TicketBackend,
    /// Jira account id / cloud id, ServiceNow instance name, Case Management site.
    pub account: Option<String>,
    /// Jira issue id, ServiceNow sys_id, remote case id.
    pub external_id: Option<String>,
    /// Jira issue key, ServiceNow number, remote case key.
    pub external_key: Option<String>,
    pub url: Option<String>,
    /// ServiceNow table (`incident`, `em_event`, …).
    pub table_name: Option<String>,
    pub creation_status: CreationStatus,
    pub error_message: Option<String>,
    /// The ticket's status on the backend as last seen (Jira status name, ServiceNow state).
    pub remote_status: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub detached_at: Option<i64>,
}

/// What a connector reports about a ticket it created or attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicketLink {
    pub backend: TicketBackend,
    pub account: Option<String>,
    pub external_id: Option<String>,
    pub external_key: Option<String>,
    pub url: Option<String>,
    pub table_name: Option<String>,
    pub creation_status: CreationStatus,
    pub error_message: Option<String>,
    pub remote_status: Option<String>,
}

/// Why a link report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketLinkError {
    #[error("a FAILED ticket link needs an error message")]
    FailedWithoutError,
    #[error("a COMPLETED ticket link needs the external id or key of the ticket")]
    CompletedWithoutIdentity,
}

impl NewTicketLink {
    /// A successfully created or attached ticket.
    pub fn completed(backend: TicketBackend, external_key: &str) -> NewTicketLink {
        NewTicketLink {
            backend,
            account: None,
            external_id: None,
            external_key: Some(external_key.to_string()),
            url: None,
            table_name: None,
            creation_status: CreationStatus::Completed,
            error_message: None,
            remote_status: None,
        }
    }

    /// A ticket whose creation failed.
    pub fn failed(backend: TicketBackend, error_message: &str) -> NewTicketLink {
        NewTicketLink {
            creation_status: CreationStatus::Failed,
            error_message: Some(error_message.to_string()),
            external_key: None,
            ..NewTicketLink::completed(backend, "")
        }
    }

    pub fn validate(&self) -> Result<(), TicketLinkError> {
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        match self.creation_status {
            CreationStatus::Failed if !present(&self.error_message) => {
                Err(TicketLinkError::FailedWithoutError)
            }
            CreationStatus::Completed
                if !present(&self.external_id) && !present(&self.external_key) =>
            {
                Err(TicketLinkError::CompletedWithoutIdentity)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_round_trip_through_their_names() {
        for backend in TicketBackend::ALL {
            assert_eq!(TicketBackend::parse(backend.as_str()), Some(backend));
        }
    }

    #[test]
    fn a_failed_link_must_say_why() {
        let mut link = NewTicketLink::failed(TicketBackend::Jira, "boom");
        assert!(link.validate().is_ok());
        link.error_message = None;
        assert_eq!(link.validate(), Err(TicketLinkError::FailedWithoutError));
    }

    #[test]
    fn a_completed_link_must_name_the_ticket() {
        let link = NewTicketLink::completed(TicketBackend::ServiceNow, "");
        assert_eq!(
            link.validate(),
            Err(TicketLinkError::CompletedWithoutIdentity)
        );
        assert!(NewTicketLink::completed(TicketBackend::Jira, "SEC-1")
            .validate()
            .is_ok());
    }
}
