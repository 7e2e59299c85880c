//! `/authorize` (GET, and POST as OIDC Core §3.1.2.1 allows): the request is
//! checked by the flows; then it is answered from the browser's SSO session
//! when it can be, or a login transaction starts and the browser goes to its
//! first page with the transaction's cookie.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;

use super::cookies::{Cookies, browser_session};
use super::pages::{error_page, login_error, to_client};
use crate::flows::authorize::{AuthorizeError, check_request};
use crate::flows::login::{self, LoginError, SessionAnswer};
use crate::flows::session::{self, SessionUse};
use crate::flows::{OAuthError, OAuthErrorCode};
use crate::http::ClientIp;
use crate::state::AppState;

pub(super) async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(client_ip): ClientIp,
    jar: CookieJar,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    authorize(&state, &headers, client_ip, &jar, &params).await
}

/// OIDC Core §3.1.2.1: the authorization endpoint takes POST (a form) as well.
pub(super) async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(client_ip): ClientIp,
    jar: CookieJar,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    authorize(&state, &headers, client_ip, &jar, &params).await
}

/// An authorization request: answered from the browser's session when it
/// can be, else the start of a login.
async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    client_ip: std::net::IpAddr,
    jar: &CookieJar,
    params: &[(String, String)],
) -> Response {
    let request = match check_request(state, params).await {
        Ok(request) => request,
        Err(AuthorizeError::Page { title, detail }) => {
            return error_page(headers, StatusCode::BAD_REQUEST, &title, &detail);
        }
        Err(AuthorizeError::ToClient(response)) => return to_client(&response),
        Err(AuthorizeError::Internal { detail }) => {
            return login_error(headers, LoginError::Internal(detail));
        }
    };
    let browser_session = match browser_session(state, jar).await {
        Ok(found) => found,
        Err(e) => return login_error(headers, e.into()),
    };
    let login_required = || {
        let error = OAuthError::new(OAuthErrorCode::LoginRequired, "The user must log in");
        to_client(&request.error_response(state.issuer.identifier(), &error))
    };
    let use_of_session = session::decide(
        &request,
        browser_session.as_ref(),
        state.clock.now_unix_seconds(),
    );
    // A page the session's user goes to without logging in again.
    let mut page_in_session = None;
    match use_of_session {
        SessionUse::LoginRequired => return login_required(),
        SessionUse::Silent => {
            if let Some(found) = &browser_session {
                match login::authorize_with_session(state, &request, found).await {
                    Ok(SessionAnswer::Client(response)) => return to_client(&response),
                    Ok(SessionAnswer::AskConsent) => page_in_session = Some("/u/consent"),
                    Ok(SessionAnswer::NotServed) if request.prompt.iter().any(|p| p == "none") => {
                        return login_required();
                    }
                    Ok(SessionAnswer::NotServed) => {}
                    Err(e) => return login_error(headers, e),
                }
            }
        }
        SessionUse::PickOrganization => page_in_session = Some("/u/organization"),
        SessionUse::Interactive => {}
    }
    let started = match (&browser_session, page_in_session) {
        (Some(found), Some(page)) => login::begin_in_session(state, &request, found, client_ip)
            .await
            .map(|started| (started, page)),
        _ => {
            let page = match request.screen_hint.as_deref() {
                Some("signup") => "/u/signup",
                _ => "/u/login",
            };
            let previous_session = browser_session.as_ref().map(|s| s.id.as_str());
            login::begin(state, &request, previous_session, client_ip)
                .await
                .map(|started| (started, page))
        }
    };
    match started {
        Ok((started, page)) => {
            let mut location = format!("{page}?state={}", started.transaction_id);
            if page == "/u/login" && request.login_hint.is_some() {
                // The hinted email goes through the identifier step at once.
                location.push_str("&hinted=true");
            }
            let cookie =
                Cookies::of(state).transaction(&started.transaction_id, &started.browser_secret);
            (CookieJar::new().add(cookie), Redirect::to(&location)).into_response()
        }
        Err(e) => login_error(headers, e),
    }
}
