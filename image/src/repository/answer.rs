//! Answering a registry's 401 challenge: Basic from the credentials file, or a Bearer token
//! from the realm the challenge names (distribution's token auth), asked for the challenge's
//! scope plus any the session added (a cross-repository mount needs pull on the source).

use super::Repository;
use crate::auth::Challenge;
use crate::config::Endpoint;
use crate::error::{RegistryError, Result};
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;

impl Repository {
    /// The `Authorization` value answering `c`: Basic from the credentials, or a Bearer token
    /// from the realm the registry names (asked with the credentials if there are any).
    pub(super) async fn answer(&self, ep: &Endpoint, c: &Challenge) -> Result<String> {
        let creds = self
            .0
            .client
            .opts
            .auth
            .get(&self.0.domain)
            .map_err(|e| self.unauthorized(&e.to_string()))?;
        let no_creds = || {
            self.unauthorized(&format!(
                "authentication required and the auth file has no credentials for {}",
                self.0.domain
            ))
        };
        match c.scheme.as_str() {
            "basic" => creds
                .filter(|c| c.identity_token.is_none())
                .map(|c| c.basic_header())
                .ok_or_else(no_creds),
            "bearer" => {
                let realm = c
                    .params
                    .get("realm")
                    .ok_or_else(|| self.unauthorized("Bearer challenge without a realm"))?;
                let mut url = reqwest::Url::parse(realm)
                    .map_err(|e| self.unauthorized(&format!("token realm {realm:?}: {e}")))?;
                // The registry-wide session (login) asks for no scope unless challenged to.
                let scope = c.params.get("scope").cloned().or_else(|| {
                    (!self.0.path.is_empty()).then(|| format!("repository:{}:pull", self.0.path))
                });
                let mut scopes: Vec<String> = scope.iter().cloned().collect();
                {
                    let extra = self
                        .0
                        .extra_scopes
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    scopes.extend(extra.iter().filter(|x| Some(*x) != scope.as_ref()).cloned());
                }
                let service = c.params.get("service");
                let http = self.0.client.http(ep)?;
                let rb = match creds.as_ref().and_then(|c| c.identity_token.as_deref()) {
                    // docker's identity token is an OAuth2 refresh token: it is exchanged
                    // with a form POST, never sent as a password.
                    Some(refresh) => {
                        let mut form = vec![
                            ("grant_type", "refresh_token"),
                            ("client_id", "dockermind"),
                            ("refresh_token", refresh),
                        ];
                        if let Some(s) = service {
                            form.push(("service", s));
                        }
                        let joined = scopes.join(" ");
                        form.push(("scope", &joined));
                        let body = form
                            .iter()
                            .fold(
                                form_urlencoded::Serializer::new(String::new()),
                                |mut s, (k, v)| {
                                    s.append_pair(k, v);
                                    s
                                },
                            )
                            .finish();
                        http.post(url.clone())
                            .header(
                                reqwest::header::CONTENT_TYPE,
                                "application/x-www-form-urlencoded",
                            )
                            .body(body)
                    }
                    None => {
                        {
                            let mut q = url.query_pairs_mut();
                            if let Some(s) = service {
                                q.append_pair("service", s);
                            }
                            for s in &scopes {
                                q.append_pair("scope", s);
                            }
                        }
                        let rb = http.get(url.clone());
                        match &creds {
                            Some(cr) => rb.header(AUTHORIZATION, cr.basic_header()),
                            None => rb,
                        }
                    }
                };
                let resp = rb
                    .send()
                    .await
                    .map_err(|e| RegistryError::transport(url.as_str(), &e))?;
                if resp.status() == StatusCode::UNAUTHORIZED
                    || resp.status() == StatusCode::FORBIDDEN
                {
                    return Err(match creds {
                        None => no_creds(),
                        Some(_) => self.unauthorized("the token server refused the credentials"),
                    });
                }
                let resp = self.check(resp, "token").await?;
                let text = resp
                    .text()
                    .await
                    .map_err(|e| RegistryError::transport(url.as_str(), &e))?;
                let body: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| self.unauthorized(&format!("token response from {url}: {e}")))?;
                let token = body
                    .get("token")
                    .or_else(|| body.get("access_token"))
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| {
                        self.unauthorized(&format!("token response from {url} has no token"))
                    })?;
                Ok(format!("Bearer {token}"))
            }
            other => Err(self.unauthorized(&format!("unsupported auth scheme {other:?}"))),
        }
    }
}
