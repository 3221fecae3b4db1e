//! Which claims name a caller's role and units, and how an identity provider's role values
//! become Canvass roles. Canvass's own tokens carry `role` and `units` with Canvass's role
//! names; a city's identity provider rarely does.

use std::collections::HashMap;
use std::str::FromStr;

use serde_json::{Map, Value};

use super::principal::{Principal, Role};
use crate::domain::ids::UnitId;
use crate::error::{Error, Result};

/// One `--jwt-role-map` entry: an identity provider's role value and the Canvass role it
/// grants, written `VALUE=ROLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMapping {
    pub value: String,
    pub role: Role,
}

impl FromStr for RoleMapping {
    type Err = String;

    fn from_str(entry: &str) -> Result<Self, String> {
        let (value, role) = entry
            .rsplit_once('=')
            .ok_or_else(|| format!("{entry:?}: expected VALUE=ROLE, e.g. survey-admins=admin"))?;
        if value.is_empty() {
            return Err(format!("{entry:?}: the value before '=' is empty"));
        }
        Ok(Self {
            value: value.to_owned(),
            role: role.parse()?,
        })
    }
}

/// Where a token's role and units are, and what its role values mean.
#[derive(Debug, Clone)]
pub struct ClaimNames {
    role: String,
    units: String,
    /// Empty: role values are Canvass role names. Otherwise only mapped values count, so that
    /// a provider's own "admin" group does not make its members Canvass admins.
    role_map: HashMap<String, Role>,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self::new("role", "units", Vec::new())
    }
}

impl ClaimNames {
    pub fn new(role: &str, units: &str, role_map: Vec<RoleMapping>) -> Self {
        Self {
            role: role.to_owned(),
            units: units.to_owned(),
            role_map: role_map.into_iter().map(|m| (m.value, m.role)).collect(),
        }
    }

    /// The caller a verified token's claims name.
    ///
    /// # Errors
    /// UNAUTHENTICATED when the role claim is missing or names no role (or several), or the
    /// units claim is malformed.
    pub fn principal(&self, subject: String, claims: &Map<String, Value>) -> Result<Principal> {
        let role = self.role(claims.get(&self.role))?;
        let units = strings(claims.get(&self.units))
            .ok_or_else(|| self.malformed_units())?
            .into_iter()
            .map(UnitId::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| self.malformed_units())?;
        Ok(Principal {
            subject,
            role,
            units,
        })
    }

    fn malformed_units(&self) -> Error {
        Error::Unauthenticated(format!("the token's {:?} claim is malformed", self.units))
    }

    /// The one Canvass role among the claim's values (a string or a list of strings); values
    /// that grant none are ignored, as providers list many roles of other applications.
    fn role(&self, claim: Option<&Value>) -> Result<Role> {
        let unusable = || {
            Error::Unauthenticated(format!(
                "the token's {:?} claim grants no Canvass role",
                self.role
            ))
        };
        let values = strings(claim).ok_or_else(unusable)?;
        let mut roles = values.into_iter().filter_map(|value| {
            if self.role_map.is_empty() {
                value.parse::<Role>().ok()
            } else {
                self.role_map.get(value).copied()
            }
        });
        let role = roles.next().ok_or_else(unusable)?;
        if roles.any(|other| other != role) {
            return Err(Error::Unauthenticated(format!(
                "the token's {:?} claim grants more than one Canvass role",
                self.role
            )));
        }
        Ok(role)
    }
}

/// A claim that is a string or a list of strings; absent is an empty list.
fn strings(claim: Option<&Value>) -> Option<Vec<&str>> {
    match claim {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::String(one)) => Some(vec![one.as_str()]),
        Some(Value::Array(many)) => many.iter().map(Value::as_str).collect(),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn canvass_tokens_use_role_and_units() {
        let names = ClaimNames::default();
        let p = names
            .principal(
                "w".into(),
                &claims(json!({"role": "field_worker", "units": ["jinshi"]})),
            )
            .unwrap();
        assert_eq!(p.role, Role::FieldWorker);
        assert_eq!(p.units, [UnitId::parse("jinshi").unwrap()]);
        let p = names
            .principal("a".into(), &claims(json!({"role": "analyst"})))
            .unwrap();
        assert!(p.units.is_empty());
    }

    #[test]
    fn provider_claims_are_mapped_and_foreign_values_ignored() {
        let names = ClaimNames::new(
            "groups",
            "https://city.example/units",
            vec![
                "survey-field=field_worker".parse().unwrap(),
                "survey-admins=admin".parse().unwrap(),
            ],
        );
        let p = names
            .principal(
                "u".into(),
                &claims(json!({
                    "groups": ["offline_access", "survey-admins", "admin"],
                    "https://city.example/units": "jinshi",
                })),
            )
            .unwrap();
        assert_eq!(p.role, Role::Admin);
        assert_eq!(p.units, [UnitId::parse("jinshi").unwrap()]);
        // With a map, Canvass names alone grant nothing.
        let error = names
            .principal("u".into(), &claims(json!({"groups": ["admin"]})))
            .unwrap_err();
        assert!(
            error.to_string().contains("grants no Canvass role"),
            "{error}"
        );
    }

    #[test]
    fn missing_ambiguous_or_malformed_claims_are_refused() {
        let names = ClaimNames::default();
        for (value, expected) in [
            (json!({}), "grants no Canvass role"),
            (json!({"role": 3}), "grants no Canvass role"),
            (json!({"role": ["analyst", "reviewer"]}), "more than one"),
            (json!({"role": "analyst", "units": [1]}), "malformed"),
            (
                json!({"role": "analyst", "units": ["not a unit!"]}),
                "malformed",
            ),
        ] {
            let error = names
                .principal("s".into(), &claims(value.clone()))
                .unwrap_err();
            assert!(matches!(error, Error::Unauthenticated(_)), "{value}");
            assert!(error.to_string().contains(expected), "{value}: {error}");
        }
        // The same role twice is one role.
        let p = names
            .principal("s".into(), &claims(json!({"role": ["analyst", "analyst"]})))
            .unwrap();
        assert_eq!(p.role, Role::Analyst);
    }

    #[test]
    fn role_mappings_parse() {
        let m: RoleMapping = "a=b=reviewer".parse().unwrap();
        assert_eq!((m.value.as_str(), m.role), ("a=b", Role::Reviewer));
        assert!("nothing".parse::<RoleMapping>().is_err());
        assert!("=admin".parse::<RoleMapping>().is_err());
        assert!("x=emperor".parse::<RoleMapping>().is_err());
    }
}
