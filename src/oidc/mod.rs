//! Single sign-on through OpenID Connect (the `openidconnect` crate): the provider's metadata
//! and keys from discovery, the authorization request (code flow with PKCE, state and nonce),
//! the code exchange, and the ID token checked (signature with the provider's keys and an
//! algorithm it announces, never `none` or a shared-secret one; issuer; audience; nonce;
//! expiry). What the claims mean for ranah is the core's ([`crate::domain::signin`]).

use std::str::FromStr as _;

use base64::Engine as _;
use openidconnect::core::{
    CoreClient, CoreIdToken, CoreJwsSigningAlgorithm, CoreResponseType, CoreTokenResponse,
};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndSessionUrl,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, LogoutRequest, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    TokenResponse as _,
};
use serde_json::Value;

use crate::config::OidcConfig;

/// The client as discovery leaves it: the authorization endpoint set, the token and UserInfo
/// endpoints as the metadata gives them.
type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How long a call to the provider may take.
const PROVIDER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// What went wrong with the provider or its answer.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Discovery failed: the provider cannot be reached or its metadata is not usable.
    #[error("the single sign-on provider {issuer} cannot be used: {cause}")]
    Discovery {
        /// The issuer.
        issuer: String,
        /// Why.
        cause: String,
    },
    /// A configured address is not a URL.
    #[error("{0}")]
    Address(String),
    /// The code could not be exchanged at the token endpoint.
    #[error("the provider refused the sign-in code: {0}")]
    Exchange(String),
    /// The token answer had no ID token.
    #[error("the provider's answer carried no ID token")]
    NoIdToken,
    /// The ID token failed a check (signature, issuer, audience, nonce, expiry).
    #[error("the ID token was refused: {0}")]
    IdToken(String),
}

/// A sign-in about to be sent to the provider: where to send the browser, and what must come
/// back with it (kept by the caller until then).
#[derive(Debug)]
pub struct Authorization {
    /// The provider's authorization address with every parameter.
    pub url: String,
    /// The `state` parameter.
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier of the challenge sent.
    pub pkce_verifier: String,
}

/// A verified ID token.
#[derive(Debug, Clone)]
pub struct Verified {
    /// `issuer sub`: the provider's stable id of the person.
    pub external_id: String,
    /// Every claim of the token, as sent.
    pub claims: Value,
    /// The token itself (for `id_token_hint` at logout).
    pub id_token: String,
    /// The refresh token, when the provider gave one.
    pub refresh_token: Option<String>,
}

/// What a refresh found.
#[derive(Debug)]
pub enum Refreshed {
    /// The provider still vouches for the person: a new ID token if it sent one (checked as at
    /// sign-in, but without a nonce), and the refresh token to use next.
    Valid {
        /// The new ID token, verified.
        verified: Option<Verified>,
        /// The refresh token to keep (the new one, or the old if none came).
        refresh_token: String,
    },
    /// The provider refused: the person signed out there, was disabled, or the grant ended.
    Refused(String),
}

/// The provider, discovered.
pub struct Provider {
    client: OidcClient,
    http: reqwest::Client,
    scopes: Vec<String>,
    issuer: String,
    client_id: String,
    algorithms: Vec<CoreJwsSigningAlgorithm>,
    end_session: Option<EndSessionUrl>,
    provider_logout: bool,
    jwks_uri: openidconnect::JsonWebKeySetUrl,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// Read the provider's metadata and keys; `redirect` is ranah's callback address.
    pub async fn discover(config: &OidcConfig, redirect: &str) -> Result<Self, OidcError> {
        let failed = |cause: String| OidcError::Discovery {
            issuer: config.issuer.clone(),
            cause,
        };
        // Redirects are not followed: a provider's endpoints are named in its metadata, and a
        // redirect to elsewhere is how such a client is turned against the network it sits in.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let issuer = IssuerUrl::new(config.issuer.clone()).map_err(|e| failed(e.to_string()))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &http)
            .await
            .map_err(|e| failed(error_chain(&e)))?;
        // Only the asymmetric algorithms the provider announces: never `none`, and never HMAC,
        // where the "signature" is made with the client secret.
        let algorithms: Vec<CoreJwsSigningAlgorithm> = metadata
            .id_token_signing_alg_values_supported()
            .iter()
            .filter(|a| {
                !matches!(
                    a,
                    CoreJwsSigningAlgorithm::None
                        | CoreJwsSigningAlgorithm::HmacSha256
                        | CoreJwsSigningAlgorithm::HmacSha384
                        | CoreJwsSigningAlgorithm::HmacSha512
                )
            })
            .cloned()
            .collect();
        if algorithms.is_empty() {
            return Err(failed(
                "it announces no asymmetric algorithm for ID tokens".into(),
            ));
        }
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let jwks_uri = metadata.jwks_uri().clone();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(config.client_id.clone()),
            config
                .client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose().to_owned())),
        )
        .set_redirect_uri(
            RedirectUrl::new(redirect.to_owned())
                .map_err(|e| OidcError::Address(format!("redirect address {redirect}: {e}")))?,
        );
        Ok(Self {
            client,
            http,
            scopes: config.scopes.clone(),
            issuer: config.issuer.clone(),
            client_id: config.client_id.clone(),
            algorithms,
            end_session,
            provider_logout: config.provider_logout,
            jwks_uri,
        })
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// A new sign-in: fresh state, nonce and PKCE verifier (S256).
    pub fn authorize(&self) -> Authorization {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self.client.authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in self.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        }
    }

    /// Exchange the code that came back and check the ID token against `nonce`.
    pub async fn finish(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<Verified, OidcError> {
        let request = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Exchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
        let answer: CoreTokenResponse = request
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Exchange(error_chain(&e)))?;
        let id_token = answer.id_token().ok_or(OidcError::NoIdToken)?;
        let mut verified = match self.verify(id_token, Some(nonce)) {
            Ok(v) => v,
            // The provider may have rotated its keys since they were read: read them again,
            // once, and check with those.
            Err(first) => match self.verify_with_fresh_keys(id_token, Some(nonce)).await {
                Ok(v) => v,
                Err(_) => return Err(first),
            },
        };
        verified.refresh_token = answer.refresh_token().map(|t| t.secret().clone());
        Ok(verified)
    }

    /// Ask the provider again, with the refresh token, whether the person may stay signed in.
    /// An error is the provider not answering (the session is kept); a refusal is `Refused`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Refreshed, OidcError> {
        let token = RefreshToken::new(refresh_token.to_owned());
        let request = self
            .client
            .exchange_refresh_token(&token)
            .map_err(|e| OidcError::Exchange(e.to_string()))?;
        let answer: CoreTokenResponse = match request.request_async(&self.http).await {
            Ok(a) => a,
            Err(RequestTokenError::ServerResponse(e)) => {
                return Ok(Refreshed::Refused(e.to_string()));
            }
            Err(e) => return Err(OidcError::Exchange(error_chain(&e))),
        };
        // A refreshed ID token that fails its checks ends the session: the provider's word is
        // not taken without them.
        let verified = match answer.id_token() {
            Some(id_token) => match self.verify(id_token, None) {
                Ok(v) => Some(v),
                Err(_) => match self.verify_with_fresh_keys(id_token, None).await {
                    Ok(v) => Some(v),
                    Err(e) => return Ok(Refreshed::Refused(e.to_string())),
                },
            },
            None => None,
        };
        Ok(Refreshed::Valid {
            verified,
            refresh_token: answer
                .refresh_token()
                .map(|t| t.secret().clone())
                .unwrap_or_else(|| refresh_token.to_owned()),
        })
    }

    /// [`Provider::verify`] with the provider's keys read again now.
    async fn verify_with_fresh_keys(
        &self,
        id_token: &CoreIdToken,
        nonce: Option<&str>,
    ) -> Result<Verified, OidcError> {
        let keys = openidconnect::JsonWebKeySet::fetch_async(&self.jwks_uri, &self.http)
            .await
            .map_err(|e| {
                OidcError::IdToken(format!("its keys could not be read: {}", error_chain(&e)))
            })?;
        let verifier = openidconnect::core::CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.client_id.clone()),
            IssuerUrl::new(self.issuer.clone()).map_err(|e| OidcError::Address(e.to_string()))?,
            keys,
        )
        .set_allowed_algs(self.algorithms.iter().cloned());
        self.verify_with(&verifier, id_token, nonce)
    }

    /// Check an ID token: signature, issuer, audience, expiry, and the nonce of the sign-in
    /// (a refreshed token carries none to check).
    fn verify(&self, id_token: &CoreIdToken, nonce: Option<&str>) -> Result<Verified, OidcError> {
        let verifier = self
            .client
            .id_token_verifier()
            .set_allowed_algs(self.algorithms.iter().cloned());
        self.verify_with(&verifier, id_token, nonce)
    }

    fn verify_with(
        &self,
        verifier: &openidconnect::core::CoreIdTokenVerifier<'_>,
        id_token: &CoreIdToken,
        nonce: Option<&str>,
    ) -> Result<Verified, OidcError> {
        let claims = match nonce {
            Some(nonce) => id_token.claims(verifier, &Nonce::new(nonce.to_owned())),
            None => id_token.claims(verifier, |_: Option<&Nonce>| Ok(())),
        }
        .map_err(|e| OidcError::IdToken(error_chain(&e)))?;
        let external_id = format!("{} {}", claims.issuer().as_str(), claims.subject().as_str());
        let compact = id_token.to_string();
        // The signature is checked: the payload is read again whole, so that every claim the
        // provider sent (roles, groups, the agency) is there to map, not only the standard ones.
        let payload = compact
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .ok_or_else(|| OidcError::IdToken("its payload is not JSON".into()))?;
        Ok(Verified {
            external_id,
            claims: payload,
            id_token: compact,
            refresh_token: None,
        })
    }

    /// Where to send the browser to end the provider's session too (RP-initiated logout), if
    /// configured and offered; `after` is where the provider sends it back.
    pub fn logout_url(&self, id_token: Option<&str>, after: &str) -> Option<String> {
        if !self.provider_logout {
            return None;
        }
        let endpoint = self.end_session.clone()?;
        let mut request =
            LogoutRequest::from(endpoint).set_client_id(ClientId::new(self.client_id.clone()));
        if let Some(token) = id_token.and_then(|t| CoreIdToken::from_str(t).ok()) {
            request = request.set_id_token_hint(&token);
        }
        if let Ok(after) = PostLogoutRedirectUrl::new(after.to_owned()) {
            request = request.set_post_logout_redirect_uri(after);
        }
        Some(request.http_get_url().to_string())
    }
}

/// An error with its causes, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}
