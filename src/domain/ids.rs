//! Validated identifiers. Ids are client-chosen (an administrative division code works well),
//! so they are restricted to a URL- and log-safe alphabet.

use std::fmt;

/// Checks the shared id syntax: 1-63 characters of `a-z 0-9 - _`, starting with a letter or digit.
fn check_id(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > 63 {
        return Err("must be at most 63 characters".into());
    }
    let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if !value.chars().all(valid_char) {
        return Err("may contain only a-z, 0-9, '-' and '_'".into());
    }
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("must start with a letter or digit".into());
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, String> {
                check_id(value)?;
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// Identifies an administrative unit.
    UnitId
);
id_type!(
    /// Identifies a campaign (survey round).
    CampaignId
);
id_type!(
    /// Identifies a questionnaire.
    QuestionnaireId
);
id_type!(
    /// Identifies an indicator within a questionnaire, or an option within an indicator.
    Code
);

/// Parses a required, non-blank display name and trims it.
pub fn parse_name(value: &str) -> Result<String, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.chars().count() > 200 {
        return Err("must be at most 200 characters".into());
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_codes_and_division_numbers() {
        assert!(UnitId::parse("330102001").is_ok());
        assert!(UnitId::parse("dongshan-office_2").is_ok());
    }

    #[test]
    fn rejects_empty_upper_case_and_foreign_characters() {
        for bad in ["", "Dongshan", "东山", "-x", "a b", &"a".repeat(64)] {
            assert!(UnitId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn names_are_trimmed_and_kept_in_any_script() {
        assert_eq!(parse_name("  东山办事处 ").unwrap(), "东山办事处");
        assert!(parse_name("   ").is_err());
    }
}
