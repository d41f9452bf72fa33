//! Who is calling: API keys as Datadog clients send them, and the scopes they carry.
//!
//! Why: the official clients send `DD-API-KEY` + `DD-APPLICATION-KEY`, or `Authorization: Bearer`
//! (casebridge accepts the application key as the bearer token).
//! Invariants: no key → 401; an unknown, mismatched or revoked key → 403; a key without the
//! scope an operation needs → 403 naming the scope. `admin` implies every scope, and a write
//! scope implies the read scope of the same resource.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    FindingsRead,
    FindingsWrite,
    CasesRead,
    CasesWrite,
    RulesRead,
    RulesWrite,
    Admin,
}

impl Scope {
    /// Every scope, in the order `keys create` documents them.
    pub const ALL: [Scope; 7] = [
        Scope::FindingsRead,
        Scope::FindingsWrite,
        Scope::CasesRead,
        Scope::CasesWrite,
        Scope::RulesRead,
        Scope::RulesWrite,
        Scope::Admin,
    ];

    /// casebridge's short name (what `keys create --scopes` takes and what is stored).
    pub fn name(self) -> &'static str {
        match self {
            Scope::FindingsRead => "findings_read",
            Scope::FindingsWrite => "findings_write",
            Scope::CasesRead => "cases_read",
            Scope::CasesWrite => "cases_write",
            Scope::RulesRead => "rules_read",
            Scope::RulesWrite => "rules_write",
            Scope::Admin => "admin",
        }
    }

    /// Parses a short name or the Datadog permission name it stands for.
    pub fn parse(name: &str) -> Option<Scope> {
        Some(match name.trim() {
            "findings_read" | "security_monitoring_findings_read" | "appsec_vm_read" => {
                Scope::FindingsRead
            }
            "findings_write" | "security_monitoring_findings_write" | "appsec_vm_write" => {
                Scope::FindingsWrite
            }
            "cases_read" => Scope::CasesRead,
            "cases_write" => Scope::CasesWrite,
            "rules_read" | "security_pipelines_read" => Scope::RulesRead,
            "rules_write" | "security_pipelines_write" => Scope::RulesWrite,
            "admin" => Scope::Admin,
            _ => return None,
        })
    }

    fn implied_by(self, held: Scope) -> bool {
        held == self
            || held == Scope::Admin
            || matches!(
                (self, held),
                (Scope::FindingsRead, Scope::FindingsWrite)
                    | (Scope::CasesRead, Scope::CasesWrite)
                    | (Scope::RulesRead, Scope::RulesWrite)
            )
    }
}

/// Parses a comma-separated scope list, naming the first unknown scope.
pub fn parse_scopes(list: &str) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let scope = Scope::parse(part).ok_or_else(|| {
            let known: Vec<&str> = Scope::ALL.iter().map(|s| s.name()).collect();
            format!("unknown scope {part:?} (known: {})", known.join(", "))
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err("at least one scope is required".to_string());
    }
    Ok(scopes)
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: String,
    pub user_id: String,
    pub user_handle: String,
    pub user_name: String,
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// Succeeds when the key holds `scope` (directly or implied).
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.iter().any(|held| scope.implied_by(*held)) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this key lacks the {} scope",
                scope.name()
            )))
        }
    }
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let api_key = header(parts, "dd-api-key");
        let app_key = header(parts, "dd-application-key");
        let bearer = header(parts, "authorization")
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let stored = match (api_key, app_key, bearer) {
            (Some(api), Some(app), _) => state.store.find_api_key(api, app).await?,
            (_, _, Some(token)) => state.store.find_api_key_by_app_key(token).await?,
            (Some(_), None, None) => {
                return Err(ApiError::unauthorized(
                    "missing DD-APPLICATION-KEY header (send both DD-API-KEY and DD-APPLICATION-KEY)",
                ))
            }
            (None, Some(_), None) => {
                return Err(ApiError::unauthorized(
                    "missing DD-API-KEY header (send both DD-API-KEY and DD-APPLICATION-KEY)",
                ))
            }
            (None, None, None) => {
                return Err(ApiError::unauthorized(
                    "authentication required: send DD-API-KEY and DD-APPLICATION-KEY, or Authorization: Bearer",
                ))
            }
        };
        let Some(stored) = stored else {
            return Err(ApiError::forbidden("invalid API key or application key"));
        };
        Ok(Principal {
            key_id: stored.id,
            user_id: stored.user_id,
            user_handle: stored.user_handle,
            user_name: stored.user_name,
            scopes: stored
                .scopes
                .iter()
                .filter_map(|s| Scope::parse(s))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_implies_every_scope() {
        for scope in Scope::ALL {
            assert!(scope.implied_by(Scope::Admin));
        }
    }

    #[test]
    fn write_implies_read_of_the_same_resource_only() {
        assert!(Scope::CasesRead.implied_by(Scope::CasesWrite));
        assert!(!Scope::FindingsRead.implied_by(Scope::CasesWrite));
        assert!(!Scope::CasesWrite.implied_by(Scope::CasesRead));
    }

    #[test]
    fn datadog_permission_names_are_accepted() {
        assert_eq!(
            Scope::parse("security_monitoring_findings_write"),
            Some(Scope::FindingsWrite)
        );
    }

    #[test]
    fn unknown_scope_is_named() {
        let err = parse_scopes("cases_read,bogus").unwrap_err();
        assert!(err.contains("\"bogus\""), "{err}");
    }
}
