//! The rules of a mute or unmute request (MuteSecurityFindings).
//!
//! Why: muting is one of the only two ways a finding closes (the other is remediation), so the
//! request is checked exactly as Datadog checks it, with the messages Datadog answers (recorded
//! in the public client cassettes `test_mute_*` / `test_unmute_*`).
//!
//! Invariants: the request spells reasons in uppercase (`RISK_ACCEPTED`), the stored
//! `workflow.mute.reason` in the schema's lowercase (`risk_accepted`); muting accepts only
//! [`MUTE_REASONS`], unmuting only [`UNMUTE_REASONS`]; `expire_at` is only for muting and must
//! be after "now"; `description` has at most [`MAX_DESCRIPTION_CHARS`] characters.

use super::{string_enum, MuteChange, MuteReason};
use std::fmt;

/// Longest mute description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 280;

/// Most findings in one mute or assignee request.
pub const MAX_FINDINGS_PER_REQUEST: usize = 100;

string_enum!(
    /// A reason as the mute request spells it.
    RequestReason {
        PendingFix => "PENDING_FIX",
        FalsePositive => "FALSE_POSITIVE",
        Other => "OTHER",
        NoFix => "NO_FIX",
        Duplicate => "DUPLICATE",
        RiskAccepted => "RISK_ACCEPTED",
        NoPendingFix => "NO_PENDING_FIX",
        HumanError => "HUMAN_ERROR",
        NoLongerAcceptedRisk => "NO_LONGER_ACCEPTED_RISK",
    }
);

/// Reasons accepted when muting, in the order Datadog lists them.
pub const MUTE_REASONS: [RequestReason; 6] = [
    RequestReason::PendingFix,
    RequestReason::FalsePositive,
    RequestReason::Other,
    RequestReason::NoFix,
    RequestReason::Duplicate,
    RequestReason::RiskAccepted,
];

/// Reasons accepted when unmuting, in the order Datadog lists them.
pub const UNMUTE_REASONS: [RequestReason; 4] = [
    RequestReason::NoPendingFix,
    RequestReason::HumanError,
    RequestReason::NoLongerAcceptedRisk,
    RequestReason::Other,
];

impl RequestReason {
    /// The schema's (lowercase) spelling stored in `workflow.mute.reason`.
    pub fn stored(self) -> MuteReason {
        match self {
            RequestReason::PendingFix => MuteReason::PendingFix,
            RequestReason::FalsePositive => MuteReason::FalsePositive,
            RequestReason::Other => MuteReason::Other,
            RequestReason::NoFix => MuteReason::NoFix,
            RequestReason::Duplicate => MuteReason::Duplicate,
            RequestReason::RiskAccepted => MuteReason::RiskAccepted,
            RequestReason::NoPendingFix => MuteReason::NoPendingFix,
            RequestReason::HumanError => MuteReason::HumanError,
            RequestReason::NoLongerAcceptedRisk => MuteReason::NoLongerAcceptedRisk,
        }
    }
}

/// Why a well-formed mute request is refused (answered as 422).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuteRefusal {
    /// The reason belongs to the other action.
    ReasonNotValidForAction { is_muted: bool },
    /// `expire_at` is not after now.
    ExpiryNotInFuture,
    /// `expire_at` sent with an unmute.
    ExpiryOnUnmute,
    /// `description` longer than [`MAX_DESCRIPTION_CHARS`].
    DescriptionTooLong { chars: usize },
}

impl fmt::Display for MuteRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MuteRefusal::ReasonNotValidForAction { is_muted } => {
                let allowed: &[RequestReason] = if *is_muted {
                    &MUTE_REASONS
                } else {
                    &UNMUTE_REASONS
                };
                let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
                write!(
                    f,
                    "The provided reason is not valid for the specified mute action. Possible values: [{}]",
                    names.join(" ")
                )
            }
            MuteRefusal::ExpiryNotInFuture => f.write_str(
                "Invalid expiration date. Please provide an expiration date in the future",
            ),
            MuteRefusal::ExpiryOnUnmute => {
                f.write_str("expire_at can only be set when muting (is_muted: true)")
            }
            MuteRefusal::DescriptionTooLong { chars } => write!(
                f,
                "description must be at most {MAX_DESCRIPTION_CHARS} characters, got {chars}"
            ),
        }
    }
}

/// Checks a mute request's attributes at time `now` and turns them into a [`MuteChange`].
pub fn check_mute_request(
    is_muted: bool,
    reason: RequestReason,
    description: Option<String>,
    expire_at: Option<i64>,
    now: i64,
) -> Result<MuteChange, MuteRefusal> {
    let allowed: &[RequestReason] = if is_muted {
        &MUTE_REASONS
    } else {
        &UNMUTE_REASONS
    };
    if !allowed.contains(&reason) {
        return Err(MuteRefusal::ReasonNotValidForAction { is_muted });
    }
    if let Some(at) = expire_at {
        if !is_muted {
            return Err(MuteRefusal::ExpiryOnUnmute);
        }
        if at <= now {
            return Err(MuteRefusal::ExpiryNotInFuture);
        }
    }
    if let Some(text) = &description {
        let chars = text.chars().count();
        if chars > MAX_DESCRIPTION_CHARS {
            return Err(MuteRefusal::DescriptionTooLong { chars });
        }
    }
    Ok(MuteChange {
        is_muted,
        reason: reason.stored(),
        description,
        expire_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmuting_with_a_mute_reason_gives_the_recorded_message() {
        let err =
            check_mute_request(false, RequestReason::RiskAccepted, None, None, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "The provided reason is not valid for the specified mute action. Possible values: [NO_PENDING_FIX HUMAN_ERROR NO_LONGER_ACCEPTED_RISK OTHER]"
        );
    }

    #[test]
    fn muting_with_an_unmute_reason_lists_the_mute_reasons() {
        let err = check_mute_request(true, RequestReason::HumanError, None, None, 0).unwrap_err();
        assert!(err
            .to_string()
            .ends_with("[PENDING_FIX FALSE_POSITIVE OTHER NO_FIX DUPLICATE RISK_ACCEPTED]"));
    }

    #[test]
    fn other_is_valid_both_ways() {
        assert!(check_mute_request(true, RequestReason::Other, None, None, 0).is_ok());
        assert!(check_mute_request(false, RequestReason::Other, None, None, 0).is_ok());
    }

    #[test]
    fn an_expiry_in_the_past_gives_the_recorded_message() {
        let err = check_mute_request(true, RequestReason::RiskAccepted, None, Some(1), 1_000)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid expiration date. Please provide an expiration date in the future"
        );
        assert_eq!(
            check_mute_request(true, RequestReason::RiskAccepted, None, Some(1_000), 1_000),
            Err(MuteRefusal::ExpiryNotInFuture)
        );
    }

    #[test]
    fn descriptions_are_limited_to_280_characters_not_bytes() {
        let ok = "é".repeat(280);
        assert!(check_mute_request(true, RequestReason::NoFix, Some(ok), None, 0).is_ok());
        let long = "x".repeat(281);
        assert_eq!(
            check_mute_request(true, RequestReason::NoFix, Some(long), None, 0),
            Err(MuteRefusal::DescriptionTooLong { chars: 281 })
        );
    }

    #[test]
    fn reasons_are_stored_lowercase() {
        let change =
            check_mute_request(true, RequestReason::FalsePositive, None, Some(5), 1).unwrap();
        assert_eq!(change.reason.as_str(), "false_positive");
        assert_eq!(change.expire_at, Some(5));
    }
}
