//! A private docker-registry (the Debian `docker-registry` package) for pull tests: plain http
//! on 127.0.0.1 at a free port, its own config and storage; stopped on Drop.

use crate::cleanup;
use crate::wait::poll;
use dm_testkit::output;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running docker-registry.
pub struct Registry {
    child: Option<Child>,
    /// `127.0.0.1:<port>`, the host part of image references it serves.
    pub addr: String,
}

impl Registry {
    /// Starts a registry with its config, storage and log under `dir`, and waits until it
    /// accepts connections.
    pub fn start(dir: &Path) -> Registry {
        Registry::start_with(dir, "")
    }

    /// [`Registry::start`] requiring Basic auth: `htpasswd` is the file's one line
    /// (`user:<bcrypt hash>`, the only hash docker-registry accepts).
    pub fn start_htpasswd(dir: &Path, htpasswd: &str) -> Registry {
        let file = dir.join("htpasswd");
        std::fs::write(&file, format!("{htpasswd}\n")).unwrap();
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: dm-test\n    path: {}\n",
            file.display()
        );
        Registry::start_with(dir, &auth)
    }

    /// [`Registry::start`] serving HTTPS with the PEM certificate chain and key given.
    pub fn start_tls(dir: &Path, cert: &Path, key: &Path) -> Registry {
        let tls = format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            cert.display(),
            key.display()
        );
        Registry::start_with(dir, &tls)
    }

    fn start_with(dir: &Path, extra_yaml: &str) -> Registry {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n{extra_yaml}",
                dir.join("registry-data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("registry.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn docker-registry (install docker-registry): {e}"));
        let registry = Registry {
            child: Some(child),
            addr,
        };
        poll("docker-registry to listen", Duration::from_secs(30), || {
            std::net::TcpStream::connect(&registry.addr).ok()
        });
        registry
    }

    /// Pushes the OCI archive `tar` with skopeo as `<addr>/<name>`; returns that reference.
    pub fn push_oci_archive(&self, tar: &Path, name: &str) -> String {
        self.push_oci_archive_as(tar, name, None)
    }

    /// [`Registry::push_oci_archive`] logged in as `creds` (`user:password`).
    pub fn push_oci_archive_as(&self, tar: &Path, name: &str, creds: Option<&str>) -> String {
        let image = format!("{}/{name}", self.addr);
        output({
            let mut c = Command::new("skopeo");
            c.args(["--insecure-policy", "copy", "--dest-tls-verify=false"]);
            if let Some(creds) = creds {
                c.arg(format!("--dest-creds={creds}"));
            }
            c.arg(format!("oci-archive:{}", tar.display()))
                .arg(format!("docker://{image}"));
            c
        })
        .ok();
        image
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            cleanup::terminate(c, Duration::from_secs(15));
        }
    }
}
