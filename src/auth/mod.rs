//! Authentication and authorisation: JWTs signed by Canvass's own Ed25519 key or by the
//! keys of an identity provider's JWK set, verified once per call in a tower layer that also
//! checks revocations, rate limits and each method's roles; handlers read the [`Principal`].

mod cache;
mod claims;
mod jwks;
mod keys;
mod layer;
mod limits;
mod principal;
mod rejections;
mod revocation;
mod settings;

pub use cache::CachedVerifier;
pub use claims::{ClaimNames, RoleMapping};
pub use jwks::{Jwks, JwksSource, Refresh};
pub use keys::{KeyPaths, TokenIssuer, TokenVerifier, VerifiedToken, ensure_keypair, validation};
pub use layer::{AuthLayer, Gatekeeper, bearer_token};
pub use limits::{Limits, RateLimit};
pub use principal::{Claims, Principal, Role};
pub use revocation::{REVOCATIONS_CHANGED, Revocations};
pub use settings::IdentityArgs;
