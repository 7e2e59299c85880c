//! Logout: RP-initiated logout (`/oidc/logout`) and Auth0's `/v2/logout`,
//! both ending the browser's SSO session and clearing its cookie.

use askama::Template;
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::login::{Brand, Cookies, browser_session, error_page, login_error, render};
use crate::flows::logout::{self, LogoutParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oidc/logout", get(logout_get).post(logout_post))
        .route("/v2/logout", get(auth0_logout_get))
}

#[derive(Template)]
#[template(path = "logged_out.html")]
struct LoggedOutPage {
    brand: Brand,
}

async fn logout_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    params: Result<Query<LogoutParams>, QueryRejection>,
) -> Response {
    match params {
        Ok(Query(params)) => logout_response(&state, &headers, &jar, &params).await,
        Err(e) => error_page(
            &headers,
            StatusCode::BAD_REQUEST,
            "Invalid logout request",
            &e.body_text(),
        ),
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
        Err(e) => error_page(
            &headers,
            StatusCode::BAD_REQUEST,
            "Invalid logout request",
            &e.body_text(),
        ),
    }
}

async fn logout_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    params: Result<Form<LogoutParams>, FormRejection>,
) -> Response {
    match params {
        Ok(Form(params)) => logout_response(&state, &headers, &jar, &params).await,
        Err(e) => error_page(
            &headers,
            StatusCode::BAD_REQUEST,
            "Invalid logout request",
            &e.body_text(),
        ),
    }
}

/// Ends the browser's session and clears its cookie; then back to the
/// client, or a "logged out" page.
async fn logout_response(
    state: &AppState,
    headers: &HeaderMap,
    jar: &CookieJar,
    params: &LogoutParams,
) -> Response {
    let browser_session = match browser_session(state, jar).await {
        Ok(found) => found,
        Err(e) => return login_error(headers, e.into()),
    };
    let response = match logout::logout(state, params, browser_session.as_ref()).await {
        Ok(Some(url)) => Redirect::to(&url).into_response(),
        Ok(None) => render(
            &LoggedOutPage {
                brand: Brand::default_brand(),
            },
            StatusCode::OK,
        ),
        Err(refused) => {
            return error_page(
                headers,
                StatusCode::BAD_REQUEST,
                refused.title,
                &refused.detail,
            );
        }
    };
    let cleared = Cookies::of(state).session("", 0);
    (CookieJar::new().add(cleared), response).into_response()
}
