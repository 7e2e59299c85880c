//! `/u/organization`: the organization prompts of a client that requires an
//! organization — its name or an email of its verified domain before the
//! login (`pre_login_prompt`, as `organization_discovery_methods` say), or a pick
//! among the user's organizations after it (`post_login_prompt`).

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::cookies::load_transaction;
use super::pages::{Brand, login_error, render, render_with_form_target};
use super::steps::{StateQuery, finished_response, load_form};
use crate::flows::login::{self, LoginError, OrganizationFoundBy, Transaction};
use crate::flows::request::OrganizationPrompt;
use crate::model::client::OrganizationDiscoveryMethod;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "organization_name.html")]
struct OrganizationNamePage<'a> {
    brand: Brand,
    client_name: &'a str,
    transaction_id: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
    /// The client's `organization_discovery_methods`: the page asks for
    /// the organization's name, an email, or either.
    by_name: bool,
    by_email: bool,
}

struct OrganizationChoice {
    id: String,
    label: String,
}

#[derive(Template)]
#[template(path = "organization_pick.html")]
struct OrganizationPickPage<'a> {
    brand: Brand,
    client_name: &'a str,
    transaction_id: &'a str,
    csrf: &'a str,
    organizations: Vec<OrganizationChoice>,
    error: Option<&'a str>,
}

/// The organization prompts of a client that requires one: its name before
/// the login (`pre_login_prompt`), or a pick among the user's organizations
/// after it (`post_login_prompt`).
async fn organization_page(
    state: &AppState,
    headers: &HeaderMap,
    txn: &Transaction,
    error: Option<&str>,
) -> Response {
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    match txn.pending_organization_prompt() {
        Some(OrganizationPrompt::BeforeLogin) => render(
            &OrganizationNamePage {
                brand: Brand::default_brand(),
                client_name: &txn.client.name,
                transaction_id: &txn.id,
                csrf: &txn.csrf_token,
                error,
                by_name: txn
                    .client
                    .discovers_organizations_by(OrganizationDiscoveryMethod::OrganizationName),
                by_email: txn
                    .client
                    .discovers_organizations_by(OrganizationDiscoveryMethod::Email),
            },
            status,
        ),
        Some(OrganizationPrompt::AfterLogin) if txn.authenticated_session_id.is_some() => {
            match login::organizations_to_pick(state, txn).await {
                Ok((_, organizations)) => render_with_form_target(
                    &OrganizationPickPage {
                        brand: Brand::default_brand(),
                        client_name: &txn.client.name,
                        transaction_id: &txn.id,
                        csrf: &txn.csrf_token,
                        organizations: organizations
                            .into_iter()
                            .map(|o| OrganizationChoice {
                                label: o.display_name.unwrap_or_else(|| o.name.clone()),
                                id: o.id,
                            })
                            .collect(),
                        error,
                    },
                    status,
                    Some(&txn.request.redirect_uri),
                ),
                Err(e) => login_error(headers, e),
            }
        }
        _ => Redirect::to(&format!("/u/login?state={}", txn.id)).into_response(),
    }
}

pub(super) async fn organization_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<StateQuery>,
) -> Response {
    match load_transaction(&state, &jar, &q.state).await {
        Ok(txn) => organization_page(&state, &headers, &txn, None).await,
        Err(e) => login_error(&headers, e),
    }
}

#[derive(Deserialize)]
pub(super) struct OrganizationForm {
    state: String,
    csrf: String,
    organization: String,
}

pub(super) async fn organization_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<OrganizationForm>,
) -> Response {
    let txn = match load_form(&state, &jar, &form.state, &form.csrf).await {
        Ok(txn) => txn,
        Err(e) => return login_error(&headers, e),
    };
    let result = match txn.pending_organization_prompt() {
        Some(OrganizationPrompt::BeforeLogin) => {
            login::submit_organization_prompt(&state, &txn, &form.organization)
                .await
                .map(|found_by| {
                    // Found by an email: its identifier step runs at once.
                    let hinted = match found_by {
                        OrganizationFoundBy::Email => "&hinted=true",
                        OrganizationFoundBy::Name => "",
                    };
                    Redirect::to(&format!("/u/login?state={}{hinted}", txn.id)).into_response()
                })
        }
        Some(OrganizationPrompt::AfterLogin) => {
            login::submit_organization_pick(&state, &txn, &form.organization)
                .await
                .map(|finished| finished_response(&state, &txn, finished))
        }
        None => Ok(Redirect::to(&format!("/u/login?state={}", txn.id)).into_response()),
    };
    match result {
        Ok(response) => response,
        Err(LoginError::Retry(message)) => {
            organization_page(&state, &headers, &txn, Some(&message)).await
        }
        Err(e) => login_error(&headers, e),
    }
}
