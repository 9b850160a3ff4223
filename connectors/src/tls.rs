//! TLS for weir's own listeners (the API server, the HTTP and gRPC ingest
//! gateways): rustls on ring, the certificate chain and key read from PEM
//! files, and read again on SIGHUP or when either file changes (checked
//! every `reload_ms`), without dropping a connection: new handshakes get
//! the new certificate. A reload that fails (a half-written file) keeps
//! the certificate in use and is logged.
//!
//! warp 0.4 serves plain TCP only, so [`serve_warp`] accepts, completes
//! the handshake, and hands each connection to hyper with warp's filter as
//! the service (HTTP/1.1 with upgrades, for the WebSocket).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// `[…tls]`: a listener's certificate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM file of the certificate chain (leaf first); empty: plain TCP.
    pub cert_path: String,
    /// PEM file of the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_path: String,
    /// How often the files' modification times are looked at (a change is
    /// read at once on SIGHUP too).
    pub reload_ms: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_path: String::new(),
            key_path: String::new(),
            reload_ms: 5_000,
        }
    }
}

impl TlsConfig {
    /// Whether this listener speaks TLS.
    pub fn enabled(&self) -> bool {
        !self.cert_path.is_empty()
    }
}

/// Why a certificate could not be used.
#[derive(Debug, thiserror::Error)]
#[error("tls: {0}")]
pub struct TlsError(String);

fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError(format!("{}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError(format!("{}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(TlsError(format!("{}: no certificate", cert.display())));
    }
    let der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError(format!("{}: {e}", key.display())))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|e| TlsError(format!("{}: {e}", key.display())))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| TlsError(format!("{} and {}: {e}", cert.display(), key.display())))?;
    Ok(Arc::new(certified))
}

/// The certificate in use, replaced by reloads.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|k| Arc::clone(&k))
    }
}

/// A listener's TLS: the acceptor and the certificate it serves.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    current: Arc<Current>,
    cert: PathBuf,
    key: PathBuf,
}

impl Tls {
    /// Reads the files (an error names the file); `None` when TLS is off.
    pub fn new(config: &TlsConfig) -> Result<Option<Tls>, TlsError> {
        if !config.enabled() {
            return Ok(None);
        }
        if config.key_path.is_empty() {
            return Err(TlsError("cert_path is set but key_path is not".into()));
        }
        let (cert, key) = (
            PathBuf::from(&config.cert_path),
            PathBuf::from(&config.key_path),
        );
        let current = Arc::new(Current(RwLock::new(load(&cert, &key)?)));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            current,
            cert,
            key,
        }))
    }

    /// For HTTP/1.1 only (warp): no `h2` in ALPN.
    pub fn http1_only(mut self) -> Tls {
        let mut config = (*self.acceptor.config().clone()).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        self.acceptor = TlsAcceptor::from(Arc::new(config));
        self
    }

    /// The acceptor (handshakes with the certificate of the moment).
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Reads the files again; keeps the old certificate on failure.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = load(&self.cert, &self.key)?;
        if let Ok(mut slot) = self.current.0.write() {
            *slot = fresh;
        }
        Ok(())
    }

    /// Reloads on SIGHUP and when a file's modification time changes.
    pub async fn watch(self, every: Duration) {
        let stamp = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut seen: (Option<SystemTime>, Option<SystemTime>) =
            (stamp(&self.cert), stamp(&self.key));
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
        loop {
            let signalled = tokio::select! {
                _ = tick.tick() => false,
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
            };
            let now = (stamp(&self.cert), stamp(&self.key));
            if !signalled && now == seen {
                continue;
            }
            seen = now;
            match self.reload() {
                Ok(()) => {
                    tracing::info!(cert = %self.cert.display(), signalled, "tls certificate reloaded")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "tls certificate not reloaded (the one in use stays)")
                }
            }
        }
    }
}

/// The connections of `listener` after their handshake, for a server that
/// takes a stream of them (tonic): handshakes run concurrently, each for at
/// most 10 s; failed ones are logged at debug and dropped.
pub fn incoming(
    listener: TcpListener,
    tls: Tls,
) -> tokio::sync::mpsc::Receiver<
    std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>,
> {
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let acceptor = tls.acceptor().clone();
            let handed = sender.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let _ = handed.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "tls handshake failed"),
                    Err(_) => tracing::debug!(%peer, "tls handshake timed out"),
                }
            });
            if sender.is_closed() {
                return;
            }
        }
    });
    receiver
}

/// Where the system keeps its CA bundle (`SSL_CERT_FILE` first).
fn system_bundle() -> Option<PathBuf> {
    std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .map(PathBuf::from),
        )
        .find(|p| p.is_file())
}

/// The CAs a TLS client trusts: those of `ca_file` (PEM), or of the
/// system's bundle when it is empty. Certificates rustls cannot use are
/// skipped; a file with none it can is an error naming it.
pub fn roots(ca_file: &str) -> Result<rustls::RootCertStore, String> {
    let bundle = if ca_file.is_empty() {
        system_bundle().ok_or("no system CA bundle (set the CA file or SSL_CERT_FILE)")?
    } else {
        PathBuf::from(ca_file)
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(&bundle).map_err(|e| format!("{}: {e}", bundle.display()))?
    {
        let cert = cert.map_err(|e| format!("{}: {e}", bundle.display()))?;
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(format!("{}: no usable CA certificate", bundle.display()));
    }
    Ok(roots)
}

/// `[…tls]` of a connection weir makes (to an MQTT broker): whether it
/// speaks TLS, whom it trusts, and optionally a client certificate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientTls {
    /// Connect over TLS (MQTT's usual port for it is 8883).
    pub enabled: bool,
    /// PEM file of the CAs the server's certificate must chain to; empty:
    /// the system's bundle. The name is checked against the host connected to.
    pub ca_file: String,
    /// PEM file of a client certificate chain, for servers that ask for one
    /// (Mosquitto's `require_certificate`); empty: none.
    pub cert_path: String,
    /// PEM file of the client certificate's private key.
    pub key_path: String,
}

impl ClientTls {
    /// The rustls client this describes; errors name the file at fault.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        client_config(&self.ca_file, &self.cert_path, &self.key_path)
    }
}

/// A TLS client (rustls on ring) trusting `ca_file` (or the system's
/// bundle when empty), presenting `cert_path`/`key_path` when both are given.
pub fn client_config(
    ca_file: &str,
    cert_path: &str,
    key_path: &str,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let roots = roots(ca_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match (cert_path.is_empty(), key_path.is_empty()) {
        (true, true) => builder.with_no_client_auth(),
        (false, false) => {
            let chain = CertificateDer::pem_file_iter(cert_path)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| format!("{cert_path}: {e}"))?;
            if chain.is_empty() {
                return Err(format!("{cert_path}: no certificate"));
            }
            let key =
                PrivateKeyDer::from_pem_file(key_path).map_err(|e| format!("{key_path}: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("{cert_path} with {key_path}: {e}"))?
        }
        _ => return Err("a client certificate needs both cert_path and key_path".into()),
    };
    Ok(Arc::new(config))
}

/// Serves `filter` on `listener` over TLS until the runtime stops. A
/// client that does not complete the handshake (plain HTTP, a scanner) is
/// dropped after at most 10 s without holding up others.
pub async fn serve_warp<F>(listener: TcpListener, tls: Tls, filter: F)
where
    F: warp::Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let service = warp::service(filter);
    let mut connections = incoming(listener, tls);
    while let Some(Ok(stream)) = connections.recv().await {
        let service = hyper_util::service::TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .with_upgrades()
                .await
            {
                tracing::debug!(error = %e, "tls connection ended");
            }
        });
    }
}
