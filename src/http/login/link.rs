//! The linking page (`/u/link`) of `account_linking: prove_existing`: a
//! person back from an upstream whose verified email one password account
//! has logs in to that account to link the two, or goes on with a separate
//! account. The upstream's callback sends the browser here through
//! `flows::federation::ask_to_prove`.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::cookies::load_transaction;
use super::pages::{Brand, brand_for, login_error, render_with_form_target};
use super::steps::{StateQuery, finished_response, load_form};
use crate::flows::federation;
use crate::flows::login::{LoginError, Transaction};
use crate::http::ClientIp;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "link_account.html")]
struct LinkPage<'a> {
    brand: Brand,
    transaction_id: &'a str,
    csrf: &'a str,
    email: &'a str,
    connection: &'a str,
    error: Option<&'a str>,
}

async fn link_page(
    state: &AppState,
    headers: &HeaderMap,
    txn: &Transaction,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let question = match federation::link_question(state, txn).await {
        Ok(question) => question,
        Err(e) => return login_error(headers, e),
    };
    render_with_form_target(
        &LinkPage {
            brand: brand_for(state, Some(txn)).await,
            transaction_id: &txn.id,
            csrf: &txn.csrf_token,
            email: &question.email,
            connection: &question.connection,
            error,
        },
        status,
        Some(&txn.request.redirect_uri),
    )
}

pub(super) async fn link_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<StateQuery>,
) -> Response {
    match load_transaction(&state, &jar, &q.state).await {
        Ok(txn) => link_page(&state, &headers, &txn, None, StatusCode::OK).await,
        Err(e) => login_error(&headers, e),
    }
}

#[derive(Deserialize)]
pub(super) struct LinkForm {
    state: String,
    csrf: String,
    /// `link` (with the password) or `skip`.
    decision: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn link_post(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<LinkForm>,
) -> Response {
    let txn = match load_form(&state, &jar, &form.state, &form.csrf).await {
        Ok(txn) => txn,
        Err(e) => return login_error(&headers, e),
    };
    let finished = match form.decision.as_str() {
        "link" => federation::submit_link_password(&state, &txn, &form.password, client_ip).await,
        "skip" => federation::skip_link(&state, &txn).await,
        _ => Err(LoginError::Retry(
            "Choose to link or to use a separate account.".into(),
        )),
    };
    match finished {
        Ok(finished) => finished_response(&state, &txn, finished),
        Err(LoginError::Retry(message)) => {
            link_page(
                &state,
                &headers,
                &txn,
                Some(&message),
                StatusCode::UNAUTHORIZED,
            )
            .await
        }
        Err(e) => login_error(&headers, e),
    }
}
