//! Logout: RP-initiated logout (`/oidc/logout`) and Auth0's `/v2/logout`,
//! both ending the browser's SSO session and clearing its cookie: at once
//! with an `id_token_hint` from this session, else once the user confirms
//! on a page whose form posts to `/oidc/logout/confirm` (CSRF-safe: a site
//! that sends the browser here cannot end the session by itself). A session
//! whose login was SAML then goes on to the IdP (single logout), whose
//! LogoutResponse comes back to `/logout` (Auth0's path for it).

use askama::Template;
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::login::{
    Brand, Cookies, browser_session, error_page, login_error, render, render_with_form_target,
    session_secret, to_client,
};
use crate::connectors::saml::logout::LOGOUT_PATH;
use crate::connectors::{Begin, CallbackParams};
use crate::flows::login::LoginError;
use crate::flows::logout::{self, CheckedLogout, LogoutParams, LogoutRefused};
use crate::flows::request::{ClientResponse, ResponseMode};
use crate::state::AppState;
use crate::store::StoredSession;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oidc/logout", get(logout_get).post(logout_post))
        .route("/oidc/logout/confirm", post(confirm_post))
        .route("/v2/logout", get(auth0_logout_get))
        .route(LOGOUT_PATH, get(saml_logout_get).post(saml_logout_post))
}

#[derive(Template)]
#[template(path = "logged_out.html")]
struct LoggedOutPage {
    brand: Brand,
}

/// "Log out?": the request's checked parameters ride in the form, which
/// `/oidc/logout/confirm` checks again.
#[derive(Template)]
#[template(path = "logout_confirm.html")]
struct ConfirmPage<'a> {
    brand: Brand,
    client_name: Option<&'a str>,
    csrf: &'a str,
    client_id: Option<&'a str>,
    post_logout_redirect_uri: Option<&'a str>,
    state: Option<&'a str>,
}

async fn logout_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    params: Result<Query<LogoutParams>, QueryRejection>,
) -> Response {
    match params {
        Ok(Query(params)) => logout_response(&state, &headers, &jar, &params).await,
        Err(e) => invalid_request(&headers, &e.body_text()),
    }
}

/// Auth0's logout endpoint, which Auth0's SDKs call: `returnTo` must be one
/// of the `client_id`'s allowed logout URLs.
#[derive(Deserialize)]
struct Auth0LogoutParams {
    client_id: Option<String>,
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
}

async fn auth0_logout_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    params: Result<Query<Auth0LogoutParams>, QueryRejection>,
) -> Response {
    match params {
        Ok(Query(params)) => {
            let params = LogoutParams {
                client_id: params.client_id,
                post_logout_redirect_uri: params.return_to,
                ..LogoutParams::default()
            };
            logout_response(&state, &headers, &jar, &params).await
        }
        Err(e) => invalid_request(&headers, &e.body_text()),
    }
}

/// RP-initiated logout by POST (§2 allows both): the same as GET.
async fn logout_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    params: Result<Form<LogoutParams>, FormRejection>,
) -> Response {
    match params {
        Ok(Form(params)) => logout_response(&state, &headers, &jar, &params).await,
        Err(e) => invalid_request(&headers, &e.body_text()),
    }
}

/// Checks the request; then ends the session when its hint is for it, asks
/// the user when there is a session to end, or just goes on without one.
async fn logout_response(
    state: &AppState,
    headers: &HeaderMap,
    jar: &CookieJar,
    params: &LogoutParams,
) -> Response {
    let checked = match logout::check(state, params).await {
        Ok(checked) => checked,
        Err(refused) => return refused_page(headers, refused),
    };
    let session = match browser_session(state, jar).await {
        Ok(found) => found,
        Err(e) => return login_error(headers, e.into()),
    };
    match session {
        Some(session) if !checked.hints_at(&session) => {
            confirmation_page(&checked, session_secret(state, jar).unwrap_or_default())
        }
        session => end_and_leave(state, headers, &checked, session.as_ref()).await,
    }
}

fn confirmation_page(checked: &CheckedLogout, session_secret: &str) -> Response {
    let csrf = logout::confirmation_token(session_secret);
    let page = ConfirmPage {
        brand: Brand::default_brand(),
        client_name: checked.client.as_ref().map(|c| c.name.as_str()),
        csrf: &csrf,
        client_id: checked.client.as_ref().map(|c| c.client_id.as_str()),
        post_logout_redirect_uri: checked.post_logout_redirect_uri.as_deref(),
        state: checked.state.as_deref(),
    };
    // The form's answer redirects to the post-logout URL: CSP form-action
    // must allow its origin.
    render_with_form_target(
        &page,
        StatusCode::OK,
        checked.post_logout_redirect_uri.as_deref(),
    )
}

#[derive(Deserialize)]
struct ConfirmForm {
    csrf: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// The confirmation page's form: ends the session only with this browser's
/// token; a forged or stale form ends nothing.
async fn confirm_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<Form<ConfirmForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(e) => return invalid_request(&headers, &e.body_text()),
    };
    let params = LogoutParams {
        client_id: form.client_id,
        post_logout_redirect_uri: form.post_logout_redirect_uri,
        state: form.state,
        ..LogoutParams::default()
    };
    let checked = match logout::check(&state, &params).await {
        Ok(checked) => checked,
        Err(refused) => return refused_page(&headers, refused),
    };
    let session = match browser_session(&state, &jar).await {
        Ok(found) => found,
        Err(e) => return login_error(&headers, e.into()),
    };
    if session.is_some() {
        let secret = session_secret(&state, &jar).unwrap_or_default();
        if !logout::is_confirmed(secret, form.csrf.as_deref().unwrap_or_default()) {
            tracing::info!("logout confirmation refused: its CSRF token is not this browser's");
            return login_error(&headers, LoginError::Forgery);
        }
    }
    end_and_leave(&state, &headers, &checked, session.as_ref()).await
}

/// Ends the browser's session if it has one and clears its cookie; then
/// back to the client, or a "logged out" page.
async fn end_and_leave(
    state: &AppState,
    headers: &HeaderMap,
    checked: &CheckedLogout,
    session: Option<&StoredSession>,
) -> Response {
    let mut upstream = None;
    if let Some(session) = session {
        if let Err(refused) = logout::end(state, session).await {
            return refused_page(headers, refused);
        }
        // Ended here first: the IdP's answer, or its silence, changes nothing.
        upstream = logout::begin_upstream(state, session, checked.redirect()).await;
    }
    let response = match upstream {
        Some(Begin::Redirect(url)) => Redirect::to(&url).into_response(),
        Some(Begin::AutoPost { action, fields }) => to_client(&ClientResponse {
            redirect_uri: action,
            mode: ResponseMode::FormPost,
            params: fields,
        }),
        None => leave(checked.redirect()),
    };
    let cleared = Cookies::of(state).session("", 0);
    (CookieJar::new().add(cleared), response).into_response()
}

/// To the client's post-logout URL, or the "logged out" page.
fn leave(redirect: Option<String>) -> Response {
    match redirect {
        Some(url) => Redirect::to(&url).into_response(),
        None => render(
            &LoggedOutPage {
                brand: Brand::default_brand(),
            },
            StatusCode::OK,
        ),
    }
}

/// An IdP's LogoutResponse by HTTP-Redirect: the raw query carries its
/// signature.
async fn saml_logout_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> Response {
    match params {
        Ok(Query(params)) => {
            saml_logout_response(
                &state,
                &headers,
                &params,
                Some(raw.as_deref().unwrap_or("")),
            )
            .await
        }
        Err(e) => invalid_request(&headers, &e.body_text()),
    }
}

/// An IdP's LogoutResponse by HTTP-POST (a cross-site form post).
async fn saml_logout_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Form<CallbackParams>, FormRejection>,
) -> Response {
    match params {
        Ok(Form(params)) => saml_logout_response(&state, &headers, &params, None).await,
        Err(e) => invalid_request(&headers, &e.body_text()),
    }
}

async fn saml_logout_response(
    state: &AppState,
    headers: &HeaderMap,
    params: &CallbackParams,
    raw_query: Option<&str>,
) -> Response {
    match logout::finish_upstream(state, params, raw_query).await {
        Ok(redirect) => leave(redirect),
        Err(refused) => refused_page(headers, refused),
    }
}

/// A refused logout's page; a store failure is the login pages' generic one.
fn refused_page(headers: &HeaderMap, refused: LogoutRefused) -> Response {
    match refused {
        LogoutRefused::Invalid { title, detail } => {
            error_page(headers, StatusCode::BAD_REQUEST, title, &detail)
        }
        LogoutRefused::Store(e) => login_error(headers, e.into()),
    }
}

fn invalid_request(headers: &HeaderMap, detail: &str) -> Response {
    error_page(
        headers,
        StatusCode::BAD_REQUEST,
        "Invalid logout request",
        detail,
    )
}
