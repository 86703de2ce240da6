//! A certificate chain and its private key, from PEM: parsed by rustls-pki-types, the key
//! loaded and checked against the certificate by rustls. Every failure says which file (or
//! which argument) and what was wrong with it.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The crypto provider of everything fratello's TLS builds: *ring* (see the module docs).
/// Named explicitly rather than taken from rustls's process-wide default, which panics when
/// another crate in the program turns on a second provider.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// A certificate chain and key as their PEM bytes, with what to call each in a message
/// (`certificate file "cert.pem"`, or `certificate PEM`).
pub(crate) struct Pem<'a> {
    pub(crate) cert: &'a [u8],
    pub(crate) cert_name: &'a str,
    pub(crate) key: &'a [u8],
    pub(crate) key_name: &'a str,
}

/// What to call a file in a message: `certificate file "cert.pem"`.
pub(crate) fn file_name(what: &str, path: &Path) -> String {
    format!("{what} file {:?}", path.display().to_string())
}

/// The bytes of the file at `path`, or what kept them from being read (`name` is what the
/// message calls the file).
pub(crate) fn read(path: &Path, name: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{name}: cannot read it: {e}"))
}

/// The certified key the PEM holds: the chain (end-entity certificate first) and the key,
/// which must match the end-entity certificate.
pub(crate) fn parse(pem: &Pem<'_>) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(pem.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not valid PEM: {}", pem.cert_name, describe(&e)))?;
    if chain.is_empty() {
        return Err(format!(
            "{}: no certificate in it (expected PEM blocks `-----BEGIN CERTIFICATE-----`)",
            pem.cert_name
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(pem.key).map_err(|e| match e {
        pem::Error::NoItemsFound => format!(
            "{}: no private key in it (expected a PEM block `-----BEGIN PRIVATE KEY-----`, \
             `-----BEGIN RSA PRIVATE KEY-----` or `-----BEGIN EC PRIVATE KEY-----`)",
            pem.key_name
        ),
        e => format!("{}: not valid PEM: {}", pem.key_name, describe(&e)),
    })?;
    let key = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("{}: not a private key rustls can use: {e}", pem.key_name))?;
    let certified = CertifiedKey::new(chain, key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(_)) => Err(format!(
            "{} does not match the first certificate of {} (the end-entity certificate comes first, \
             and the key must be its own)",
            pem.key_name, pem.cert_name
        )),
        Err(e) => Err(format!("{}: the first certificate cannot be used: {e}", pem.cert_name)),
    }
}

/// A PEM error in words (its `Display` for a missing end line prints raw bytes).
fn describe(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!("a section has no end line `{}`", String::from_utf8_lossy(end_marker))
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("a malformed `-----BEGIN` line `{}`", String::from_utf8_lossy(line))
        }
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::tls::keys::*;

    fn pair(name: &str) -> (String, String) {
        let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        (made.cert.pem(), made.key_pair.serialize_pem())
    }

    fn parsed(cert: &str, key: &str) -> Result<CertifiedKey, String> {
        parse(&Pem { cert: cert.as_bytes(), cert_name: "cert", key: key.as_bytes(), key_name: "key" })
    }

    #[test]
    fn a_matching_pair_parses() {
        let (cert, key) = pair("localhost");
        let certified = parsed(&cert, &key).unwrap();
        assert_eq!(certified.cert.len(), 1);
    }

    #[test]
    fn each_failure_names_its_input_and_what_was_wrong() {
        let (cert, key) = pair("localhost");
        let (_, other_key) = pair("localhost");
        let e = parsed("", &key).unwrap_err();
        assert!(e.starts_with("cert: no certificate in it"), "{e}");
        let e = parsed(&cert, "not a key").unwrap_err();
        assert!(e.starts_with("key: no private key in it"), "{e}");
        let e = parsed(&cert, &other_key).unwrap_err();
        assert!(e.starts_with("key does not match the first certificate of cert"), "{e}");
        let e = parsed(&key, &key).unwrap_err();
        assert!(e.starts_with("cert: no certificate in it"), "{e}");
        let truncated = &cert[..cert.len() - 30];
        let e = parsed(truncated, &key).unwrap_err();
        assert!(e.starts_with("cert: not valid PEM: a section has no end line"), "{e}");
        let garbled = cert.replace("MII", "M!I");
        let e = parsed(&garbled, &key).unwrap_err();
        assert!(e.starts_with("cert: not valid PEM"), "{e}");
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let path = Path::new("/nonexistent/fratello/cert.pem");
        let name = file_name("certificate", path);
        assert_eq!(name, r#"certificate file "/nonexistent/fratello/cert.pem""#);
        let e = read(path, &name).unwrap_err();
        assert!(
            e.starts_with(r#"certificate file "/nonexistent/fratello/cert.pem": cannot read it: "#),
            "{e}"
        );
    }
}
