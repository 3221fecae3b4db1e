//! Native TLS (rustls with the ring provider, the one sqlx already uses), with a certificate
//! that can be replaced without a restart: on SIGHUP, and whenever the files' contents change
//! (looked at every `--tls-reload-seconds`). A new pair that does not load (half-written,
//! a key that does not match) leaves the current certificate in place and is logged once.
//! Connections already open keep the certificate they were opened with.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};
use crate::metrics::{Metrics, TLS_RELOADS};

/// The certificate chain and private key files (PEM).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files' contents as last read, to tell a change from the same files read again.
#[derive(PartialEq, Eq)]
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
}

/// Hands every new connection the current certificate.
pub struct ReloadingCert {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// What was last read (loaded or refused): the same contents are not parsed, or
    /// complained about, again.
    last_read: Mutex<Contents>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// What a look at the files found.
#[derive(Debug, PartialEq, Eq)]
pub enum Reload {
    Unchanged,
    Loaded,
    /// The new contents do not load; the current certificate stays.
    Refused(String),
}

impl ReloadingCert {
    /// Loads the pair.
    ///
    /// # Errors
    /// When a file cannot be read, holds no certificate or key, or the key does not match the
    /// certificate: a server asked to speak TLS does not start without it.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let contents = read(&files)?;
        let key = certified_key(&contents, &provider)
            .map_err(|e| Error::internal(format!("{}: {e}", files.cert.display())))?;
        Ok(Arc::new(Self {
            files,
            provider,
            current: RwLock::new(Arc::new(key)),
            last_read: Mutex::new(contents),
        }))
    }

    /// Reads the files again and takes the pair when it changed and loads.
    pub fn reload(&self) -> Reload {
        let contents = match read(&self.files) {
            Ok(contents) => contents,
            Err(e) => return Reload::Refused(e.to_string()),
        };
        let mut last = self
            .last_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *last == contents {
            return Reload::Unchanged;
        }
        let outcome = match certified_key(&contents, &self.provider) {
            Ok(key) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
                Reload::Loaded
            }
            Err(e) => Reload::Refused(e),
        };
        *last = contents;
        outcome
    }

    /// A TLS acceptor that offers HTTP/2 only ("h2" by ALPN) with this certificate.
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::internal(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Reloads on SIGHUP and every `interval` until the task is aborted.
    pub fn watch(
        self: &Arc<Self>,
        interval: Duration,
        metrics: &Metrics,
    ) -> tokio::task::JoinHandle<()> {
        let cert = self.clone();
        let loaded = metrics.counter(TLS_RELOADS, &[("result", "ok".into())]);
        let refused = metrics.counter(TLS_RELOADS, &[("result", "error".into())]);
        tokio::spawn(async move {
            let mut hangup = hangups();
            let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = next_hangup(&mut hangup) => {
                        tracing::info!("SIGHUP: reading the TLS certificate again");
                    }
                }
                match cert.reload() {
                    Reload::Unchanged => {}
                    Reload::Loaded => {
                        loaded.increment(1);
                        tracing::info!(path = %cert.files.cert.display(), "loaded a new TLS certificate");
                    }
                    Reload::Refused(error) => {
                        refused.increment(1);
                        tracing::error!(
                            path = %cert.files.cert.display(),
                            %error,
                            "the new TLS certificate does not load; keeping the current one"
                        );
                    }
                }
            }
        })
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

#[cfg(unix)]
fn hangups() -> Hangups {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup())
        .map_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP"))
        .ok()
}

#[cfg(not(unix))]
fn hangups() -> Hangups {}

#[cfg(unix)]
async fn next_hangup(hangup: &mut Hangups) {
    match hangup {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangups) {
    std::future::pending().await
}

fn read(files: &TlsFiles) -> Result<Contents> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|e| Error::internal(format!("{}: {e}", path.display())))
    };
    Ok(Contents {
        cert: read(&files.cert)?,
        key: read(&files.key)?,
    })
}

/// The chain and key in `contents`, checked to belong together.
fn certified_key(
    contents: &Contents,
    provider: &CryptoProvider,
) -> std::result::Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(&contents.cert)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("reading the certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in the certificate file".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&contents.key)
        .map_err(|e| format!("reading the private key: {e}"))?;
    CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| format!("the key does not fit the certificate: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        (cert.pem(), key.serialize_pem())
    }

    fn write(dir: &std::path::Path, (cert, key): &(String, String)) -> TlsFiles {
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.key, key).expect("key file");
        std::fs::write(&files.cert, cert).expect("cert file");
        files
    }

    fn served(cert: &ReloadingCert) -> Vec<u8> {
        cert.current.read().expect("lock").cert[0].to_vec()
    }

    #[test]
    fn a_broken_or_mismatched_replacement_keeps_the_current_certificate() {
        let dir = tempfile::tempdir().expect("dir");
        let first = pair("first.test");
        let files = write(dir.path(), &first);
        let cert = ReloadingCert::load(files.clone()).expect("loads");
        let original = served(&cert);
        assert_eq!(cert.reload(), Reload::Unchanged);

        std::fs::write(&files.cert, "not a certificate").expect("write");
        assert!(matches!(cert.reload(), Reload::Refused(_)));
        // The same broken contents are not complained about again.
        assert_eq!(cert.reload(), Reload::Unchanged);
        assert_eq!(served(&cert), original);

        // A certificate whose key is another's.
        let (other_cert, _) = pair("other.test");
        std::fs::write(&files.cert, other_cert).expect("write");
        assert!(matches!(cert.reload(), Reload::Refused(e) if e.contains("does not fit")));
        assert_eq!(served(&cert), original);

        write(dir.path(), &pair("second.test"));
        assert_eq!(cert.reload(), Reload::Loaded);
        assert_ne!(served(&cert), original);
    }

    #[test]
    fn a_server_without_a_loadable_pair_does_not_start() {
        let dir = tempfile::tempdir().expect("dir");
        let files = write(dir.path(), &("garbage".into(), "garbage".into()));
        assert!(ReloadingCert::load(files).is_err());
        let missing = TlsFiles {
            cert: dir.path().join("none.pem"),
            key: dir.path().join("none.key"),
        };
        assert!(ReloadingCert::load(missing).is_err());
    }
}
