//! Keys from an identity provider's JSON Web Key Set: a file, or a URL fetched again on a
//! schedule and when a token names a key we do not have.
//!
//! Each key is pinned to one algorithm when the set is read, from its `alg` or, without one,
//! from its type and curve (OKP/Ed25519: EdDSA, EC/P-256: ES256, RSA: RS256); a token's header
//! only chooses the key, by `kid`, and must then name that key's algorithm. Keys of other
//! types or algorithms, encryption keys and keys without a `kid` are left out (with a
//! warning), so a provider that adds one does not stop us from verifying the rest.
//!
//! Each change of the set raises its generation: verified tokens cached under an older
//! generation are checked again, so a token whose key was removed stops working at once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::time::Instant;

use crate::error::{Error, Result};

/// How long one fetch of a JWKS URL may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest key set read (a provider's holds a few keys, a few KiB).
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// A key and the one way tokens signed with it are checked.
pub struct PinnedKey {
    pub key: DecodingKey,
    /// The issuer, audience and required claims of every token, with this key's algorithm.
    pub validation: Validation,
}

/// The keys of one version of the set, by `kid`.
pub struct KeySet {
    pub keys: HashMap<String, PinnedKey>,
    pub generation: u64,
    document: JwkSet,
}

/// Where the key set comes from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    File(PathBuf),
    Url(String),
}

/// How often the set is read again.
#[derive(Debug, Clone, Copy)]
pub struct Refresh {
    /// Every this long in any case.
    pub every: Duration,
    /// At least this long between reads prompted by unknown `kid`s, so that tokens with
    /// made-up `kid`s cannot make us hammer the provider.
    pub unknown_kid_min_interval: Duration,
}

/// The current key set of a source, and its refreshing.
pub struct Jwks {
    source: JwksSource,
    client: Option<reqwest::Client>,
    refresh: Refresh,
    validation: Validation,
    current: RwLock<Arc<KeySet>>,
    generation: AtomicU64,
    /// When the last read prompted by an unknown `kid` started; held while it runs, so that
    /// callers arriving meanwhile wait for it rather than start another.
    last_prompted: tokio::sync::Mutex<Option<Instant>>,
}

impl Jwks {
    /// Reads the set once; fails when it cannot be read or holds no usable key.
    pub async fn load(
        source: JwksSource,
        refresh: Refresh,
        validation: Validation,
    ) -> Result<Self> {
        let client = match &source {
            JwksSource::File(_) => None,
            JwksSource::Url(url) => {
                if url.starts_with("http://") {
                    tracing::warn!(
                        url,
                        "the key set is fetched without TLS: use https:// outside tests"
                    );
                }
                Some(http_client()?)
            }
        };
        let mut jwks = Self {
            source,
            client,
            refresh,
            validation,
            current: RwLock::new(Arc::new(KeySet {
                keys: HashMap::new(),
                generation: 0,
                document: JwkSet::default(),
            })),
            generation: AtomicU64::new(0),
            last_prompted: tokio::sync::Mutex::new(None),
        };
        let document = jwks.fetch().await?;
        let keys = pin_keys(&document, &jwks.validation);
        if keys.is_empty() {
            return Err(Error::internal(format!(
                "{}: the key set holds no usable key (EdDSA, ES256 or RS256 with a kid)",
                jwks.describe()
            )));
        }
        jwks.current = RwLock::new(Arc::new(KeySet {
            keys,
            generation: 0,
            document,
        }));
        Ok(jwks)
    }

    /// The set as it stands.
    pub fn current(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Raised on every change of the set.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Reads the set again and swaps it in when it changed; a failed read keeps the set.
    ///
    /// # Errors
    /// The set could not be read or parsed.
    pub async fn reload(&self) -> Result<bool> {
        let document = self.fetch().await?;
        if document == self.current().document {
            return Ok(false);
        }
        let keys = pin_keys(&document, &self.validation);
        let generation = self.generation() + 1;
        tracing::info!(
            source = %self.describe(),
            keys = keys.len(),
            generation,
            "token signing keys changed"
        );
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(KeySet {
            keys,
            generation,
            document,
        });
        // After the swap: a token verified with the old set is cached under the old number.
        self.generation.store(generation, Ordering::Release);
        Ok(true)
    }

    /// Reads the set again because a token named `kid`, which the set lacks, unless a read
    /// for that reason started less than the minimum interval ago. Returns whether `kid` is
    /// known now.
    pub async fn reload_for_unknown(&self, kid: &str) -> bool {
        let mut last = self.last_prompted.lock().await;
        if self.current().keys.contains_key(kid) {
            // Another caller's read brought it while this one waited.
            return true;
        }
        if last.is_some_and(|at| at.elapsed() < self.refresh.unknown_kid_min_interval) {
            return false;
        }
        *last = Some(Instant::now());
        if let Err(error) = self.reload().await {
            tracing::warn!(%error, source = %self.describe(), "cannot read the token signing keys");
        }
        self.current().keys.contains_key(kid)
    }

    /// Reads the set again every [`Refresh::every`], until dropped with its task.
    pub async fn keep_current(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.refresh.every).await;
            if let Err(error) = self.reload().await {
                tracing::warn!(%error, source = %self.describe(), "cannot read the token signing keys; keeping the ones we have");
            }
        }
    }

    fn describe(&self) -> String {
        match &self.source {
            JwksSource::File(path) => path.display().to_string(),
            JwksSource::Url(url) => url.clone(),
        }
    }

    async fn fetch(&self) -> Result<JwkSet> {
        let text = match (&self.source, &self.client) {
            (JwksSource::File(path), _) => tokio::fs::read(path)
                .await
                .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?,
            (JwksSource::Url(url), Some(client)) => fetch_url(client, url).await?,
            (JwksSource::Url(_), None) => return Err(Error::internal("no HTTP client")),
        };
        serde_json::from_slice(&text)
            .map_err(|e| Error::internal(format!("{}: not a JWK set: {e}", self.describe())))
    }
}

fn http_client() -> Result<reqwest::Client> {
    // reqwest is built without a crypto provider of its own: use the one sqlx's TLS uses,
    // unless the process installed another.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| Error::internal(format!("HTTP client: {e}")))
}

async fn fetch_url(client: &reqwest::Client, url: &str) -> Result<Vec<u8>> {
    let response = client
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| Error::Unavailable(format!("fetching {url}: {e}")))?;
    let body = response
        .bytes()
        .await
        .map_err(|e| Error::Unavailable(format!("fetching {url}: {e}")))?;
    if body.len() > MAX_JWKS_BYTES {
        return Err(Error::internal(format!("{url}: the key set is too large")));
    }
    Ok(body.to_vec())
}

/// The usable keys of `document`, each with `validation` narrowed to its algorithm.
pub fn pin_keys(document: &JwkSet, validation: &Validation) -> HashMap<String, PinnedKey> {
    let mut keys = HashMap::new();
    for jwk in &document.keys {
        let kid = jwk.common.key_id.as_deref().unwrap_or("(none)");
        match pin(jwk) {
            Ok(algorithm) => match (&jwk.common.key_id, DecodingKey::from_jwk(jwk)) {
                (Some(kid), Ok(key)) => {
                    let mut validation = validation.clone();
                    validation.algorithms = vec![algorithm];
                    keys.insert(kid.clone(), PinnedKey { key, validation });
                }
                (None, _) => tracing::warn!("a JWK without a kid is left out"),
                (_, Err(error)) => tracing::warn!(kid, %error, "a malformed JWK is left out"),
            },
            Err(why) => tracing::warn!(kid, why, "a JWK is left out"),
        }
    }
    keys
}

/// The one algorithm a key verifies: its `alg` when it has one, which must suit its type and
/// curve, and otherwise the one its type and curve imply.
pub fn pin(jwk: &Jwk) -> Result<Algorithm, &'static str> {
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return Err("an encryption key");
    }
    let implied = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        _ => return Err("not an Ed25519, P-256 or RSA key"),
    };
    match jwk.common.key_algorithm {
        None => Ok(implied),
        Some(KeyAlgorithm::EdDSA) if implied == Algorithm::EdDSA => Ok(implied),
        Some(KeyAlgorithm::ES256) if implied == Algorithm::ES256 => Ok(implied),
        Some(KeyAlgorithm::RS256) if implied == Algorithm::RS256 => Ok(implied),
        Some(_) => Err("its alg is not EdDSA, ES256 or RS256, or does not suit the key"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn jwk(value: serde_json::Value) -> Jwk {
        serde_json::from_value(value).unwrap()
    }

    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn keys_are_pinned_by_alg_or_type_and_curve() {
        let ed = json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "a"});
        assert_eq!(pin(&jwk(ed.clone())), Ok(Algorithm::EdDSA));
        let mut with_alg = ed.clone();
        with_alg["alg"] = json!("EdDSA");
        assert_eq!(pin(&jwk(with_alg)), Ok(Algorithm::EdDSA));
        // An alg that does not suit the key, or one we do not accept, leaves it out.
        let mut wrong = ed.clone();
        wrong["alg"] = json!("RS256");
        assert!(pin(&jwk(wrong)).is_err());
        let rsa = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "r"});
        assert_eq!(pin(&jwk(rsa.clone())), Ok(Algorithm::RS256));
        let mut ps = rsa.clone();
        ps["alg"] = json!("PS256");
        assert!(pin(&jwk(ps)).is_err());
        let mut hs = json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"});
        assert!(pin(&jwk(hs.clone())).is_err());
        hs["alg"] = json!("HS256");
        assert!(pin(&jwk(hs)).is_err());
        let mut enc = ed;
        enc["use"] = json!("enc");
        assert!(pin(&jwk(enc)).is_err());
    }

    #[test]
    fn only_usable_keys_with_a_kid_are_kept() {
        let document: JwkSet = serde_json::from_value(json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "ed"},
            {"kty": "OKP", "crv": "Ed25519", "x": ED_X},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
        ]}))
        .unwrap();
        let keys = pin_keys(&document, &Validation::new(Algorithm::EdDSA));
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["ed"]);
        assert_eq!(keys["ed"].validation.algorithms, [Algorithm::EdDSA]);
    }
}
