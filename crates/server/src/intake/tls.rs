//! TLS for the syslog listeners (rustls with the ring provider): the server certificate and
//! key from PEM files, and optionally client certificates checked against a CA and mapped to
//! tenants by their SHA-256 fingerprint.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConnection, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

use crate::ServerError;
use crate::config::Syslog;

fn certificates(listener: &str, file: &Path) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(file)
        .map_err(|e| tls_error(listener, format!("{}: {e}", file.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(listener, format!("{}: {e}", file.display())))?;
    if certs.is_empty() {
        return Err(tls_error(
            listener,
            format!("{}: no certificate in it", file.display()),
        ));
    }
    Ok(certs)
}

fn tls_error(listener: &str, message: String) -> ServerError {
    ServerError::Tls {
        listener: listener.to_owned(),
        message,
    }
}

/// The acceptor of a TLS listener.
pub fn acceptor(config: &Syslog) -> Result<TlsAcceptor, ServerError> {
    let name = config.name.as_str();
    let (Some(cert), Some(key)) = (&config.cert, &config.key) else {
        return Err(tls_error(name, "cert and key are required".to_owned()));
    };
    let chain = certificates(name, cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| tls_error(name, format!("{}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(name, e.to_string()))?;
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certificates(name, ca)? {
                roots
                    .add(c)
                    .map_err(|e| tls_error(name, format!("{}: {e}", ca.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| tls_error(name, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let server = builder
        .with_single_cert(chain, key)
        .map_err(|e| tls_error(name, e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// `sha256:<hex>` of the client's certificate, when it presented one.
pub fn client_fingerprint(session: &ServerConnection) -> Option<String> {
    let cert = session.peer_certificates()?.first()?;
    Some(fingerprint(cert.as_ref()))
}

/// `sha256:<hex>` of a DER certificate, as `client_tenants` keys are written.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let mut out = String::from("sha256:");
    for b in digest.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}
