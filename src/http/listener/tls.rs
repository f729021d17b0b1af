//! HTTPS: the certificate, key and optional client CA from PEM files, re-read when they change
//! so a renewed certificate is served without a restart. A change that cannot be used (a half
//! written file, a key that does not match) is logged and the previous certificate kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use anyhow::{Context, bail};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

use crate::config::ListenerArgs;

/// How often the files are compared with what is loaded. Reading three small files a second
/// costs nothing and, unlike change notifications, also sees a Kubernetes secret volume
/// swapping its symlinks.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Files {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

/// The files as read at one moment; the key bytes are wiped when dropped.
struct Contents {
    cert: Vec<u8>,
    key: Zeroizing<Vec<u8>>,
    client_ca: Option<Vec<u8>>,
}

impl Files {
    fn read(&self) -> anyhow::Result<Contents> {
        let read =
            |path: &Path, what: &str| std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()));
        Ok(Contents {
            cert: read(&self.cert, "TOKENBROKER_TLS_CERT_FILE")?,
            key: Zeroizing::new(read(&self.key, "TOKENBROKER_TLS_KEY_FILE")?),
            client_ca: self.client_ca.as_deref().map(|p| read(p, "TOKENBROKER_TLS_CLIENT_CA_FILE")).transpose()?,
        })
    }
}

impl Contents {
    /// Tells one version of the files from another without keeping the key itself.
    fn digest(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        for part in [Some(&self.cert[..]), Some(&self.key[..]), self.client_ca.as_deref()] {
            let part = part.unwrap_or_default();
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        hash.finalize().into()
    }

    fn server_config(&self) -> anyhow::Result<ServerConfig> {
        let certs = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<Vec<_>, _>>()
            .context("TOKENBROKER_TLS_CERT_FILE is not PEM certificates")?;
        if certs.is_empty() {
            bail!("TOKENBROKER_TLS_CERT_FILE holds no certificate");
        }
        // The error names the PEM problem only, never the key's bytes.
        let key =
            PrivateKeyDer::from_pem_slice(&self.key).context("TOKENBROKER_TLS_KEY_FILE is not a PEM private key")?;
        // The aws-lc-rs provider the rest of the build uses (reqwest, sqlx), chosen explicitly
        // rather than through a process-wide default.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(pem) => builder.with_client_cert_verifier(client_verifier(pem, provider)?),
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .context("TOKENBROKER_TLS_CERT_FILE and TOKENBROKER_TLS_KEY_FILE do not form a usable pair")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn client_verifier(
    pem: &[u8],
    provider: Arc<CryptoProvider>,
) -> anyhow::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        roots.add(cert.context("TOKENBROKER_TLS_CLIENT_CA_FILE is not PEM certificates")?)?;
    }
    if roots.is_empty() {
        bail!("TOKENBROKER_TLS_CLIENT_CA_FILE holds no certificate");
    }
    Ok(WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?)
}

/// The server's TLS configuration, replaced as a whole when the files change: connections
/// already open keep the one they were made with.
pub(super) struct Tls {
    files: Files,
    current: RwLock<TlsAcceptor>,
}

impl Tls {
    /// `None` without `TOKENBROKER_TLS_CERT_FILE`; an error (the broker does not start) when
    /// the files cannot be used.
    pub fn load(args: &ListenerArgs) -> anyhow::Result<Option<(Arc<Tls>, [u8; 32])>> {
        let (Some(cert), Some(key)) = (&args.tls_cert_file, &args.tls_key_file) else {
            return Ok(None);
        };
        let files = Files { cert: cert.clone(), key: key.clone(), client_ca: args.tls_client_ca_file.clone() };
        let contents = files.read()?;
        let config = contents.server_config()?;
        let tls = Tls { files, current: RwLock::new(TlsAcceptor::from(Arc::new(config))) };
        Ok(Some((Arc::new(tls), contents.digest())))
    }

    pub fn requires_client_certificates(&self) -> bool {
        self.files.client_ca.is_some()
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Re-reads the files every `RELOAD_INTERVAL` and swaps in a changed configuration; runs
    /// until aborted.
    pub async fn watch(self: Arc<Tls>, mut loaded: [u8; 32]) {
        // The last version tried, good or bad, so a bad one is reported once, not every second.
        let mut tried = loaded;
        let mut unreadable: Option<String> = None;
        loop {
            tokio::time::sleep(RELOAD_INTERVAL).await;
            let files = self.files.clone();
            let Ok(read) = tokio::task::spawn_blocking(move || files.read()).await else { continue };
            let contents = match read {
                Ok(contents) => {
                    unreadable = None;
                    contents
                }
                Err(err) => {
                    let message = format!("{err:#}");
                    if unreadable.as_ref() != Some(&message) {
                        tracing::warn!(error = %message, "TLS files cannot be read; keeping the certificate in use");
                        unreadable = Some(message);
                    }
                    continue;
                }
            };
            let digest = contents.digest();
            if digest == loaded || digest == tried {
                continue;
            }
            tried = digest;
            match contents.server_config() {
                Ok(config) => {
                    *self.current.write().unwrap_or_else(PoisonError::into_inner) = TlsAcceptor::from(Arc::new(config));
                    loaded = digest;
                    tracing::info!("TLS certificate reloaded; new connections use it");
                }
                Err(err) => {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "TLS files changed but cannot be used; keeping the certificate in use"
                    );
                }
            }
        }
    }
}
