//! The OpenID provider's public endpoints: discovery, JWKS, the token,
//! revocation and introspection endpoints, userinfo, and a landing page.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

mod cors;

use crate::flows::OAuthError;
use crate::flows::client_auth::presented_credentials;
use crate::flows::introspection::{self, TokenStateParams};
use crate::flows::issue::{AccessTokenRefused, verify_access_token};
use crate::flows::request::TokenParams;
use crate::flows::token;
use crate::model::client::SigningAlg;
use crate::state::AppState;
use crate::store::StoreError;
use cors::ReadableBy;

/// CORS ([`cors`]): discovery and JWKS for any origin; the token,
/// revocation and userinfo endpoints for the origins of the client
/// concerned. Introspection is for resource servers, which authenticate
/// with a secret a browser cannot keep: it answers no other origin.
pub fn router(state: &AppState) -> Router<AppState> {
    use cors::with_preflight;
    let for_clients = |methods: &[Method]| cors::for_clients(state, methods);
    let browser_apps = Router::new()
        .route(
            "/oauth/token",
            with_preflight(post(token_post), for_clients(&[Method::POST])),
        )
        .route(
            "/oauth/revoke",
            with_preflight(post(revoke_post), for_clients(&[Method::POST])),
        )
        .route(
            "/userinfo",
            with_preflight(
                get(userinfo_get).post(userinfo_get),
                for_clients(&[Method::GET, Method::POST]),
            ),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cors::keep_only_the_clients_origins,
        ));
    Router::new()
        .route("/", get(home_get))
        .route(
            "/.well-known/openid-configuration",
            with_preflight(get(discovery_get), cors::public()),
        )
        .route(
            "/.well-known/jwks.json",
            with_preflight(get(jwks_get), cors::public()),
        )
        .route("/oauth/introspect", post(introspect_post))
        .merge(browser_apps)
}

/// Who may read a token or revocation response: the client the request
/// names (in its body or its Basic credentials), whether or not it
/// authenticates, so that its app can read the error.
fn requested_client(
    headers: &HeaderMap,
    client_id: Option<&str>,
    client_secret: Option<&str>,
) -> ReadableBy {
    presented_credentials(authorization(headers), client_id, client_secret)
        .map_or(ReadableBy::AnyRegisteredOrigin, |credentials| {
            ReadableBy::Client(credentials.client_id)
        })
}

/// Discovery metadata. It lists what this build supports, and nothing more.
async fn discovery_get(State(state): State<AppState>) -> Response {
    let issuer = &state.issuer;
    let algs: Vec<&str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
    let body = json!({
        "issuer": issuer.identifier(),
        "authorization_endpoint": issuer.url("/authorize"),
        "token_endpoint": issuer.url("/oauth/token"),
        "jwks_uri": issuer.url("/.well-known/jwks.json"),
        "userinfo_endpoint": issuer.url("/userinfo"),
        "revocation_endpoint": issuer.url("/oauth/revoke"),
        "introspection_endpoint": issuer.url("/oauth/introspect"),
        "end_session_endpoint": issuer.url("/oidc/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "select_account"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "org_id", "org_name",
            "email", "email_verified", "name", "given_name", "family_name", "nickname", "picture"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    });
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        )],
        Json(body),
    )
        .into_response()
}

async fn jwks_get(State(state): State<AppState>) -> Response {
    let jwks = state.keys.jwks_json();
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwk-set+json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        jwks.to_string(),
    )
        .into_response()
}

/// The OAuth endpoints take form-encoded bodies (RFC 6749) and, as Auth0's
/// do, JSON bodies.
fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/x-www-form-urlencoded" => parse_form(body),
        "application/json" => serde_json::from_slice(body)
            .map_err(|e| OAuthError::invalid_request(format!("Malformed JSON body: {e}"))),
        _ => Err(OAuthError::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded or application/json",
        )),
    }
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// A JSON answer that no cache may keep (RFC 6749 §5.1).
fn no_store<T: Serialize>(body: T) -> Response {
    (
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::PRAGMA, HeaderValue::from_static("no-cache")),
        ],
        Json(body),
    )
        .into_response()
}

async fn token_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (readable_by, result) = match parse_body::<TokenParams>(&headers, &body) {
        Ok(params) => (
            requested_client(
                &headers,
                params.client_id.as_deref(),
                params.client_secret(),
            ),
            token::exchange(&state, authorization(&headers), params).await,
        ),
        Err(e) => (ReadableBy::AnyRegisteredOrigin, Err(e)),
    };
    readable_by.mark(match result {
        Ok(response) => no_store(response),
        Err(error) => error.into_response(),
    })
}

/// RFC 7009: 200 with an empty body whether or not the token existed.
async fn revoke_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (readable_by, result) = match parse_body::<TokenStateParams>(&headers, &body) {
        Ok(params) => (
            requested_client(
                &headers,
                params.client_id.as_deref(),
                params.client_secret.as_deref(),
            ),
            introspection::revoke(&state, authorization(&headers), &params).await,
        ),
        Err(e) => (ReadableBy::AnyRegisteredOrigin, Err(e)),
    };
    readable_by.mark(match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => error.into_response(),
    })
}

async fn introspect_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = match parse_body::<TokenStateParams>(&headers, &body) {
        Ok(params) => introspection::introspect(&state, authorization(&headers), &params).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(answer) => no_store(answer),
        Err(error) => error.into_response(),
    }
}

/// Form parameters; a parameter given twice is refused (RFC 6749 §3.2).
fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| OAuthError::invalid_request(format!("Malformed form body: {e}")))?;
    let mut seen = std::collections::HashSet::new();
    for (name, _) in &pairs {
        if !seen.insert(name.as_str()) {
            return Err(OAuthError::invalid_request(format!(
                "Parameter '{name}' was given more than once"
            )));
        }
    }
    let map: serde_json::Map<String, serde_json::Value> = pairs
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| OAuthError::invalid_request(format!("Malformed parameters: {e}")))
}

/// The landing page: where the discovery document and the Management API's
/// OpenAPI document are.
#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    discovery: String,
    openapi: String,
}

/// Both URLs come from the operator's configured issuer, which is checked
/// to be a plain URL at start-up; askama escapes them all the same.
async fn home_get(State(state): State<AppState>) -> Response {
    let page = HomePage {
        discovery: state.issuer.url("/.well-known/openid-configuration"),
        openapi: state.issuer.url("/api/v2/openapi.json"),
    };
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response()
        }
    }
}

/// OIDC Core §5.3: the claims of the access token's user, by its scope;
/// readable by the origins of the client the token was issued to.
async fn userinfo_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (readable_by, response) = userinfo(&state, &headers).await;
    readable_by.mark(response)
}

async fn userinfo(state: &AppState, headers: &HeaderMap) -> (ReadableBy, Response) {
    let anyone = |response| (ReadableBy::AnyRegisteredOrigin, response);
    let unauthorized = |description: &str| {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"error": "invalid_token", "error_description": description})),
        )
            .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        response
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(crate::http::bearer_token)
    else {
        return anyone(unauthorized("Missing bearer token"));
    };
    let claims = match verify_access_token(state, token, Some(&state.issuer.url("/userinfo"))).await
    {
        Ok(claims) => claims,
        Err(AccessTokenRefused::Store(e)) => return anyone(OAuthError::from(e).into_response()),
        Err(AccessTokenRefused::Revoked) => {
            return anyone(unauthorized("The access token has been revoked"));
        }
        Err(AccessTokenRefused::Rejected(e)) => {
            tracing::info!(reason = %e, "userinfo token rejected");
            return anyone(unauthorized("The access token is invalid or expired"));
        }
    };
    let client = ReadableBy::Client(claims.client_id.clone());
    let user = match state.store.get_user(&claims.sub).await {
        Ok(user) if user.user.blocked => return (client, unauthorized("The user is blocked")),
        Ok(user) => user,
        Err(StoreError::NotFound) => {
            return (client, unauthorized("The user no longer exists"));
        }
        Err(e) => return (client, OAuthError::from(e).into_response()),
    };
    let scope: Vec<String> = claims.scope.split(' ').map(str::to_owned).collect();
    let mut body = crate::flows::issue::profile_claims(&user.user, &scope);
    body.insert("sub".into(), claims.sub.clone().into());
    if let Some(org_id) = claims.org_id {
        body.insert("org_id".into(), org_id.into());
    }
    if let Some(org_name) = claims.org_name {
        body.insert("org_name".into(), org_name.into());
    }
    (
        client,
        (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(body),
        )
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use askama::Template;

    use super::HomePage;

    #[test]
    fn the_home_page_links_both_documents_escaped() -> Result<(), askama::Error> {
        let html = HomePage {
            discovery: "https://id.example/.well-known/openid-configuration".into(),
            openapi: "https://id.example/a\"><script>&".into(),
        }
        .render()?;
        assert!(html.contains(
            "<a href=\"https://id.example/.well-known/openid-configuration\">https://id.example/.well-known/openid-configuration</a>"
        ));
        assert!(
            html.contains("https://id.example/a&#34;&#62;&#60;script&#62;&#38;"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        Ok(())
    }
}
