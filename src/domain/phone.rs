//! Phone numbers: validated as E.164 at the boundary and kept only as a keyed hash.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// An E.164 number such as `+8613800138000`. Deliberately not `Debug`-printable in full.
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts `+` followed by 7 to 15 digits, the first not zero.
    pub fn parse(value: &str) -> Result<Self, String> {
        let digits = value
            .strip_prefix('+')
            .ok_or("must be in E.164 form, e.g. +8613800138000")?;
        let valid = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err("must be in E.164 form, e.g. +8613800138000".into())
        }
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneNumber(<redacted>)")
    }
}

/// HMAC-SHA256 of a normalised number: enough to spot the same respondent twice, useless for
/// recovering the number without the key (a plain SHA-256 of a phone number is reversible by
/// trying every number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RespondentHash(pub [u8; 32]);

/// The server secret behind [`RespondentHash`]; kept apart from the database.
#[derive(Clone)]
pub struct PhoneHasher {
    key: Vec<u8>,
}

impl PhoneHasher {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    pub fn hash(&self, number: &PhoneNumber) -> RespondentHash {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(number.0.as_bytes());
        RespondentHash(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for PhoneHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneHasher(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_test_vector() {
        let hasher = PhoneHasher::new(b"test-key".to_vec());
        let hash = hasher.hash(&PhoneNumber::parse("+8613800138000").unwrap());
        assert_eq!(
            hex::encode(hash.0),
            "9a9bc7bd5c95ab9a8a8d387bf256aa823605ed762ee9a503d0d572515eef5680"
        );
    }

    #[test]
    fn rejects_numbers_that_are_not_e164() {
        for bad in [
            "13800138000",
            "+0861380013",
            "+86 138 0013 8000",
            "+",
            "+123456",
            "+1234567890123456",
        ] {
            assert!(
                PhoneNumber::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn never_prints_the_number() {
        let number = PhoneNumber::parse("+8613800138000").unwrap();
        assert!(!format!("{number:?}").contains("138"));
    }
}
