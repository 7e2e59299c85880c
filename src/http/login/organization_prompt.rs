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
use super::steps::{finished_response, load_form};
use crate::flows::login::{self, LoginError, OrganizationFoundBy, Transaction};
use crate::flows::request::OrganizationPrompt;
use crate::model::client::OrganizationDiscoveryMethod;
use crate::model::organization::Organization;
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

impl From<Organization> for OrganizationChoice {
    fn from(o: Organization) -> Self {
        OrganizationChoice {
            label: o.display_name.unwrap_or_else(|| o.name.clone()),
            id: o.id,
        }
    }
}

/// The organization the user's verified email domain lets them join.
struct JoinChoice {
    organization: OrganizationChoice,
    /// `auto`, `suggest` or `admin_approval`.
    policy: &'static str,
    /// An `admin_approval` request waits.
    requested: bool,
}

#[derive(Template)]
#[template(path = "organization_pick.html")]
struct OrganizationPickPage<'a> {
    brand: Brand,
    client_name: &'a str,
    transaction_id: &'a str,
    csrf: &'a str,
    search: &'a str,
    organizations: Vec<OrganizationChoice>,
    joinable: Option<JoinChoice>,
    previous: Option<String>,
    next: Option<String>,
    error: Option<&'a str>,
}

/// `GET /u/organization`: the transaction, and for the post-login picker
/// the search and the page (from 0).
#[derive(Deserialize)]
pub(super) struct OrganizationQuery {
    state: String,
    #[serde(default)]
    q: String,
    /// Lenient: anything but a number is the first page.
    #[serde(default)]
    page: String,
}

/// Which page of the post-login picker to show.
#[derive(Default)]
struct Listing {
    search: String,
    page: i64,
}

impl Listing {
    /// The picker's address for page `page` of this search.
    fn href(&self, transaction_id: &str, page: i64) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("state", transaction_id);
        if !self.search.is_empty() {
            query.append_pair("q", &self.search);
        }
        if page > 0 {
            query.append_pair("page", &page.to_string());
        }
        format!("/u/organization?{}", query.finish())
    }
}

/// The post-login picker: one page of the user's organizations, and the
/// one their email domain lets them join.
async fn pick_page(
    state: &AppState,
    headers: &HeaderMap,
    txn: &Transaction,
    error: Option<&str>,
    status: StatusCode,
    listing: &Listing,
) -> Response {
    let choices =
        match login::organizations_to_pick(state, txn, &listing.search, listing.page).await {
            Ok(choices) => choices,
            Err(e) => return login_error(headers, e),
        };
    render_with_form_target(
        &OrganizationPickPage {
            brand: Brand::default_brand(),
            client_name: &txn.client.name,
            transaction_id: &txn.id,
            csrf: &txn.csrf_token,
            search: &listing.search,
            organizations: choices.members.into_iter().map(Into::into).collect(),
            joinable: choices.joinable.map(|j| JoinChoice {
                policy: j.organization.domain_membership.as_str(),
                organization: j.organization.into(),
                requested: j.requested,
            }),
            previous: (listing.page > 0).then(|| listing.href(&txn.id, listing.page - 1)),
            next: choices
                .more
                .then(|| listing.href(&txn.id, listing.page + 1)),
            error,
        },
        status,
        Some(&txn.request.redirect_uri),
    )
}

/// The organization prompts of a client that requires one: its name before
/// the login (`pre_login_prompt`), or a pick among the user's organizations
/// after it (`post_login_prompt`).
async fn organization_page(
    state: &AppState,
    headers: &HeaderMap,
    txn: &Transaction,
    error: Option<&str>,
    listing: &Listing,
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
            pick_page(state, headers, txn, error, status, listing).await
        }
        _ => Redirect::to(&format!("/u/login?state={}", txn.id)).into_response(),
    }
}

pub(super) async fn organization_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<OrganizationQuery>,
) -> Response {
    let listing = Listing {
        search: q.q.trim().to_owned(),
        page: q.page.parse::<u32>().map_or(0, i64::from),
    };
    match load_transaction(&state, &jar, &q.state).await {
        Ok(txn) => organization_page(&state, &headers, &txn, None, &listing).await,
        Err(e) => login_error(&headers, e),
    }
}

#[derive(Deserialize)]
pub(super) struct OrganizationForm {
    state: String,
    csrf: String,
    organization: String,
    /// Post-login: `join` confirms joining a suggested organization,
    /// `request` asks an admin to let the user join.
    #[serde(default)]
    action: String,
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
        Some(OrganizationPrompt::AfterLogin) => match form.action.as_str() {
            "request" => login::request_to_join(&state, &txn, &form.organization)
                .await
                .map(|()| {
                    Redirect::to(&format!("/u/organization?state={}", txn.id)).into_response()
                }),
            action => {
                login::submit_organization_pick(&state, &txn, &form.organization, action == "join")
                    .await
                    .map(|finished| finished_response(&state, &txn, finished))
            }
        },
        None => Ok(Redirect::to(&format!("/u/login?state={}", txn.id)).into_response()),
    };
    match result {
        Ok(response) => response,
        Err(LoginError::Retry(message)) => {
            organization_page(&state, &headers, &txn, Some(&message), &Listing::default()).await
        }
        Err(e) => login_error(&headers, e),
    }
}
