//! Test certificates for HTTPS registries and the per-registry CA directory dockerd reads.

use dm_testkit::output;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA and a server certificate for 127.0.0.1 signed by it, made with the openssl CLI in
/// `dir`: returns (CA dir for clients, holding `ca.crt`; server cert; server key).
pub fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir.join("ca")).unwrap();
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    output({
        let mut c = Command::new("sh");
        c.arg("-ec")
            .arg(
                "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                   -keyout ca.key -out ca/ca.crt -days 1 -subj /CN=dm-registry-test-ca 2>/dev/null
                 openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                   -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
                 openssl x509 -req -in server.csr -CA ca/ca.crt -CAkey ca.key -CAcreateserial \
                   -out server.crt -days 1 -extfile san.ext 2>/dev/null",
            )
            .current_dir(dir);
        c
    })
    .ok();
    (
        dir.join("ca"),
        dir.join("server.crt"),
        dir.join("server.key"),
    )
}

/// `/etc/docker/certs.d/<host:port>/ca.crt`, where dockerd looks for a registry's CA; the
/// directory (and `certs.d` itself when this made it) is removed on Drop.
pub struct DockerCertsDir {
    dir: PathBuf,
    made_parent: bool,
}

impl DockerCertsDir {
    /// Installs `ca` as the CA of registry `addr` (`host:port`, unique to the test).
    pub fn install(addr: &str, ca: &Path) -> DockerCertsDir {
        let parent = Path::new("/etc/docker/certs.d");
        let made_parent = !parent.exists();
        let dir = parent.join(addr);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let guard = DockerCertsDir { dir, made_parent };
        std::fs::copy(ca, guard.dir.join("ca.crt")).unwrap();
        guard
    }
}

impl Drop for DockerCertsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.made_parent {
            // Only if empty: another test may have its own registry's CA there now.
            let _ = std::fs::remove_dir("/etc/docker/certs.d");
        }
    }
}
