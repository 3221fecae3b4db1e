//! Authentication and authorisation: Ed25519-signed JWTs, verified once per call in a tower
//! layer that also enforces each method's roles; handlers read the [`Principal`].

mod cache;
mod keys;
mod layer;
mod principal;

pub use cache::CachedVerifier;
pub use keys::{KeyPaths, TokenIssuer, TokenVerifier, ensure_keypair};
pub use layer::AuthLayer;
pub use principal::{Claims, Principal, Role};
