//! TLS to PostgreSQL with libpq's `sslmode` meanings: `disable` (plain),
//! `require` (encrypted, the server not verified: protects against
//! eavesdropping only), `verify-full` (encrypted, the certificate verified
//! against `ssl_root_cert` or the system's CAs, and its name against the
//! host). rustls on ring, as a tokio-postgres `MakeTlsConnect`, so the
//! sync `postgres` client and tokio-postgres share it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

/// libpq's `sslmode`, the values weir supports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SslMode {
    /// No TLS.
    #[default]
    #[serde(rename = "disable")]
    Disable,
    /// TLS, the server's certificate not checked.
    #[serde(rename = "require")]
    Require,
    /// TLS, the certificate verified and its name matched to the host.
    #[serde(rename = "verify-full")]
    VerifyFull,
}

/// Accepts any certificate (`sslmode=require`), still checking the
/// handshake's signatures so the session key is the server's.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS side of a PostgreSQL connection. Built from the settings
/// whatever the mode (tokio-postgres never asks it for a handshake under
/// `disable`); a setting that cannot be used (an unreadable
/// `ssl_root_cert`) fails each connection with the reason.
#[derive(Clone)]
pub struct MakeRustls(Result<tokio_rustls::TlsConnector, String>);

impl MakeRustls {
    /// For `config`'s `sslmode` and `ssl_root_cert`.
    pub fn for_config(config: &super::PostgresConfig) -> MakeRustls {
        MakeRustls(connector(config.sslmode, &config.ssl_root_cert))
    }
}

/// The rustls client for `mode`, trusting `root_cert` (PEM) or, when empty,
/// the system's CA bundle.
fn connector(mode: SslMode, root_cert: &str) -> Result<tokio_rustls::TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = match mode {
        SslMode::Disable | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth(),
        SslMode::VerifyFull => {
            let roots =
                crate::tls::roots(root_cert).map_err(|e| format!("postgres.ssl_root_cert {e}"))?;
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// tokio-postgres' settings: the URL with `sslmode` as configured.
pub fn tokio_config(
    config: &super::PostgresConfig,
) -> Result<tokio_postgres::Config, tokio_postgres::Error> {
    let mut pg: tokio_postgres::Config = config.url.parse()?;
    pg.ssl_mode(match config.sslmode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
    });
    Ok(pg)
}

/// The sync client's settings: the URL with `sslmode` as configured.
pub fn sync_config(config: &super::PostgresConfig) -> Result<postgres::Config, postgres::Error> {
    let mut pg: postgres::Config = config.url.parse()?;
    pg.ssl_mode(match config.sslmode {
        SslMode::Disable => postgres::config::SslMode::Disable,
        SslMode::Require | SslMode::VerifyFull => postgres::config::SslMode::Require,
    });
    Ok(pg)
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, io::Error> {
        let connector = self
            .0
            .clone()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let name = ServerName::try_from(domain.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("`{domain}`: {e}")))?;
        Ok(RustlsConnect(connector, name))
    }
}

/// One connection's handshake.
pub struct RustlsConnect(tokio_rustls::TlsConnector, ServerName<'static>);

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let stream = self.0.connect(self.1, stream).await?;
            Ok(RustlsStream(stream))
        })
    }
}

/// An encrypted PostgreSQL connection.
pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}
