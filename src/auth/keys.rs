//! Signing keys, token minting and verification.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use super::principal::{Claims, Principal, Role};
use crate::domain::ids::UnitId;
use crate::error::{Error, Result};
use crate::file_modes;

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, Clone)]
pub struct KeyPaths {
    pub private_key: PathBuf,
    pub public_key: PathBuf,
}

/// Creates an Ed25519 key pair at `paths` unless a public key is already there (a deployment
/// that verifies only needs the public key). The private key file is readable by its owner
/// only, and is tightened to that if it is found open to others.
pub fn ensure_keypair(paths: &KeyPaths) -> Result<bool> {
    file_modes::tighten(&paths.private_key)?;
    if paths.public_key.exists() {
        return Ok(false);
    }
    let io = |path: &Path, e: std::io::Error| Error::internal(format!("{}: {e}", path.display()));
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let private_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| Error::internal(format!("encoding private key: {e}")))?;
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| Error::internal(format!("encoding public key: {e}")))?;
    for path in [&paths.private_key, &paths.public_key] {
        file_modes::create_parents(path)?;
    }
    file_modes::create_private(&paths.private_key, private_pem.as_bytes())
        .map_err(|e| io(&paths.private_key, e))?;
    file_modes::create_public(&paths.public_key, public_pem.as_bytes())
        .map_err(|e| io(&paths.public_key, e))?;
    Ok(true)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))
}

/// Mints tokens with the private key (the `token` subcommand, and tests).
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl TokenIssuer {
    pub fn from_pem_file(path: &Path, issuer: &str, audience: &str) -> Result<Self> {
        let key = EncodingKey::from_ed_pem(&read(path)?).map_err(|e| {
            Error::internal(format!(
                "{}: not an Ed25519 private key: {e}",
                path.display()
            ))
        })?;
        Ok(Self {
            key,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    pub fn mint(
        &self,
        subject: &str,
        role: Role,
        units: &[UnitId],
        ttl: Duration,
    ) -> Result<String> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            units: units.iter().map(ToString::to_string).collect(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + ttl.as_secs(),
            nbf: now,
            iat: now,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.key)
            .map_err(|e| Error::internal(format!("signing token: {e}")))
    }
}

/// Verifies tokens: EdDSA only (so `alg: none` and HMAC-with-the-public-key confusion fail),
/// signature, `exp`, `nbf`, `iss` and `aud` all required and checked.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    pub fn from_pem_file(path: &Path, issuer: &str, audience: &str) -> Result<Self> {
        let key = DecodingKey::from_ed_pem(&read(path)?).map_err(|e| {
            Error::internal(format!(
                "{}: not an Ed25519 public key: {e}",
                path.display()
            ))
        })?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        Ok(Self { key, validation })
    }

    /// # Errors
    /// UNAUTHENTICATED naming what is wrong with the token (never echoing it).
    pub fn verify(&self, token: &str) -> Result<Principal> {
        self.verify_with_expiry(token)
            .map(|(principal, _)| principal)
    }

    /// As [`TokenVerifier::verify`], also returning the token's `exp` (seconds since the Unix
    /// epoch), which bounds how long the result may be reused.
    ///
    /// # Errors
    /// UNAUTHENTICATED naming what is wrong with the token (never echoing it).
    pub fn verify_with_expiry(&self, token: &str) -> Result<(Principal, u64)> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| Error::Unauthenticated(describe(e.kind()).into()))?;
        let claims = data.claims;
        let units = claims
            .units
            .iter()
            .map(|u| UnitId::parse(u))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::Unauthenticated("the token's units claim is malformed".into()))?;
        let principal = Principal {
            subject: claims.sub,
            role: claims.role,
            units,
        };
        Ok((principal, claims.exp))
    }
}

fn describe(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
        ErrorKind::InvalidSignature => "the token's signature is invalid",
        ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
        ErrorKind::InvalidAudience => "the token's audience is not accepted",
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => "the token's algorithm is not accepted (EdDSA required)",
        ErrorKind::MissingRequiredClaim(_) => {
            "the token lacks a required claim (exp, nbf, iss, aud, sub)"
        }
        ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => "the token's claims are malformed",
        _ => "the token is malformed",
    }
}
