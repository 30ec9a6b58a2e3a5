//! TLS for the subscriber socket (and certificate loading shared with the redis-rs
//! command connections): trust roots from `--cacert` or the bundled webpki roots, an
//! optional client identity from `--cert`/`--key`, and `--insecure`.
//!
//! Only rustls' `ring` provider is compiled in (aws-lc-rs would need cmake and a long C
//! build); [`ensure_provider`] also installs it as the process default because redis-rs
//! builds its rustls configs from that default.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme,
};
use tokio_rustls::TlsConnector;

use super::target::Target;

/// The crypto provider every TLS config here uses: ring, chosen explicitly rather than
/// left to rustls' feature-based guess.
fn provider() -> Arc<CryptoProvider> {
    ensure_provider();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(crypto::ring::default_provider()))
}

/// Install ring as the process-wide rustls provider. redis-rs calls
/// `ClientConfig::builder()` (and, for `--insecure`, `CryptoProvider::get_default()`),
/// which need one. Safe to call repeatedly; a provider installed earlier is kept.
pub fn ensure_provider() {
    if CryptoProvider::get_default().is_none() {
        // Err only means another thread won the race: its provider is just as good.
        let _ = crypto::ring::default_provider().install_default();
    }
}

/// `--insecure` removes the protection TLS exists for; say so loudly, once per process.
pub fn warn_insecure_once() {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        eprintln!(
            "redtail: WARNING: --insecure: the server's TLS certificate is NOT verified; \
             anyone between you and the server can read and change this traffic, password \
             included. Use --cacert with the server's CA instead."
        );
    });
}

/// Read a PEM file named by a flag, with an error that names the flag and the file.
pub fn read_pem(flag: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow!("cannot read {flag} file {}: {e}", path.display()))
}

/// Every certificate in a PEM file; an empty file is an error, since silently trusting
/// nothing (or presenting nothing) would only fail later with a vaguer message.
pub fn parse_certs(flag: &str, path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{flag} file {} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        bail!(
            "{flag} file {} contains no certificate (expected a PEM block starting with \
             -----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub fn parse_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        anyhow!(
            "--key file {} holds no usable private key ({e}); expected an unencrypted PEM key \
             (BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY)",
            path.display()
        )
    })
}

/// Trust roots: the `--cacert` bundle if given (and only it, like redis-cli), otherwise
/// the Mozilla roots bundled with webpki-roots.
fn root_store(target: &Target) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match &target.ca_cert {
        Some(path) => {
            let pem = read_pem("--cacert", path)?;
            for cert in parse_certs("--cacert", path, &pem)? {
                roots.add(cert).map_err(|e| {
                    anyhow!(
                        "--cacert file {} holds a certificate that cannot be a trust anchor: {e}",
                        path.display()
                    )
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}

/// The rustls client config for `target`. Files are read on every call so a reconnect
/// picks up rotated certificates.
pub fn client_config(target: &Target) -> Result<Arc<ClientConfig>> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?;
    let builder = if target.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        builder.with_root_certificates(root_store(target)?)
    };
    let config = match (&target.client_cert, &target.client_key) {
        (Some(cert), Some(key)) => {
            let chain = parse_certs("--cert", cert, &read_pem("--cert", cert)?)?;
            let key_der = parse_key(key, &read_pem("--key", key)?)?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                anyhow!(
                    "cannot use --cert {} with --key {}: {e} (do they belong together?)",
                    cert.display(),
                    key.display()
                )
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        // Target::resolve refuses one without the other; this keeps the promise here too.
        _ => bail!("--cert and --key must be given together"),
    };
    Ok(Arc::new(config))
}

/// The name the server's certificate must carry: an IP SAN for an address, a DNS name
/// otherwise.
pub fn server_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_string()).map_err(|_| {
        anyhow!("{host:?} is not a valid host name or IP address for a TLS connection")
    })
}

/// Run the TLS handshake on a connected socket. The caller bounds it with a timeout.
pub async fn handshake(
    target: &Target,
    config: Arc<ClientConfig>,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>> {
    let name = server_name(&target.host)?;
    TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| {
            let text = e.to_string();
            anyhow!(
                "TLS handshake with {} failed: {}",
                target.addr(),
                with_advice(&text)
            )
        })
}

/// `text` followed by what to do about it, when we recognise the TLS problem.
pub fn with_advice(text: &str) -> String {
    match advice(text) {
        Some(a) => format!("{text} — {a}"),
        None => text.to_string(),
    }
}

/// What a person can do about a TLS failure, recognised from the error text (rustls'
/// own wording, which reaches us through io::Error and redis-rs errors alike).
pub fn advice(text: &str) -> Option<&'static str> {
    let has = |k: &str| text.contains(k);
    Some(if has("UnknownIssuer") {
        "pass --cacert with the server's CA certificate (PEM), or --insecure to skip \
         verification (unsafe)"
    } else if has("NotValidForName") || has("not valid for name") {
        "the server's certificate does not list this host name or IP: connect using a name \
         it lists, or pass --insecure to skip verification (unsafe)"
    } else if has("Expired") || has("NotValidYet") || has("not valid yet") {
        "the server's certificate is outside its validity period: renew it or check this \
         machine's clock"
    } else if has("CertificateRequired") {
        "the server requires a client certificate: pass --cert and --key"
    } else if has("UnknownCA") {
        "the server does not trust the client certificate: --cert must be signed by a CA in \
         the server's tls-ca-cert-file"
    } else if has("BadCertificate") || has("UnsupportedCertificate") {
        "the server rejected the client certificate given with --cert/--key"
    } else if has("HandshakeFailure") {
        "the server refused the handshake: it may require a client certificate (--cert and \
         --key)"
    } else if has("InvalidContentType") || has("corrupt message") {
        "the server did not answer with TLS: if this port is not a TLS port, use redis:// \
         without --tls"
    } else {
        return None;
    })
}

/// `--insecure`: accept any server certificate, but still check the handshake
/// signatures so the connection is at least encrypted to whoever holds that key.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        crypto::verify_tls12_signature(
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
    ) -> Result<HandshakeSignatureValid, TlsError> {
        crypto::verify_tls13_signature(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_for_common_failures() {
        assert!(advice("invalid peer certificate: UnknownIssuer")
            .is_some_and(|a| a.contains("--cacert")));
        assert!(advice("received fatal alert: CertificateRequired")
            .is_some_and(|a| a.contains("--cert")));
        assert!(
            advice("received corrupt message of type InvalidContentType")
                .is_some_and(|a| a.contains("redis://"))
        );
        assert_eq!(advice("connection refused"), None);
    }

    #[test]
    fn config_errors_name_the_flag_and_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let t = Target {
            tls: true,
            ca_cert: Some(empty.clone()),
            ..Target::default()
        };
        let err = client_config(&t).map(|_| ()).unwrap_err().to_string();
        assert!(
            err.contains("--cacert") && err.contains("no certificate"),
            "{err}"
        );
        let t = Target {
            tls: true,
            ca_cert: Some(dir.path().join("missing.pem")),
            ..Target::default()
        };
        let err = client_config(&t).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("cannot read --cacert"), "{err}");
    }

    #[test]
    fn default_roots_and_insecure_build() {
        let t = Target {
            tls: true,
            ..Target::default()
        };
        assert!(client_config(&t).is_ok());
        let t = Target {
            tls: true,
            insecure: true,
            ..Target::default()
        };
        assert!(client_config(&t).is_ok());
    }
}
