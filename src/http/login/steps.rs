//! The steps of a login: the identifier page (`/u/login`, with "continue
//! as" for `prompt=select_account`), the password page (`/u/login/password`),
//! and the browser's last step, which ends the transaction, sets the
//! session's cookie and goes back to the client. Every form carries the
//! transaction id and its CSRF token, and the transaction only loads with
//! its cookie.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::cookies::{Cookies, browser_session, load_transaction};
use super::pages::{Brand, brand_for, login_error, render_with_form_target, to_client};
use crate::flows::login::{self, LoginError, Transaction};
use crate::flows::request::OrganizationPrompt;
use crate::flows::signup::signup_allowed;
use crate::http::ClientIp;
use crate::routing::Decision;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login_identifier.html")]
struct IdentifierPage<'a> {
    brand: Brand,
    client_name: &'a str,
    transaction_id: &'a str,
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    /// `prompt=select_account`: the session's account, offered first.
    continue_as: Option<&'a str>,
    signup_allowed: bool,
    /// The upstream connections offered as buttons.
    buttons: Vec<Button>,
}

/// An upstream connection's button on the identifier page.
struct Button {
    name: String,
    label: String,
}

/// The buttons of the connections a login may go upstream with.
async fn buttons(state: &AppState, txn: &Transaction) -> Vec<Button> {
    match login::routing_snapshot(state, &txn.request).await {
        Ok(snapshot) => crate::routing::buttons(&snapshot)
            .into_iter()
            .map(|c| Button {
                label: c.display_name.unwrap_or_else(|| c.name.clone()),
                name: c.name,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[derive(Template)]
#[template(path = "login_password.html")]
struct PasswordPage<'a> {
    brand: Brand,
    transaction_id: &'a str,
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    signup_allowed: bool,
}

#[derive(Deserialize)]
pub(in crate::http) struct StateQuery {
    pub(in crate::http) state: String,
}

/// Loads the transaction a form was posted for and checks the form's CSRF token.
pub(in crate::http) async fn load_form(
    state: &AppState,
    jar: &CookieJar,
    transaction_id: &str,
    csrf: &str,
) -> Result<Transaction, LoginError> {
    let txn = load_transaction(state, jar, transaction_id).await?;
    txn.check_csrf(csrf)?;
    Ok(txn)
}

async fn identifier_page(
    state: &AppState,
    txn: &Transaction,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let brand = brand_for(state, Some(txn)).await;
    let continue_as = offered_account(state, txn).await;
    render_with_form_target(
        &IdentifierPage {
            brand,
            client_name: &txn.client.name,
            transaction_id: &txn.id,
            csrf: &txn.csrf_token,
            email: txn.email.as_deref().unwrap_or(""),
            error,
            continue_as: continue_as.as_deref(),
            signup_allowed: signup_allowed(state, txn).await.unwrap_or(false),
            buttons: buttons(state, txn).await,
        },
        status,
        continue_as
            .as_ref()
            .map(|_| txn.request.redirect_uri.as_str()),
    )
}

/// With `prompt=select_account`, the email of the session the login began
/// in, to offer "Continue as …".
async fn offered_account(state: &AppState, txn: &Transaction) -> Option<String> {
    if !txn.request.prompt.iter().any(|p| p == "select_account") {
        return None;
    }
    let session = state
        .store
        .get_session(txn.previous_session_id.as_deref()?)
        .await
        .ok()?;
    Some(
        state
            .store
            .get_user(&session.user_id)
            .await
            .ok()?
            .user
            .label()
            .to_owned(),
    )
}

async fn password_page(
    state: &AppState,
    txn: &Transaction,
    email: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let brand = brand_for(state, Some(txn)).await;
    render_with_form_target(
        &PasswordPage {
            brand,
            transaction_id: &txn.id,
            csrf: &txn.csrf_token,
            email,
            error,
            signup_allowed: signup_allowed(state, txn).await.unwrap_or(false),
        },
        status,
        Some(&txn.request.redirect_uri),
    )
}

/// `/u/login`'s query: the transaction, and whether `/authorize` had a
/// `login_hint`.
#[derive(Deserialize)]
pub(super) struct LoginQuery {
    state: String,
    /// The transaction's email came from `login_hint`: the identifier step
    /// runs at once, without the page (set by `/authorize` only, so "Use
    /// another email" comes back to the page).
    #[serde(default)]
    hinted: bool,
}

pub(super) async fn login_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LoginQuery>,
) -> Response {
    match load_transaction(&state, &jar, &q.state).await {
        Ok(txn) if txn.pending_organization_prompt() == Some(OrganizationPrompt::BeforeLogin) => {
            Redirect::to(&format!("/u/organization?state={}", txn.id)).into_response()
        }
        Ok(txn) if txn.request.connection.is_some() => {
            // `connection=NAME` at /authorize: straight to that upstream.
            match login::routing_snapshot(&state, &txn.request).await {
                Ok(snapshot) => match crate::routing::only_upstream(&snapshot) {
                    Some(only) => {
                        let connection_id = only.connection_id.clone();
                        super::upstream::go_upstream(&state, &headers, &txn, &connection_id, false)
                            .await
                    }
                    None => identifier_page(&state, &txn, None, StatusCode::OK).await,
                },
                Err(e) => login_error(&headers, e),
            }
        }
        Ok(txn) if q.hinted && txn.email.is_some() && !offers_session(&txn) => {
            let email = txn.email.clone().unwrap_or_default();
            identify(&state, &headers, txn, &email, Step::Hinted).await
        }
        Ok(txn) => identifier_page(&state, &txn, None, StatusCode::OK).await,
        Err(e) => login_error(&headers, e),
    }
}

/// `prompt=select_account` with a session: the page offers to continue as
/// its user, so a `login_hint` does not skip it.
fn offers_session(txn: &Transaction) -> bool {
    txn.previous_session_id.is_some() && txn.request.prompt.iter().any(|p| p == "select_account")
}

#[derive(Deserialize)]
pub(super) struct IdentifierForm {
    state: String,
    csrf: String,
    email: String,
}

pub(super) async fn login_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<IdentifierForm>,
) -> Response {
    let txn = match load_form(&state, &jar, &form.state, &form.csrf).await {
        Ok(txn) => txn,
        Err(e) => return login_error(&headers, e),
    };
    identify(&state, &headers, txn, &form.email, Step::Form).await
}

/// How the identifier reached [`identify`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Typed on the identifier page.
    Form,
    /// The client's `login_hint`.
    Hinted,
}

/// The identifier step, and where its decision sends the browser.
async fn identify(
    state: &AppState,
    headers: &HeaderMap,
    mut txn: Transaction,
    identifier: &str,
    step: Step,
) -> Response {
    match login::submit_identifier(state, &mut txn, identifier).await {
        Ok(Decision::Password { .. }) => {
            Redirect::to(&format!("/u/login/password?state={}", txn.id)).into_response()
        }
        Ok(Decision::Redirect { connection_id, .. }) => {
            super::upstream::go_upstream(state, headers, &txn, &connection_id, step == Step::Form)
                .await
        }
        Ok(Decision::Buttons(_)) if step == Step::Hinted => {
            identifier_page(state, &txn, None, StatusCode::OK).await
        }
        Ok(Decision::Buttons(_)) => {
            identifier_page(
                state,
                &txn,
                Some("Continue with one of the sign-in options below."),
                StatusCode::OK,
            )
            .await
        }
        Ok(Decision::Reject(rejection)) => {
            identifier_page(
                state,
                &txn,
                Some(&rejection.message()),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(LoginError::Retry(message)) => {
            identifier_page(state, &txn, Some(&message), StatusCode::BAD_REQUEST).await
        }
        Err(e) => login_error(headers, e),
    }
}

pub(super) async fn password_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<StateQuery>,
) -> Response {
    match load_transaction(&state, &jar, &q.state).await {
        Ok(txn) => match txn.email.clone() {
            Some(email) => password_page(&state, &txn, &email, None, StatusCode::OK).await,
            None => Redirect::to(&format!("/u/login?state={}", txn.id)).into_response(),
        },
        Err(e) => login_error(&headers, e),
    }
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    state: String,
    csrf: String,
    password: String,
}

pub(super) async fn password_post(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<PasswordForm>,
) -> Response {
    let txn = match load_form(&state, &jar, &form.state, &form.csrf).await {
        Ok(txn) => txn,
        Err(e) => return login_error(&headers, e),
    };
    match login::submit_password(&state, &txn, &form.password, client_ip).await {
        Ok(finished) => finished_response(&state, &txn, finished),
        Err(LoginError::Retry(message)) => {
            let email = txn.email.clone().unwrap_or_default();
            password_page(
                &state,
                &txn,
                &email,
                Some(&message),
                StatusCode::UNAUTHORIZED,
            )
            .await
        }
        Err(e) => login_error(&headers, e),
    }
}

/// The browser's last step of a login: clear the transaction's cookie, set
/// the new session's, and follow the redirect back to the client.
pub(in crate::http) fn finished_response(
    state: &AppState,
    txn: &Transaction,
    finished: login::Finished,
) -> Response {
    let response = match &finished.next {
        login::Next::Client(to) => to_client(to),
        login::Next::Page(path) => Redirect::to(path).into_response(),
    };
    let cookies = Cookies::of(state);
    let mut jar = CookieJar::new();
    if finished.transaction_ended {
        jar = jar.add(cookies.transaction_cleared(&txn.id));
    }
    if let Some(session) = finished.session_cookie {
        jar = jar.add(cookies.session(&session.secret, session.max_age_secs));
    }
    (jar, response).into_response()
}

#[derive(Deserialize)]
pub(super) struct ContinueForm {
    state: String,
    csrf: String,
}

/// "Continue as …" on the identifier page (`prompt=select_account`).
pub(super) async fn continue_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<ContinueForm>,
) -> Response {
    let txn = match load_form(&state, &jar, &form.state, &form.csrf).await {
        Ok(txn) => txn,
        Err(e) => return login_error(&headers, e),
    };
    let browser_session = match browser_session(&state, &jar).await {
        Ok(found) => found,
        Err(e) => return login_error(&headers, e.into()),
    };
    match login::continue_with_session(&state, &txn, browser_session.as_ref()).await {
        Ok(finished) => finished_response(&state, &txn, finished),
        Err(LoginError::Retry(message)) => {
            identifier_page(&state, &txn, Some(&message), StatusCode::BAD_REQUEST).await
        }
        Err(e) => login_error(&headers, e),
    }
}
