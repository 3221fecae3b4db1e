//! Verified tokens, remembered until they expire.
//!
//! A device sends the same token for hours, and an EdDSA signature check costs ~40 µs of CPU on
//! the machines we run on (shared/PERFORMANCE.md): at tens of thousands of calls a second that
//! is the largest cost on the hot path. So the result of a successful verification is kept,
//! keyed by the SHA-256 of the whole token (any change to header, claims or signature is another
//! key), until the token's `exp`. Failures are never kept: a bad token costs a verification
//! every time, as it should, and cannot push good tokens out.
//!
//! The cache is bounded in entries and sharded (quick_cache): a hit takes one shard's read
//! lock, never a global one. Eviction is S3-FIFO, so a burst of one-off tokens does not flush
//! the devices that call all day; an expired entry is dropped when it is next looked up, or
//! evicted as cold.

use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;
use sha2::{Digest, Sha256};

use super::keys::{TokenVerifier, VerifiedToken};
use crate::error::Result;

/// A [`TokenVerifier`] with a bounded cache of the tokens it has accepted.
pub struct CachedVerifier {
    verifier: TokenVerifier,
    /// `None` when caching is switched off (capacity 0).
    cache: Option<Cache<[u8; 32], VerifiedToken>>,
    /// Signature checks performed (cache misses), for tests and the benchmark.
    verifications: AtomicU64,
    /// Calls answered from the cache, for the metrics.
    hits: AtomicU64,
}

fn cache_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl CachedVerifier {
    /// Keeps up to `capacity` verified tokens; 0 verifies every call.
    pub fn new(verifier: TokenVerifier, capacity: usize) -> Self {
        Self {
            verifier,
            cache: (capacity > 0).then(|| Cache::new(capacity)),
            verifications: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        }
    }

    /// What a token says, from the cache when it was verified before and has not expired.
    ///
    /// # Errors
    /// UNAUTHENTICATED naming what is wrong with the token, as [`TokenVerifier::verify`].
    pub fn verify(&self, token: &str) -> Result<VerifiedToken> {
        let now = jsonwebtoken::get_current_timestamp();
        match self.lookup_at(token, now) {
            Some(hit) => Ok(hit),
            None => self.verify_fresh_at(token, now),
        }
    }

    /// The cached result for `token`, if it is still good: before the token's `exp`, and
    /// verified with the keys as they are now (a key removed from the provider's set takes
    /// its cached tokens with it).
    pub fn lookup(&self, token: &str) -> Option<VerifiedToken> {
        self.lookup_at(token, jsonwebtoken::get_current_timestamp())
    }

    /// Verifies `token`'s signature and claims, and caches the result.
    ///
    /// # Errors
    /// UNAUTHENTICATED naming what is wrong with the token, as [`TokenVerifier::verify`].
    pub fn verify_fresh(&self, token: &str) -> Result<VerifiedToken> {
        self.verify_fresh_at(token, jsonwebtoken::get_current_timestamp())
    }

    /// As [`CachedVerifier::verify_fresh`]; when the token names a key the provider's set
    /// lacks, first reads the set again (as often as [`TokenVerifier::reload_for`] allows).
    ///
    /// # Errors
    /// UNAUTHENTICATED naming what is wrong with the token.
    pub async fn verify_fresh_reloading(&self, token: &str) -> Result<VerifiedToken> {
        match self.verify_fresh(token) {
            Err(error) if self.verifier.reload_for(token).await => {
                drop(error);
                self.verify_fresh(token)
            }
            outcome => outcome,
        }
    }

    fn lookup_at(&self, token: &str, now: u64) -> Option<VerifiedToken> {
        let cache = self.cache.as_ref()?;
        let key = cache_key(token);
        let hit = cache.get(&key)?;
        if now < hit.expires_at && hit.generation == self.verifier.generation() {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Some(hit);
        }
        cache.remove(&key);
        None
    }

    /// Verifies with the real clock; `now` only decides whether the result is worth keeping.
    fn verify_fresh_at(&self, token: &str, now: u64) -> Result<VerifiedToken> {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let verified = self.verifier.verify_token(token)?;
        // A token inside its expiry leeway still verifies, but is not worth keeping.
        if let Some(cache) = &self.cache
            && now < verified.expires_at
        {
            cache.insert(cache_key(token), verified.clone());
        }
        Ok(verified)
    }

    /// Signature checks performed so far (every call that was not a cache hit).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Calls answered from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Tokens currently cached.
    pub fn cached(&self) -> usize {
        self.cache.as_ref().map_or(0, Cache::len)
    }

    /// The verifier without the cache, to measure what a miss costs.
    pub fn uncached(&self) -> &TokenVerifier {
        &self.verifier
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    use super::*;
    use crate::auth::keys::{KeyPaths, TokenIssuer, ensure_keypair};
    use crate::auth::principal::{Claims, Role};
    use crate::error::Error;

    struct Keys {
        _dir: tempfile::TempDir,
        paths: KeyPaths,
    }

    fn keys() -> Keys {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = KeyPaths {
            private_key: dir.path().join("key.pem"),
            public_key: dir.path().join("key.pub.pem"),
        };
        ensure_keypair(&paths).expect("key pair");
        Keys { _dir: dir, paths }
    }

    fn verifier(keys: &Keys, capacity: usize) -> CachedVerifier {
        let inner = TokenVerifier::from_pem_file(&keys.paths.public_key, "canvass", "canvass")
            .expect("verifier");
        CachedVerifier::new(inner, capacity)
    }

    fn token(keys: &Keys, subject: &str, ttl: Duration) -> String {
        TokenIssuer::from_pem_file(&keys.paths.private_key, "canvass", "canvass")
            .expect("issuer")
            .mint(subject, Role::FieldWorker, &[], ttl)
            .expect("token")
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    impl CachedVerifier {
        fn verify_at(&self, token: &str, now: u64) -> Result<VerifiedToken> {
            match self.lookup_at(token, now) {
                Some(hit) => Ok(hit),
                None => self.verify_fresh_at(token, now),
            }
        }
    }

    #[test]
    fn a_repeated_token_is_verified_once() {
        let keys = keys();
        let tokens = verifier(&keys, 100);
        let t = token(&keys, "worker-1", Duration::from_secs(3600));
        let first = tokens.verify(&t).expect("valid").principal;
        let second = tokens.verify(&t).expect("valid").principal;
        assert_eq!(first, second);
        assert_eq!(first.subject, "worker-1");
        assert_eq!(tokens.verifications(), 1);
        assert_eq!(tokens.cached(), 1);
    }

    #[test]
    fn an_entry_is_not_used_past_the_tokens_expiry() {
        let keys = keys();
        let tokens = verifier(&keys, 100);
        let t = token(&keys, "worker-1", Duration::from_secs(60));
        tokens.verify_at(&t, now()).expect("valid");
        tokens.verify_at(&t, now() + 30).expect("still cached");
        assert_eq!(tokens.verifications(), 1);
        // Past `exp` the cached entry is dropped and the token verified again (the signature
        // check's own clock still accepts it); it is not cached again.
        tokens.verify_at(&t, now() + 61).expect("verified afresh");
        assert_eq!(tokens.verifications(), 2);
        assert_eq!(tokens.cached(), 0);
    }

    #[test]
    fn expired_tokens_are_refused_and_not_cached() {
        let keys = keys();
        let tokens = verifier(&keys, 100);
        let pem = std::fs::read(&keys.paths.private_key).expect("private key");
        let key = EncodingKey::from_ed_pem(&pem).expect("encoding key");
        let issued = now() - 7200;
        let claims = Claims {
            sub: "worker-1".into(),
            role: Role::FieldWorker,
            units: Vec::new(),
            iss: "canvass".into(),
            aud: "canvass".into(),
            exp: issued + 3600,
            nbf: issued,
            iat: issued,
            jti: "t1".into(),
        };
        let expired =
            jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key).expect("encode");
        for _ in 0..2 {
            let error = tokens.verify(&expired).unwrap_err();
            assert!(matches!(error, Error::Unauthenticated(_)), "{error:?}");
        }
        assert_eq!(tokens.verifications(), 2);
        assert_eq!(tokens.cached(), 0);
    }

    #[test]
    fn a_token_that_failed_verification_is_never_cached() {
        let keys = keys();
        let tokens = verifier(&keys, 100);
        let good = token(&keys, "worker-1", Duration::from_secs(3600));
        // Same header and claims, another signature.
        let (signed, _) = good.rsplit_once('.').expect("three parts");
        let forged = format!("{signed}.{}", "A".repeat(86));
        for _ in 0..3 {
            assert!(tokens.verify(&forged).is_err());
        }
        assert_eq!(tokens.verifications(), 3);
        assert_eq!(tokens.cached(), 0);
        // The genuine token is unaffected.
        tokens.verify(&good).expect("valid");
        assert_eq!(tokens.cached(), 1);
    }

    #[test]
    fn the_cache_holds_at_most_its_capacity() {
        let keys = keys();
        let capacity = 16;
        let tokens = verifier(&keys, capacity);
        let issuer = TokenIssuer::from_pem_file(&keys.paths.private_key, "canvass", "canvass")
            .expect("issuer");
        for i in 0..200 {
            let t = issuer
                .mint(
                    &format!("device-{i}"),
                    Role::FieldWorker,
                    &[],
                    Duration::from_secs(3600),
                )
                .expect("token");
            tokens.verify(&t).expect("valid");
            assert!(tokens.cached() <= capacity, "{} cached", tokens.cached());
        }
        assert!(tokens.cached() > 0);
    }

    #[test]
    fn capacity_zero_verifies_every_call() {
        let keys = keys();
        let tokens = verifier(&keys, 0);
        let t = token(&keys, "worker-1", Duration::from_secs(3600));
        tokens.verify(&t).expect("valid");
        tokens.verify(&t).expect("valid");
        assert_eq!(tokens.verifications(), 2);
        assert_eq!(tokens.cached(), 0);
    }
}
