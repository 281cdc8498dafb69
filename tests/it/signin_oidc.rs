//! Single sign-on against a provider that does what the test tells it: a correct provider for
//! the account's first and later sign-ins and logout, and a hostile one whose ID tokens fail one
//! check each (audience, expiry, signature, no signature at all, nonce). Each refusal is told to
//! the browser and recorded. The real provider in a real browser is `browser.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::console::{Browser, events};
use crate::harness::*;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// How the next ID token is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Good,
    WrongAudience,
    Expired,
    Unsigned,
    OtherKey,
    WrongNonce,
}

/// What the provider will answer for a code.
#[derive(Clone, Debug)]
struct Grant {
    nonce: String,
    challenge: String,
    claims: Value,
    token: Token,
}

/// What the token endpoint answers to a refresh.
#[derive(Clone, Debug, Default)]
enum Refresh {
    /// A new ID token with these claims.
    Claims(Value),
    /// `invalid_grant`: the person is no longer signed in at the provider.
    #[default]
    Refuse,
}

#[derive(Default)]
struct Shared {
    refresh: Refresh,
    /// Refresh requests seen.
    refreshes: usize,
    grants: HashMap<String, Grant>,
    /// The PKCE verifiers that matched their challenge.
    verified: Vec<String>,
    /// Token requests whose verifier did not match.
    mismatched: usize,
}

/// The provider: discovery, keys, the token endpoint, on a loopback port of its own.
struct Provider {
    issuer: String,
    shared: Arc<Mutex<Shared>>,
    _runtime: tokio::runtime::Runtime,
}

fn key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

impl Provider {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let issuer = format!("http://{addr}");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = (issuer.clone(), shared.clone());
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .with_state(state);
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            issuer,
            shared,
            _runtime: runtime,
        }
    }

    fn config(&self) -> String {
        format!(
            r#"
[console]
sign_ins_per_minute = 1000
[console.oidc]
issuer = "{}"
client_id = "ranah"
client_secret = "rahasia-klien-uji"
agency_claim = "agency"
[console.oidc.roles]
kadis = ["head_of_office"]
opd = ["applicant"]
"#,
            self.issuer
        )
    }
}

type ProviderState = (String, Arc<Mutex<Shared>>);

async fn discovery(State((issuer, _)): State<ProviderState>) -> Json<Value> {
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "end_session_endpoint": format!("{issuer}/session/end"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks() -> Json<Value> {
    let public = key(7).verifying_key();
    Json(json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "k1", "use": "sig", "alg": "EdDSA",
        "x": B64.encode(public.as_bytes()),
    }]}))
}

async fn token(
    State((issuer, shared)): State<ProviderState>,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        let mut shared = shared.lock().unwrap();
        shared.refreshes += 1;
        let Refresh::Claims(claims) = shared.refresh.clone() else {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_grant", "error_description": "session ended"})),
            )
                .into_response();
        };
        let grant = Grant {
            nonce: String::new(),
            challenge: String::new(),
            claims,
            token: Token::Good,
        };
        return Json(json!({
            "access_token": "opaque",
            "token_type": "Bearer",
            "expires_in": 300,
            "refresh_token": "refresh-2",
            "id_token": id_token(&issuer, &grant, false),
        }))
        .into_response();
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let mut shared = shared.lock().unwrap();
    let grant = shared.grants.remove(&code).expect("a code the test made");
    if B64.encode(sha2::Sha256::digest(verifier.as_bytes())) == grant.challenge {
        shared.verified.push(verifier);
    } else {
        shared.mismatched += 1;
    }
    Json(json!({
        "access_token": "opaque",
        "token_type": "Bearer",
        "expires_in": 300,
        "refresh_token": "refresh-1",
        "id_token": id_token(&issuer, &grant, true),
    }))
    .into_response()
}

/// An ID token as `grant` says, with its nonce (at sign-in) or without (at a refresh).
fn id_token(issuer: &str, grant: &Grant, with_nonce: bool) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = grant.claims.clone();
    let fields = claims.as_object_mut().unwrap();
    fields.insert("iss".into(), json!(issuer));
    fields.insert(
        "sub".into(),
        json!(format!(
            "sub-{}",
            grant.claims["preferred_username"].as_str().unwrap_or("x")
        )),
    );
    fields.insert(
        "aud".into(),
        json!(if grant.token == Token::WrongAudience {
            "another-client"
        } else {
            "ranah"
        }),
    );
    let (iat, exp) = if grant.token == Token::Expired {
        (now - 1200, now - 600)
    } else {
        (now, now + 300)
    };
    fields.insert("iat".into(), json!(iat));
    fields.insert("exp".into(), json!(exp));
    if with_nonce {
        fields.insert(
            "nonce".into(),
            json!(if grant.token == Token::WrongNonce {
                "another-nonce".to_owned()
            } else {
                grant.nonce.clone()
            }),
        );
    }
    let payload = B64.encode(serde_json::to_vec(&claims).unwrap());
    if grant.token == Token::Unsigned {
        format!(
            "{}.{payload}.",
            B64.encode(br#"{"alg":"none","typ":"JWT"}"#)
        )
    } else {
        let header = B64.encode(br#"{"alg":"EdDSA","kid":"k1","typ":"JWT"}"#);
        let signing = format!("{header}.{payload}");
        let signer = if grant.token == Token::OtherKey {
            key(9)
        } else {
            key(7)
        };
        let signature = signer.sign(signing.as_bytes());
        format!("{signing}.{}", B64.encode(signature.to_bytes()))
    }
}

/// A query parameter of an address.
fn param(url: &str, name: &str) -> String {
    let query = url.split_once('?').unwrap().1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// Sign in through the provider as the claims say, with the token made as `token`. Returns the
/// callback's answer and the callback's address (to replay it).
fn sign_in(
    b: &Browser,
    provider: &Provider,
    claims: Value,
    token: Token,
) -> (crate::console::Page, String) {
    let start = b.get("/signin/oidc");
    assert_eq!(start.status, 303, "{start:?}");
    let to = start.header("location").unwrap();
    assert!(
        to.starts_with(&format!("{}/auth?", provider.issuer)),
        "{to}"
    );
    assert_eq!(param(&to, "response_type"), "code");
    assert_eq!(param(&to, "code_challenge_method"), "S256");
    assert_eq!(param(&to, "client_id"), "ranah");
    assert!(param(&to, "redirect_uri").ends_with("/signin/callback"));
    assert!(param(&to, "scope").split(' ').any(|s| s == "openid"));
    let code = format!("code-{}", param(&to, "state"));
    provider.shared.lock().unwrap().grants.insert(
        code.clone(),
        Grant {
            nonce: param(&to, "nonce"),
            challenge: param(&to, "code_challenge"),
            claims,
            token,
        },
    );
    let callback = format!("/signin/callback?code={code}&state={}", param(&to, "state"));
    (b.get(&callback), callback)
}

fn kadis_claims() -> Value {
    json!({"preferred_username": "199001012020011001", "email": "kadis@example.go.id",
           "groups": ["kadis"], "name": "Kepala Dinas"})
}

fn start(provider: &Provider) -> Daemon {
    Daemon::start_test_zone_configured(&provider.config())
}

#[test]
fn the_first_sign_in_makes_the_user_later_ones_keep_the_roles_in_step_and_logout_ends_both() {
    let provider = Provider::start();
    let d = start(&provider);
    let tokens = setup_people(&d);
    let ops = &tokens[5];

    let b = Browser::new(&d);
    assert!(b.get("/").body.contains("href=\"/signin/oidc\""));
    let (signed, _) = sign_in(&b, &provider, kadis_claims(), Token::Good);
    assert_eq!(signed.status, 303, "{signed:?}");
    assert_eq!(signed.header("location").as_deref(), Some("/inbox"));
    let inbox = b.get("/inbox");
    assert_eq!(inbox.status, 200);
    assert!(inbox.body.contains("199001012020011001"), "{}", inbox.body);
    {
        let shared = provider.shared.lock().unwrap();
        assert_eq!(shared.verified.len(), 1, "ranah sent its PKCE verifier");
        assert_eq!(shared.mismatched, 0);
    }
    let added = events(&d, ops, "user.add");
    let sso = added
        .iter()
        .find(|e| e["target"] == "user/199001012020011001")
        .unwrap();
    assert_eq!(sso["summary"]["via"], "oidc");
    assert_eq!(sso["summary"]["roles"], json!(["head_of_office"]));

    // A later sign-in where the provider says more: the roles follow, and the change is
    // recorded; the same claims again change nothing.
    let more = json!({"preferred_username": "199001012020011001", "email": "kadis@example.go.id",
                      "groups": ["kadis", "opd", "offline_access"], "agency": "DINKES"});
    let b2 = Browser::new(&d);
    assert_eq!(
        sign_in(&b2, &provider, more.clone(), Token::Good).0.status,
        303
    );
    let b3 = Browser::new(&d);
    assert_eq!(sign_in(&b3, &provider, more, Token::Good).0.status, 303);
    let changes = events(&d, ops, "user.roles");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["summary"]["before"], json!(["head_of_office"]));
    assert_eq!(
        changes[0]["summary"]["after"],
        json!(["applicant", "head_of_office"])
    );

    // Logout ends ranah's session and sends the browser to end the provider's too.
    let csrf = b3.get("/inbox").hidden("csrf");
    let out = b3.post("/signout", &[("csrf", &csrf)]);
    assert_eq!(out.status, 303);
    let to = out.header("location").unwrap();
    assert!(
        to.starts_with(&format!("{}/session/end?", provider.issuer)),
        "{to}"
    );
    assert!(!param(&to, "id_token_hint").is_empty());
    assert_eq!(
        param(&to, "post_logout_redirect_uri"),
        format!("http://{}/", d.api)
    );
    assert_eq!(b3.get("/inbox").status, 303);
}

#[test]
fn id_tokens_that_fail_a_check_replays_and_unmapped_or_disabled_accounts_are_refused_and_recorded()
{
    let provider = Provider::start();
    let d = start(&provider);
    let tokens = setup_people(&d);
    let ops = &tokens[5];

    for (token, words) in [
        (Token::WrongAudience, "audience"),
        (Token::Expired, "expired"),
        (Token::OtherKey, "signature"),
        (Token::Unsigned, "signature"),
        (Token::WrongNonce, "nonce"),
    ] {
        let b = Browser::new(&d);
        let (page, _) = sign_in(&b, &provider, kadis_claims(), token);
        assert_eq!(page.status, 502, "{token:?}: {page:?}");
        assert!(page.body.contains("id=\"message\""), "{}", page.body);
        assert!(
            page.body.to_lowercase().contains(words),
            "{token:?}: {}",
            page.body
        );
        assert_eq!(b.session(), None, "{token:?}");
    }
    let refused = events(&d, ops, "signin.refused");
    assert_eq!(refused.len(), 5, "{refused:?}");
    assert!(refused.iter().all(|e| e["summary"]["method"] == "oidc"));
    assert!(events(&d, ops, "signin").is_empty());
    assert!(
        events(&d, ops, "user.add")
            .iter()
            .all(|e| e["summary"]["via"].is_null())
    );

    // A good sign-in, then its callback again (a replayed state, and with it the nonce).
    let b = Browser::new(&d);
    let (page, callback) = sign_in(&b, &provider, kadis_claims(), Token::Good);
    assert_eq!(page.status, 303);
    let again = b.get(&callback);
    assert_eq!(again.status, 400, "{again:?}");
    assert!(
        again.body.contains("sudah pernah dipakai"),
        "{}",
        again.body
    );
    // A callback that comes to a browser that did not begin the sign-in (login CSRF).
    let start = b.get("/signin/oidc");
    let to = start.header("location").unwrap();
    let stranger = Browser::new(&d);
    let page = stranger.get(&format!(
        "/signin/callback?code=x&state={}",
        param(&to, "state")
    ));
    assert_eq!(page.status, 400, "{page:?}");
    // The provider's own refusal.
    let page = b.get(&format!(
        "/signin/callback?error=access_denied&error_description=ditolak&state={}",
        param(&b.get("/signin/oidc").header("location").unwrap(), "state")
    ));
    assert_eq!(page.status, 403, "{page:?}");
    assert!(page.body.contains("access_denied"), "{}", page.body);

    // Claims that map to no role: refused, and the live session of that account ends.
    let nothing = json!({"preferred_username": "199001012020011001", "groups": ["offline_access"]});
    let (page, _) = sign_in(&Browser::new(&d), &provider, nothing, Token::Good);
    assert_eq!(page.status, 403, "{page:?}");
    assert!(page.body.contains("offline_access"), "{}", page.body);
    assert_eq!(b.get("/inbox").status, 303, "the earlier session ended");

    // A disabled account: refused at the provider's next sign-in.
    let b = Browser::new(&d);
    assert_eq!(
        sign_in(&b, &provider, kadis_claims(), Token::Good).0.status,
        303
    );
    cli_ok(&d, &["user", "disable", "199001012020011001"]);
    assert_eq!(b.get("/inbox").status, 303);
    let (page, _) = sign_in(&Browser::new(&d), &provider, kadis_claims(), Token::Good);
    assert_eq!(page.status, 403, "{page:?}");

    let reasons: Vec<String> = events(&d, ops, "signin.refused")
        .iter()
        .map(|e| e["summary"]["reason"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        reasons.contains(&"state replayed".to_owned()),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"came back to another browser".to_owned()),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("access_denied")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("offline_access")),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"disabled".to_owned()), "{reasons:?}");
}

#[test]
fn the_provider_is_asked_again_with_the_refresh_token_and_its_answer_holds() {
    let provider = Provider::start();
    let d = start(&provider);
    let tokens = setup_people(&d);
    let ops = &tokens[5];
    let b = Browser::new(&d);
    assert_eq!(
        sign_in(&b, &provider, kadis_claims(), Token::Good).0.status,
        303
    );
    assert_eq!(b.get("/inbox").status, 200);
    // Within console.oidc.recheck_minutes the provider is not asked.
    assert_eq!(provider.shared.lock().unwrap().refreshes, 0);

    // Later: the provider now gives the applicant's role too; the next page has it.
    provider.shared.lock().unwrap().refresh = Refresh::Claims(json!({
        "preferred_username": "199001012020011001", "groups": ["kadis", "opd"], "agency": "DINKES"
    }));
    let past = "UPDATE sessions SET checked_at = '2020-01-01T00:00:00Z'";
    store_exec(&d.dir, past, None);
    let inbox = b.get("/inbox");
    assert_eq!(inbox.status, 200, "{inbox:?}");
    assert!(
        inbox.body.contains("href=\"/requests/new\""),
        "{}",
        inbox.body
    );
    assert_eq!(provider.shared.lock().unwrap().refreshes, 1);
    let changes = events(&d, ops, "user.roles");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        changes[0]["summary"]["after"],
        json!(["applicant", "head_of_office"])
    );
    // Asked once: the next page within the interval asks nothing.
    assert_eq!(b.get("/inbox").status, 200);
    assert_eq!(provider.shared.lock().unwrap().refreshes, 1);

    // The person signed out or was disabled at the provider: signed out here at the next check.
    provider.shared.lock().unwrap().refresh = Refresh::Refuse;
    store_exec(&d.dir, past, None);
    assert_eq!(b.get("/inbox").status, 303);
    let ends = events(&d, ops, "session.end");
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0]["summary"]["reason"], "provider");
    assert!(
        ends[0]["summary"]["detail"]
            .as_str()
            .unwrap()
            .contains("invalid_grant")
    );
    let kept = store_query(
        &d.dir,
        "SELECT id FROM sessions WHERE refresh_token IS NOT NULL",
    );
    assert!(
        kept.is_empty(),
        "no refresh token is kept past its session: {kept:?}"
    );
}
