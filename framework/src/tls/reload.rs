//! Certificates reloaded from disk ([`TlsConfig::reloading`](super::TlsConfig::reloading)): the
//! certified key that new handshakes get, swapped when the files change, and the task that
//! watches the files.
//!
//! The files are polled (read every few seconds, and parsed when their bytes changed) rather
//! than reloaded on SIGHUP: renewals by certbot, cert-manager or a Kubernetes secret mount
//! replace the files without telling the process, a signal needs someone to send it (and is
//! Unix only), and reading two small files every few seconds costs nothing. Their bytes are
//! compared rather than their modification times: a file rewritten in place within the file
//! system's timestamp granularity (milliseconds on Linux) keeps its time, and a key of the
//! same type its length.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::keys::{self, Pem};

/// A certificate chain and key read from two files, and what was last seen of the files.
pub(crate) struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    /// What new handshakes get: swapped whole, so a handshake sees the old pair or the new.
    current: RwLock<Arc<CertifiedKey>>,
    /// The files as they were when last read (or tried).
    seen: Mutex<Fingerprint>,
}

/// A hash of each file's bytes (`None` for a file that cannot be read), to tell that they
/// changed without keeping a copy of the key.
type Fingerprint = [Option<u64>; 2];

impl CertFiles {
    /// Reads and checks both files: what is wrong with them, naming the file, otherwise.
    pub(crate) fn load(cert: &Path, key: &Path) -> Result<CertFiles, String> {
        let (seen, read) = snapshot(cert, key);
        let current = parse(cert, key, read?)?;
        Ok(CertFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new(Arc::new(current)),
            seen: Mutex::new(seen),
        })
    }

    /// The certified key new handshakes get.
    pub(crate) fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().clone()
    }

    /// Reads the files, and swaps their pair in if they changed since they were last read:
    /// `Ok(true)` when the new pair is in use, `Ok(false)` when nothing changed, `Err` (what is
    /// wrong with the new files) when the current pair stays. A pair that failed is not tried
    /// again until the files change again: a certificate written before its key is taken once
    /// the key is.
    pub(crate) fn reload_if_changed(&self) -> Result<bool, String> {
        let (now, read) = snapshot(&self.cert, &self.key);
        {
            let mut seen = self.seen.lock();
            if *seen == now {
                return Ok(false);
            }
            *seen = now;
        }
        let fresh = parse(&self.cert, &self.key, read?)?;
        *self.current.write() = Arc::new(fresh);
        Ok(true)
    }
}

impl std::fmt::Debug for CertFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertFiles").field("cert", &self.cert).field("key", &self.key).finish_non_exhaustive()
    }
}

/// Both files' bytes, certificate then key, or why one cannot be read.
type Read = Result<(Vec<u8>, Vec<u8>), String>;

/// Both files' bytes (or why one cannot be read), and their fingerprint.
fn snapshot(cert: &Path, key: &Path) -> (Fingerprint, Read) {
    let cert_pem = keys::read(cert, &keys::file_name("certificate", cert));
    let key_pem = keys::read(key, &keys::file_name("key", key));
    let hash = |r: &Result<Vec<u8>, String>| {
        r.as_ref().ok().map(|bytes| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            h.finish()
        })
    };
    let seen = [hash(&cert_pem), hash(&key_pem)];
    (seen, cert_pem.and_then(|c| Ok((c, key_pem?))))
}

fn parse(cert: &Path, key: &Path, (cert_pem, key_pem): (Vec<u8>, Vec<u8>)) -> Result<CertifiedKey, String> {
    let cert_name = keys::file_name("certificate", cert);
    let key_name = keys::file_name("key", key);
    keys::parse(&Pem { cert: &cert_pem, cert_name: &cert_name, key: &key_pem, key_name: &key_name })
}

/// rustls's question "which certificate for this handshake?", answered with the files' current
/// pair whatever the client's SNI: a name the certificate does not cover is the client's to
/// refuse.
#[derive(Debug)]
pub(crate) struct Resolver(pub(crate) Arc<CertFiles>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current())
    }
}

/// The task that watches the files, stopped when dropped (when the server stops).
pub(crate) struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts watching `files`: looked at every `interval`, reloaded when they changed. A reload
/// is logged at `info`; a new pair that cannot be used at `warn`, and the pair in use stays.
pub(crate) fn watch(files: Arc<CertFiles>, interval: Duration) -> Watcher {
    Watcher(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // (the first tick is now)
        loop {
            ticks.tick().await;
            let looked = files.clone();
            // (File system calls block: off the runtime's worker threads.)
            let Ok(outcome) = tokio::task::spawn_blocking(move || looked.reload_if_changed()).await else {
                continue;
            };
            match outcome {
                Ok(false) => {}
                Ok(true) => tracing::info!(cert = %files.cert.display(), key = %files.key.display(),
                    "TLS certificate reloaded: new handshakes use it"),
                Err(why) => {
                    tracing::warn!("TLS certificate not reloaded, the previous one stays in use: {why}")
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use crate::tls::reload::*;

    /// Writes a new self-signed pair for `name` into `dir`, replacing the files by renaming
    /// (as certbot and Kubernetes do): the certificate's DER.
    fn write_pair(dir: &Path, name: &str) -> Vec<u8> {
        let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        std::fs::write(dir.join("cert.tmp"), made.cert.pem()).unwrap();
        std::fs::write(dir.join("key.tmp"), made.key_pair.serialize_pem()).unwrap();
        std::fs::rename(dir.join("cert.tmp"), dir.join("cert.pem")).unwrap();
        std::fs::rename(dir.join("key.tmp"), dir.join("key.pem")).unwrap();
        made.cert.der().to_vec()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fratello-reload-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_changed_pair_is_swapped_in_and_a_bad_one_is_not() {
        let dir = temp_dir("swap");
        let first = write_pair(&dir, "one.test");
        let files = CertFiles::load(&dir.join("cert.pem"), &dir.join("key.pem")).unwrap();
        assert_eq!(files.current().cert[0].as_ref(), &first[..]);
        assert_eq!(files.reload_if_changed(), Ok(false), "nothing changed");

        let second = write_pair(&dir, "two.test");
        assert_eq!(files.reload_if_changed(), Ok(true));
        assert_eq!(files.current().cert[0].as_ref(), &second[..]);

        // A key that is not the certificate's: reported, and the pair in use stays.
        let other = rcgen::generate_simple_self_signed(vec!["three.test".to_owned()]).unwrap();
        std::fs::write(dir.join("key.pem"), other.key_pair.serialize_pem()).unwrap();
        let e = files.reload_if_changed().unwrap_err();
        assert!(e.contains("does not match"), "{e}");
        assert_eq!(files.current().cert[0].as_ref(), &second[..]);
        assert_eq!(files.reload_if_changed(), Ok(false), "a failed pair is not tried again unchanged");

        // Its certificate arrives: the pair is complete again.
        std::fs::write(dir.join("cert.pem"), other.cert.pem()).unwrap();
        assert_eq!(files.reload_if_changed(), Ok(true));
        assert_eq!(files.current().cert[0].as_ref(), other.cert.der().as_ref());

        // A file that disappears: reported, the pair in use stays.
        std::fs::remove_file(dir.join("key.pem")).unwrap();
        let e = files.reload_if_changed().unwrap_err();
        assert!(e.contains("key file") && e.contains("cannot read it"), "{e}");
        assert_eq!(files.current().cert[0].as_ref(), other.cert.der().as_ref());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_pair_at_startup_names_the_file() {
        let dir = temp_dir("startup");
        let e = CertFiles::load(&dir.join("cert.pem"), &dir.join("key.pem")).unwrap_err();
        assert!(
            e.starts_with("certificate file") && e.contains("cert.pem") && e.contains("cannot read it"),
            "{e}"
        );
        std::fs::write(dir.join("cert.pem"), "junk").unwrap();
        std::fs::write(dir.join("key.pem"), "junk").unwrap();
        let e = CertFiles::load(&dir.join("cert.pem"), &dir.join("key.pem")).unwrap_err();
        assert!(e.contains("cert.pem") && e.contains("no certificate in it"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
