//! What a token check costs: an EdDSA signature verification against a cache hit.

use std::hint::black_box;
use std::time::{Duration, Instant};

use super::server::ScratchDir;
use crate::auth::{CachedVerifier, KeyPaths, Role, TokenIssuer, TokenVerifier, ensure_keypair};
use crate::error::{Error, Result};

#[derive(clap::Args)]
pub struct TokensArgs {
    /// Signature verifications timed (the uncached path).
    #[arg(long, default_value_t = 20_000)]
    verifications: u32,
    /// Cache hits timed.
    #[arg(long, default_value_t = 1_000_000)]
    hits: u32,
}

pub fn run(args: &TokensArgs) -> Result<()> {
    let dir = ScratchDir::new()?;
    let paths = KeyPaths {
        private_key: dir.path().join("jwt-ed25519.pem"),
        public_key: dir.path().join("jwt-ed25519.pub.pem"),
    };
    ensure_keypair(&paths)?;
    let token = TokenIssuer::from_pem_file(&paths.private_key, "canvass", "canvass")?.mint(
        "device-1",
        Role::FieldWorker,
        &[],
        Duration::from_secs(3600),
    )?;
    let verifier = TokenVerifier::from_pem_file(&paths.public_key, "canvass", "canvass")?;
    let cached = CachedVerifier::new(verifier, 10_000);

    let uncached = time(args.verifications, || {
        black_box(cached.uncached().verify(black_box(&token)))
    })?;
    cached.verify(&token)?;
    let hit = time(args.hits, || black_box(cached.verify(black_box(&token))))?;
    if cached.verifications() != 1 {
        return Err(Error::internal(
            "the cache did not serve the repeated token",
        ));
    }
    println!(
        "canvass bench tokens: one EdDSA token ({} bytes), one thread",
        token.len()
    );
    println!();
    println!("| path | per check | checks/s on one core |");
    println!("|---|---|---|");
    for (name, per) in [
        ("signature verification (cache miss)", uncached),
        ("cache hit (SHA-256 of the token + sharded lookup)", hit),
    ] {
        println!(
            "| {name} | {:.2} µs | {:.0} |",
            per.as_secs_f64() * 1e6,
            1.0 / per.as_secs_f64()
        );
    }
    println!();
    println!(
        "a hit costs {:.1}% of a verification ({:.0}x faster)",
        100.0 * hit.as_secs_f64() / uncached.as_secs_f64(),
        uncached.as_secs_f64() / hit.as_secs_f64()
    );
    Ok(())
}

/// Mean time of one `check`, after a short warm-up; every check must succeed.
fn time<T>(iterations: u32, mut check: impl FnMut() -> Result<T>) -> Result<Duration> {
    for _ in 0..iterations.min(1_000) {
        check()?;
    }
    let start = Instant::now();
    for _ in 0..iterations {
        check()?;
    }
    Ok(start.elapsed() / iterations.max(1))
}
