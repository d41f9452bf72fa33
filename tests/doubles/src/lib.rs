//! casebridge-doubles (work in progress header; full docs below once complete)

pub mod common;
pub mod jira;
pub mod jira_contract;
pub mod servicenow;

/// Why a double could not start.
#[derive(Debug, thiserror::Error)]
pub enum DoubleError {
    #[error("cannot bind the listening socket: {0}")]
    Bind(std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
}
