//! Universal login: `/authorize` and the server-rendered login pages (the
//! identifier and password steps, "continue as", the organization prompts),
//! and the responses that go back to the client. No JavaScript is needed to
//! log in; every form carries the transaction id and its CSRF token, and the
//! transaction only works from the browser holding its cookie.
//!
//! - [`authorize`]: the authorization endpoint, the one door in: answered
//!   from the SSO session when it can be, else a login transaction starts.
//! - [`steps`]: the pages of a login, one step each (identifier, password,
//!   "continue as"), and the last response that ends the transaction.
//! - [`organization_prompt`]: the organization a client requires, asked for
//!   before or after the login; apart because only such clients see it.
//! - [`link`]: the linking page of `account_linking: prove_existing`, after
//!   an upstream login and before the code.
//! - [`upstream`]: the round trip to an upstream identity provider: the
//!   buttons, Auth0's callback `/login/callback` and the same-site resume.
//! - [`consent`]: the consent page of third-party clients, after the login
//!   and before the code.
//! - [`pages`]: what every page shares — CSP and the other security headers,
//!   branding, the error page, the response to the client — so that sign-up
//!   and logout render exactly as login does.
//! - [`cookies`]: the transaction's and the SSO session's cookies, named,
//!   built and read in one place (their attributes are security decisions).

mod authorize;
mod consent;
mod cookies;
mod link;
mod organization_prompt;
mod pages;
mod steps;
mod upstream;

use axum::Router;
use axum::routing::{get, post};

pub(super) use cookies::{Cookies, browser_session, load_transaction, session_secret};
pub(super) use pages::{
    Brand, brand_for, error_page, login_error, render, render_with_form_target, to_client,
};
pub(super) use steps::{StateQuery, finished_response, load_form};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/u/login", get(steps::login_get).post(steps::login_post))
        .route(
            "/u/login/password",
            get(steps::password_get).post(steps::password_post),
        )
        .route("/u/login/continue", post(steps::continue_post))
        .route("/u/link", get(link::link_get).post(link::link_post))
        .route("/u/login/connection", get(upstream::connection_get))
        .route(
            "/login/callback",
            get(upstream::callback_get)
                .post(upstream::callback_post)
                // A SAMLResponse may be larger than the usual body: up to
                // the SAML cap, form-encoded, is read (and refused on the
                // page naming the connection when over the cap).
                .layer(axum::extract::DefaultBodyLimit::max(
                    2 * crate::connectors::saml::validate::MAX_RESPONSE_LEN
                        + crate::http::MAX_BODY_BYTES,
                )),
        )
        .route("/u/login/callback", get(upstream::resume_get))
        .route(
            "/u/consent",
            get(consent::consent_get).post(consent::consent_post),
        )
        .route(
            "/u/organization",
            get(organization_prompt::organization_get).post(organization_prompt::organization_post),
        )
}
