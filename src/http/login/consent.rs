//! `/u/consent`: the consent page of a third-party client, after the user
//! has logged in and before the code ([`crate::flows::consent`]). It names
//! the client, the organization and the API, lists the scopes asked for,
//! and posts Accept or Deny with the transaction's CSRF token.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::cookies::load_transaction;
use super::pages::{Brand, brand_for, login_error, render_with_form_target};
use super::steps::{StateQuery, finished_response, load_form};
use crate::flows::consent::{self, ApiLine, ScopeLine};
use crate::flows::login::{self, LoginError, Transaction};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    brand: Brand,
    client_name: &'a str,
    organization: Option<String>,
    email: String,
    api: Option<ApiLine>,
    scopes: Vec<ScopeLine>,
    transaction_id: &'a str,
    csrf: &'a str,
}

async fn consent_page(state: &AppState, headers: &HeaderMap, txn: &Transaction) -> Response {
    // The page comes after the login, and after the organization pick.
    if txn.authenticated_session_id.is_none() {
        return Redirect::to(&format!("/u/login?state={}", txn.id)).into_response();
    }
    if txn.pending_organization_prompt().is_some() {
        return Redirect::to(&format!("/u/organization?state={}", txn.id)).into_response();
    }
    let session = match login::consenting_session(state, txn).await {
        Ok(session) => session,
        Err(e) => return login_error(headers, e),
    };
    let question = match consent::question(state, &txn.request).await {
        Ok(question) => question,
        Err(e) => return login_error(headers, e.into()),
    };
    let email = match state.store.get_user(&session.user_id).await {
        Ok(user) => user.user.label().to_owned(),
        Err(e) => return login_error(headers, e.into()),
    };
    render_with_form_target(
        &ConsentPage {
            brand: brand_for(state, Some(txn)).await,
            client_name: &txn.client.name,
            organization: question.organization,
            email,
            api: question.api,
            scopes: question.scopes,
            transaction_id: &txn.id,
            csrf: &txn.csrf_token,
        },
        StatusCode::OK,
        Some(&txn.request.redirect_uri),
    )
}

pub(super) async fn consent_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<StateQuery>,
) -> Response {
    match load_transaction(&state, &jar, &q.state).await {
        Ok(txn) => consent_page(&state, &headers, &txn).await,
        Err(e) => login_error(&headers, e),
    }
}

/// The consent form. A missing `csrf` or `decision` reads as empty: a
/// missing token is refused as a forged one, with the same page.
#[derive(Deserialize)]
pub(super) struct ConsentForm {
    state: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
}

pub(super) async fn consent_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<ConsentForm>,
) -> Response {
    let txn = match load_form(&state, &jar, &form.state, &form.csrf).await {
        Ok(txn) => txn,
        Err(e) => return login_error(&headers, e),
    };
    let accepted = match form.decision.as_str() {
        "accept" => true,
        "deny" => false,
        _ => {
            return login_error(&headers, LoginError::Retry("Choose Accept or Deny.".into()));
        }
    };
    match login::submit_consent(&state, &txn, accepted).await {
        Ok(finished) => finished_response(&state, &txn, finished),
        Err(e) => login_error(&headers, e),
    }
}
