//! The sign-up page of universal login (`/u/signup`), beside the login pages
//! and with the same guards: the transaction's cookie and its CSRF token.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::ClientIp;
use super::login::{
    Brand, StateQuery, brand_for, finished_response, load_form, load_transaction, login_error,
    render_with_form_target,
};
use crate::connectors::database::describe_password_policy;
use crate::flows::login::{LoginError, Transaction};
use crate::flows::signup::{self, SIGNUP_NOT_ALLOWED};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/u/signup", get(signup_get).post(signup_post))
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    brand: Brand,
    client_name: &'a str,
    transaction_id: &'a str,
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    /// `None` when sign-up is not allowed: the page then has no form.
    password_requirements: Option<String>,
}

/// The sign-up page, or, when sign-up is not allowed here, a page that says
/// so (403) and offers only the way back to logging in.
async fn signup_page(
    state: &AppState,
    headers: &HeaderMap,
    txn: &Transaction,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let connection = match signup::signup_connection(state, txn).await {
        Ok(connection) => connection,
        Err(e) => return login_error(headers, e),
    };
    let (status, error) = match &connection {
        Some(_) => (status, error),
        None => (StatusCode::FORBIDDEN, Some(SIGNUP_NOT_ALLOWED)),
    };
    let brand = brand_for(state, Some(txn)).await;
    render_with_form_target(
        &SignupPage {
            brand,
            client_name: &txn.client.name,
            transaction_id: &txn.id,
            csrf: &txn.csrf_token,
            email: txn.email.as_deref().unwrap_or(""),
            error,
            password_requirements: connection.map(|c| describe_password_policy(&c.options)),
        },
        status,
        Some(&txn.request.redirect_uri),
    )
}

/// Where sign-up is not allowed, the link leads to the login page (as
/// Auth0's `screen_hint=signup` does then).
async fn signup_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<StateQuery>,
) -> Response {
    let txn = match load_transaction(&state, &jar, &q.state).await {
        Ok(txn) => txn,
        Err(e) => return login_error(&headers, e),
    };
    match signup::signup_allowed(&state, &txn).await {
        Ok(true) => signup_page(&state, &headers, &txn, None, StatusCode::OK).await,
        Ok(false) => Redirect::to(&format!("/u/login?state={}", txn.id)).into_response(),
        Err(e) => login_error(&headers, e),
    }
}

/// Every field defaults to empty, so that a form without its CSRF token is
/// refused as a forgery (403) rather than as malformed.
#[derive(Deserialize)]
struct SignupForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn signup_post(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<SignupForm>,
) -> Response {
    let txn = match load_form(&state, &jar, &form.state, &form.csrf).await {
        Ok(txn) => txn,
        Err(e) => return login_error(&headers, e),
    };
    match signup::submit_signup(&state, &txn, &form.email, &form.password, client_ip).await {
        Ok(finished) => finished_response(&state, &txn, finished),
        Err(LoginError::Retry(message)) => {
            // Show what was typed (the stored email is only set once it is valid).
            let txn = Transaction {
                email: Some(form.email),
                ..txn
            };
            signup_page(
                &state,
                &headers,
                &txn,
                Some(&message),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => login_error(&headers, e),
    }
}
