//! The browser's side of a round trip to an upstream identity provider
//! (see `flows::upstream`): the buttons' and `connection=NAME`'s way out,
//! Auth0's callback `/login/callback` (GET for query responses, POST for
//! `form_post`), and the same-site resume where the transaction's cookie
//! decides whether the login goes on.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::cookies::{Cookies, load_transaction};
use super::pages::{Brand, brand_for, login_error, render, to_client};
use super::steps::finished_response;
use crate::connectors::{Begin, CallbackParams};
use crate::flows::login::{self, LoginError, Transaction};
use crate::flows::request::{ClientResponse, ResponseMode};
use crate::flows::upstream::{self, Callback};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "upstream_redirect.html")]
struct RedirectPage<'a> {
    brand: Brand,
    connection: &'a str,
    url: &'a str,
}

/// Sends the browser to the upstream of `connection_id`. After a form post
/// (`from_form`) it goes by a page of its own rather than a redirect: CSP
/// `form-action` would hold the form's redirect to the upstream's origin.
pub(super) async fn go_upstream(
    state: &AppState,
    headers: &HeaderMap,
    txn: &Transaction,
    connection_id: &str,
    from_form: bool,
) -> Response {
    match upstream::begin(state, txn, connection_id).await {
        Ok((Begin::Redirect(url), connection)) if from_form => {
            let brand = brand_for(state, Some(txn)).await;
            render(
                &RedirectPage {
                    brand,
                    connection: &connection,
                    url: &url,
                },
                StatusCode::OK,
            )
        }
        Ok((Begin::Redirect(url), _)) => Redirect::to(&url).into_response(),
        Ok((Begin::AutoPost { action, fields }, _)) => to_client(&ClientResponse {
            redirect_uri: action,
            mode: ResponseMode::FormPost,
            params: fields,
        }),
        Err(e) => login_error(headers, e),
    }
}

#[derive(Deserialize)]
pub(super) struct ConnectionQuery {
    state: String,
    connection: String,
}

/// A button of the identifier page: the login goes to that connection's
/// upstream, if the login may use it.
pub(super) async fn connection_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<ConnectionQuery>,
) -> Response {
    let txn = match load_transaction(&state, &jar, &q.state).await {
        Ok(txn) => txn,
        Err(e) => return login_error(&headers, e),
    };
    let snapshot = match login::routing_snapshot(&state, &txn.request).await {
        Ok(snapshot) => snapshot,
        Err(e) => return login_error(&headers, e),
    };
    // Only a button shown: a hidden enterprise connection is reached by
    // its domain (or `connection=NAME` at /authorize), never by this URL.
    let Some(candidate) = crate::routing::buttons(&snapshot)
        .into_iter()
        .find(|c| c.name == q.connection)
    else {
        return login_error(
            &headers,
            LoginError::Retry("That connection is not available for this login.".into()),
        );
    };
    go_upstream(&state, &headers, &txn, &candidate.connection_id, false).await
}

/// Auth0's callback, for a response in the query. A SAML response never
/// comes so (the Web Browser SSO profile sends it by HTTP-POST): it would
/// sit in logs and browser history.
pub(super) async fn callback_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    if params.contains_key("SAMLResponse") {
        return login_error(
            &headers,
            LoginError::Retry(
                "A SAML response is accepted by HTTP-POST only: the identity provider's \
                 assertion consumer service URL must use the HTTP-POST binding."
                    .into(),
            ),
        );
    }
    callback(&state, &headers, &params, None).await
}

/// Auth0's callback, for a `form_post` response, and the SAML ACS
/// (`?connection=NAME` in its query): a cross-site POST, which carries no
/// `SameSite=Lax` cookie, so the login resumes after a 303 back on this site.
pub(super) async fn callback_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CallbackParams>,
    Form(params): Form<CallbackParams>,
) -> Response {
    let acs_connection = query.get("connection").map(String::as_str);
    callback(&state, &headers, &params, acs_connection).await
}

async fn callback(
    state: &AppState,
    headers: &HeaderMap,
    params: &CallbackParams,
    acs_connection: Option<&str>,
) -> Response {
    match upstream::record_callback(state, params, acs_connection).await {
        Ok(Callback::Resume(resume)) => Redirect::to(&resume).into_response(),
        Ok(Callback::Initiated {
            location,
            session_cookie,
        }) => {
            let jar = CookieJar::new().add(
                Cookies::of(state).session(&session_cookie.secret, session_cookie.max_age_secs),
            );
            (jar, Redirect::to(&location)).into_response()
        }
        Err(e) => login_error(headers, e),
    }
}

#[derive(Deserialize)]
pub(super) struct ResumeQuery {
    state: String,
}

/// Back on this site: the login goes on only in the browser holding the
/// cookie of the transaction the round trip was made for.
pub(super) async fn resume_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<ResumeQuery>,
) -> Response {
    let result = async {
        let transaction_id = upstream::transaction_of(&state, &q.state).await?;
        let txn = load_transaction(&state, &jar, &transaction_id).await?;
        let finished = upstream::resume(&state, &txn, &q.state).await?;
        Ok::<_, LoginError>((txn, finished))
    }
    .await;
    match result {
        Ok((txn, finished)) => finished_response(&state, &txn, finished),
        Err(e) => login_error(&headers, e),
    }
}
