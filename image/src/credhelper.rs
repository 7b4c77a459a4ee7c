//! docker's credential-helper protocol: `docker-credential-<name> get` reads the registry's
//! server URL on stdin and prints `{"Username": ..., "Secret": ...}`; a user name of
//! `<token>` marks the secret as an identity (refresh) token.

use crate::auth::{AuthError, Credentials};
use serde::Deserialize;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// What helpers print when they hold nothing for the URL (docker-credential-helpers'
/// `ErrCredentialsNotFound` text); docker treats it as "no credentials", not as a failure.
const NOT_FOUND: &str = "credentials not found";

/// The server URL docker keys Docker Hub's credentials by; other registries use the host.
const HUB_SERVER_URL: &str = "https://index.docker.io/v1/";

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Asks helper `name` for `host`'s credentials; `Ok(None)` when it has none. Runs the helper
/// synchronously: it is a short local process, asked once per registry and cached by the caller.
pub(crate) fn get(name: &str, host: &str, hub: bool) -> Result<Option<Credentials>, AuthError> {
    let fail = |message: String| AuthError::Helper {
        helper: name.to_owned(),
        host: host.to_owned(),
        message,
    };
    let program = format!("docker-credential-{name}");
    let url = if hub { HUB_SERVER_URL } else { host };
    ask(Path::new(&program), url).map_err(fail)
}

/// Runs `program get` for `url`; the error is a message for [`AuthError::Helper`].
fn ask(program: &Path, url: &str) -> Result<Option<Credentials>, String> {
    let program = program.display();
    let fail = |m: String| m;
    let mut child = Command::new(program.to_string())
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its exit status below.
        let _ = stdin.write_all(url.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("waiting for {program}: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stdout.contains(NOT_FOUND) || stderr.contains(NOT_FOUND) {
            return Ok(None);
        }
        let said = format!("{} {}", stdout.trim(), stderr.trim());
        return Err(fail(format!("{} ({})", out.status, said.trim())));
    }
    let a: Answer = serde_json::from_str(stdout.trim()).map_err(|e| {
        fail(format!(
            "its answer is not {{\"Username\",\"Secret\"}} JSON: {e}"
        ))
    })?;
    if a.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if a.username == "<token>" {
        Credentials {
            identity_token: Some(a.secret),
            ..Credentials::default()
        }
    } else {
        Credentials {
            username: a.username,
            password: a.secret,
            identity_token: None,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A helper script that prints `out` and exits with `code` after saving its stdin.
    fn helper(dir: &Path, out: &str, code: i32) -> std::path::PathBuf {
        let p = dir.join(format!("docker-credential-t{code}"));
        let script = format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 9\ncat > {}/url\necho '{out}'\nexit {code}\n",
            dir.display()
        );
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn helper_answers_passwords_tokens_and_not_found() {
        let dir = dm_testkit::TempDir::new("dm-credhelper");
        let d = dir.path();
        let c = ask(
            &helper(d, r#"{"Username":"u","Secret":"p"}"#, 0),
            "reg:5000",
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(d.join("url")).unwrap(), "reg:5000");
        let c = c.unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        assert_eq!(c.identity_token, None);
        let c = ask(
            &helper(d, r#"{"Username":"<token>","Secret":"rt"}"#, 0),
            "r",
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.identity_token.as_deref(), Some("rt"));
        assert!(c.password.is_empty());
        let none = ask(
            &helper(d, "credentials not found in native keychain", 1),
            "r",
        );
        assert_eq!(none.unwrap(), None);
        let e = ask(&helper(d, "dbus is down", 3), "r").unwrap_err();
        assert!(e.contains("dbus is down"), "{e}");
        let e = ask(&helper(d, "not json", 0), "r").unwrap_err();
        assert!(e.contains("Username"), "{e}");
        let e = ask(&d.join("docker-credential-missing"), "r").unwrap_err();
        assert!(e.contains("cannot run"), "{e}");
    }
}
