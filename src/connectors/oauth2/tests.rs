//! The connector's own logic: the authorization URL it builds, what it needs
//! from a connection, and how each answer of the upstream maps, against a
//! tiny loopback server that answers as GitHub's token, `/user` and
//! `/user/emails` endpoints do (or as each test needs).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, json};

use super::*;
use crate::model::connection::{ConnectionOptions, Strategy};
use crate::outbound::Destinations;

const CALLBACK: &str = "https://switchyard.example/login/callback";
/// RFC 7636, Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn connection(strategy: Strategy, options: Value) -> Connection {
    let options = ConnectionOptions::decode(strategy, options.as_object().cloned().unwrap())
        .unwrap_or_else(|e| panic!("{e:?}"));
    Connection {
        id: "con_1".into(),
        name: "social".into(),
        strategy,
        display_name: None,
        options,
        metadata: Map::new(),
        is_domain_connection: false,
        show_as_button: None,
        realms: vec![],
        inert_settings: Map::new(),
    }
}

fn outbound() -> Outbound {
    // Loopback over plain http, as for a Switchyard running on localhost.
    Outbound::new(Destinations::new(true, Vec::new())).unwrap()
}

fn connector(strategy: Strategy, options: Value) -> Result<OAuth2Connector, UpstreamError> {
    OAuth2Connector::new(&connection(strategy, options), outbound())
}

fn request() -> UpstreamRequest {
    UpstreamRequest {
        callback_url: CALLBACK.into(),
        state: "the-state".into(),
        nonce: "unused".into(),
        pkce_verifier: Some(VERIFIER.into()),
        login_hint: Some("ana@example.com".into()),
        extra_params: vec![("allow_signup".into(), "false".into())],
    }
}

async fn authorization_url(connector: &OAuth2Connector) -> Url {
    match connector.begin(&request()).await.unwrap() {
        Begin::Redirect(url) => Url::parse(&url).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn query(url: &Url) -> BTreeMap<String, String> {
    url.query_pairs().into_owned().collect()
}

#[tokio::test]
async fn the_authorization_url_carries_the_code_request_with_pkce() {
    let github = connector(
        Strategy::Github,
        json!({"client_id": "gh-client", "client_secret": "gh-secret", "read_org": true}),
    )
    .unwrap();
    assert!(github.uses_pkce());
    let url = authorization_url(&github).await;
    assert_eq!(
        url.as_str().split('?').next(),
        Some("https://github.com/login/oauth/authorize")
    );
    let expected: BTreeMap<String, String> = [
        ("response_type", "code"),
        ("client_id", "gh-client"),
        ("redirect_uri", CALLBACK),
        ("scope", "read:user user:email read:org"),
        ("state", "the-state"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("login_hint", "ana@example.com"),
        ("allow_signup", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(query(&url), expected);
    assert!(!url.as_str().contains("gh-secret"));
}

#[tokio::test]
async fn an_oauth2_connection_goes_where_its_options_say() {
    let oauth2 = connector(
        Strategy::OAuth2,
        json!({"authorizationURL": "https://idp.example.com/oauth/authorize?tenant=t1",
               "tokenURL": "https://idp.example.com/oauth/token",
               "userInfoURL": "https://idp.example.com/api/me",
               "client_id": "c", "client_secret": "s", "scope": "profile email"}),
    )
    .unwrap();
    let url = authorization_url(&oauth2).await;
    assert_eq!(url.path(), "/oauth/authorize");
    let params = query(&url);
    assert_eq!(params["tenant"], "t1", "the URL's own query is kept");
    assert_eq!(params["scope"], "profile email");
    assert_eq!(params["client_id"], "c");
    // Google's preset asks OpenID Connect's scopes and the flags' ones once.
    let google = connector(
        Strategy::Google,
        json!({"client_id": "g", "client_secret": "s", "email": true, "scope": ["openid", "x"]}),
    )
    .unwrap();
    let url = authorization_url(&google).await;
    assert_eq!(url.host_str(), Some("accounts.google.com"));
    assert_eq!(query(&url)["scope"], "openid email profile x");
}

#[test]
fn a_connection_that_cannot_log_in_is_misconfigured() {
    // No development keys: a social connection needs its own client.
    for options in [
        json!({}),
        json!({"client_id": "only-the-id"}),
        json!({"client_secret": "only-the-secret"}),
    ] {
        match connector(Strategy::Github, options) {
            Err(UpstreamError::Misconfigured(reason)) => {
                assert!(reason.contains("github connection social"), "{reason}");
                assert!(
                    reason.contains("no client_id and client_secret"),
                    "{reason}"
                );
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
    // An oauth2 connection synced from Auth0 (scripts.fetchUserProfile, no userInfoURL).
    let synced = connector(
        Strategy::OAuth2,
        json!({"authorizationURL": "https://idp.example.com/authorize",
               "tokenURL": "https://idp.example.com/token", "client_id": "c",
               "client_secret": "s", "scripts": {"fetchUserProfile": "function () {}"}}),
    );
    match synced {
        Err(UpstreamError::Misconfigured(reason)) => {
            assert!(reason.contains("options.userInfoURL"), "{reason}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn an_error_at_the_idp_is_a_refusal_and_no_code_is_invalid() {
    let github = connector(
        Strategy::Github,
        json!({"client_id": "c", "client_secret": "s"}),
    )
    .unwrap();
    let denied: CallbackParams = [
        ("error", "access_denied"),
        (
            "error_description",
            "The user has denied your application access.",
        ),
        ("state", "the-state"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    match github.finish(&request(), &denied).await {
        Err(UpstreamError::Denied { error, description }) => {
            assert_eq!(error, "access_denied");
            assert!(description.contains("denied"));
        }
        other => panic!("{other:?}"),
    }
    let no_code: CallbackParams = [("state".to_owned(), "the-state".to_owned())].into();
    assert!(matches!(
        github.finish(&request(), &no_code).await,
        Err(UpstreamError::Invalid(_))
    ));
}

#[tokio::test]
async fn a_response_naming_another_issuer_is_a_mix_up() {
    let google = connector(
        Strategy::Google,
        json!({"client_id": "c", "client_secret": "s"}),
    )
    .unwrap();
    let response = |iss: &str, error: bool| -> CallbackParams {
        let mut fields = vec![("state", "the-state"), ("iss", iss)];
        fields.push(if error {
            ("error", "access_denied")
        } else {
            ("code", "stolen-at-another-idp")
        });
        fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    // Another issuer: refused before the code is redeemed or the error believed.
    for error in [false, true] {
        match google
            .finish(&request(), &response("https://evil.example.com", error))
            .await
        {
            Err(UpstreamError::Invalid(reason)) => {
                assert!(
                    reason.contains("names issuer https://evil.example.com"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    // Google's own name: its answer is believed.
    assert!(matches!(
        google
            .finish(&request(), &response("https://accounts.google.com", true))
            .await,
        Err(UpstreamError::Denied { .. })
    ));
    // A provider whose issuer is not known: `iss` is not compared.
    let github = connector(
        Strategy::Github,
        json!({"client_id": "c", "client_secret": "s"}),
    )
    .unwrap();
    assert!(matches!(
        github
            .finish(&request(), &response("https://evil.example.com", true))
            .await,
        Err(UpstreamError::Denied { .. })
    ));
}

/// One canned answer: status, content type, body.
#[derive(Clone)]
struct Answer(StatusCode, &'static str, String);

impl Answer {
    fn json(status: StatusCode, body: Value) -> Self {
        Answer(status, "application/json; charset=utf-8", body.to_string())
    }
}

/// What the loopback upstream answers, and what it was asked.
#[derive(Clone)]
struct Upstream {
    token: Answer,
    user: Answer,
    emails: Answer,
    seen: Arc<Mutex<Vec<(String, HeaderMap, String)>>>,
}

async fn answer(State(upstream): State<Upstream>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
        .await
        .unwrap();
    upstream.seen.lock().unwrap().push((
        path.clone(),
        headers,
        String::from_utf8_lossy(&body).into_owned(),
    ));
    let Answer(status, content_type, body) = match path.as_str() {
        "/login/oauth/access_token" => upstream.token,
        "/user" => upstream.user,
        "/user/emails" => upstream.emails,
        _ => Answer(StatusCode::NOT_FOUND, "text/plain", String::new()),
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn github_profile() -> Value {
    json!({"login": "octocat", "id": 583231, "name": "The Octocat",
           "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
           "email": "octocat@github.com"})
}

impl Upstream {
    fn github() -> Self {
        Upstream {
            token: Answer::json(
                StatusCode::OK,
                json!({"access_token": "gho_token", "token_type": "bearer",
                       "scope": "read:user,user:email"}),
            ),
            user: Answer::json(StatusCode::OK, github_profile()),
            emails: Answer::json(
                StatusCode::OK,
                json!([{"email": "octocat@github.com", "primary": false, "verified": true,
                        "visibility": "public"},
                       {"email": "Octo@Private.example", "primary": true, "verified": true,
                        "visibility": null}]),
            ),
            seen: Arc::default(),
        }
    }

    /// Serves on loopback; the GitHub connector, its endpoints moved there.
    async fn connector(&self) -> OAuth2Connector {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut github = connector(
            Strategy::Github,
            json!({"client_id": "gh-client", "client_secret": "gh-secret"}),
        )
        .unwrap();
        let preset = github.preset.to_mut();
        let moved = |url: &Url| Url::parse(&format!("{base}{}", url.path())).unwrap();
        preset.token_endpoint = moved(&preset.token_endpoint);
        preset.userinfo_endpoint = moved(&preset.userinfo_endpoint);
        preset.emails_endpoint = preset.emails_endpoint.as_ref().map(moved);
        github
    }

    fn seen(&self, path: &str) -> (HeaderMap, String) {
        let seen = self.seen.lock().unwrap();
        let (_, headers, body) = seen
            .iter()
            .find(|(p, _, _)| p == path)
            .unwrap_or_else(|| panic!("{path} was not asked"));
        (headers.clone(), body.clone())
    }
}

fn code() -> CallbackParams {
    [("code", "the-code"), ("state", "the-state")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test]
async fn github_profile_and_primary_verified_email() {
    let upstream = Upstream::github();
    let identity = upstream
        .connector()
        .await
        .finish(&request(), &code())
        .await
        .unwrap();
    assert_eq!(identity.connection_id, "con_1");
    assert_eq!(identity.subject, "583231");
    assert_eq!(identity.nickname.as_deref(), Some("octocat"));
    assert_eq!(identity.name.as_deref(), Some("The Octocat"));
    assert_eq!(
        identity.email.as_deref(),
        Some("octo@private.example"),
        "the primary address, not the profile's public one"
    );
    assert!(identity.email_verified);
    assert_eq!(identity.raw["login"], "octocat");

    // The code redeemed as client_secret_post, with the PKCE verifier, asking JSON.
    let (headers, body) = upstream.seen("/login/oauth/access_token");
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "the-code");
    assert_eq!(form["redirect_uri"], CALLBACK);
    assert_eq!(form["client_id"], "gh-client");
    assert_eq!(form["client_secret"], "gh-secret");
    assert_eq!(form["code_verifier"], VERIFIER);
    assert_eq!(headers[header::ACCEPT], "application/json");
    assert!(!headers.contains_key(header::AUTHORIZATION));
    // The profile and the addresses asked with the token and GitHub's headers.
    for path in ["/user", "/user/emails"] {
        let (headers, _) = upstream.seen(path);
        assert_eq!(headers[header::AUTHORIZATION], "Bearer gho_token", "{path}");
        assert_eq!(headers[header::ACCEPT], "application/vnd.github+json");
        assert_eq!(headers["x-github-api-version"], "2022-11-28");
    }
}

#[tokio::test]
async fn an_unverified_primary_address_leaves_the_email_unverified() {
    let mut upstream = Upstream::github();
    upstream.emails = Answer::json(
        StatusCode::OK,
        json!([{"email": "new@private.example", "primary": true, "verified": false}]),
    );
    let identity = upstream
        .connector()
        .await
        .finish(&request(), &code())
        .await
        .unwrap();
    assert_eq!(identity.email.as_deref(), Some("octocat@github.com"));
    assert!(!identity.email_verified, "nOAuth: never taken as verified");
}

/// What `finish` makes of the upstream's answers changed by `change`.
async fn finish_with(change: impl FnOnce(&mut Upstream)) -> Result<Identity, UpstreamError> {
    let mut upstream = Upstream::github();
    change(&mut upstream);
    upstream.connector().await.finish(&request(), &code()).await
}

#[tokio::test]
async fn token_endpoint_answers_map_to_what_the_person_is_told() {
    // GitHub's refusal of a code: 200 OK with an OAuth error.
    let github_error = finish_with(|u| {
        u.token = Answer::json(
            StatusCode::OK,
            json!({"error": "bad_verification_code",
                   "error_description": "The code passed is incorrect or expired."}),
        );
    })
    .await;
    match github_error {
        Err(UpstreamError::Denied { error, description }) => {
            assert_eq!(error, "bad_verification_code");
            assert!(description.contains("incorrect"));
        }
        other => panic!("{other:?}"),
    }
    // RFC 6749 §5.2's refusal.
    let refused = finish_with(|u| {
        u.token = Answer::json(StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
    })
    .await;
    assert!(
        matches!(&refused, Err(UpstreamError::Denied { error, .. }) if error == "invalid_grant"),
        "{refused:?}"
    );
    // JSON, but no token response.
    let no_token = finish_with(|u| {
        u.token = Answer::json(StatusCode::OK, json!({"token_type": "bearer"}));
    })
    .await;
    assert!(
        matches!(no_token, Err(UpstreamError::Invalid(_))),
        "{no_token:?}"
    );
    // A proxy's error page, and a form-encoded answer (GitHub's when not asked for JSON).
    for answer in [
        Answer(StatusCode::BAD_GATEWAY, "text/html", "<h1>502</h1>".into()),
        Answer(
            StatusCode::OK,
            "application/x-www-form-urlencoded",
            "access_token=gho_token&token_type=bearer".into(),
        ),
    ] {
        let failed = finish_with(|u| u.token = answer).await;
        assert!(
            matches!(failed, Err(UpstreamError::Unreachable(_))),
            "{failed:?}"
        );
    }
}

#[tokio::test]
async fn profile_answers_map_to_what_the_person_is_told() {
    let expired = finish_with(|u| {
        u.user = Answer::json(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Bad credentials"}),
        );
    })
    .await;
    assert!(
        matches!(expired, Err(UpstreamError::Unreachable(_))),
        "{expired:?}"
    );
    let not_an_object = finish_with(|u| {
        u.user = Answer::json(StatusCode::OK, json!([github_profile()]));
    })
    .await;
    assert!(
        matches!(not_an_object, Err(UpstreamError::Invalid(_))),
        "{not_an_object:?}"
    );
    let not_json = finish_with(|u| {
        u.user = Answer(StatusCode::OK, "text/html", "<html>".into());
    })
    .await;
    assert!(
        matches!(not_json, Err(UpstreamError::Invalid(_))),
        "{not_json:?}"
    );
    let too_large = finish_with(|u| {
        let mut profile = github_profile();
        profile["bio"] = "x".repeat(MAX_RESPONSE_BYTES).into();
        u.user = Answer::json(StatusCode::OK, profile);
    })
    .await;
    assert!(
        matches!(too_large, Err(UpstreamError::Invalid(_))),
        "{too_large:?}"
    );
    let no_id = finish_with(|u| {
        u.user = Answer::json(StatusCode::OK, json!({"login": "octocat"}));
    })
    .await;
    assert!(
        matches!(no_id, Err(UpstreamError::MissingClaim(_))),
        "{no_id:?}"
    );
    let no_emails = finish_with(|u| {
        u.emails = Answer::json(StatusCode::NOT_FOUND, json!({"message": "Not Found"}));
    })
    .await;
    assert!(
        matches!(no_emails, Err(UpstreamError::Unreachable(_))),
        "{no_emails:?}"
    );
}
