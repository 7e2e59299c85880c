//! The email-domain guard: an identity from an enterprise connection (oidc,
//! samlp) logs in to an organization only with an email under one of that
//! organization's verified domains (the domain itself, or below one claimed
//! with `include_subdomains`), so an IdP an organization configured —
//! misconfigured or hostile — cannot sign in as another organization's
//! people. A connection's `options.allow_other_email_domains` lifts it, for
//! IdPs that assert other domains. Social and database connections are not
//! guarded (a social provider's emails are its own; a password proves the
//! account). An identity without an email is refused too.
//!
//! A refusal is `Ok(Some(message))`: the page's text, naming the connection
//! and never another organization; the details go to the log.

use crate::model::connection::Connection;
use crate::state::AppState;
use crate::store::StoreError;

/// Whether `email`, asserted by `connection`, may enter `organization_id`.
pub async fn refusal(
    state: &AppState,
    organization_id: &str,
    connection: &Connection,
    email: Option<&str>,
) -> Result<Option<String>, StoreError> {
    if !guarded(connection) {
        return Ok(None);
    }
    let domain = email
        .and_then(|email| email.rsplit_once('@'))
        .and_then(|(_, domain)| crate::model::domain::normalize(domain).ok());
    if let Some(domain) = &domain {
        if state
            .store
            .organization_domain_covers(organization_id, domain)
            .await?
        {
            return Ok(None);
        }
    }
    tracing::warn!(
        organization_id,
        connection = %connection.name,
        connection_id = %connection.id,
        email_domain = domain.as_deref().unwrap_or("(none)"),
        "email-domain guard: the identity's email is outside the organization's verified domains"
    );
    let label = connection.label();
    Ok(Some(match email {
        Some(email) => format!(
            "{label} signed you in as {email}, but that address is not in a domain this \
             organization has verified, so it cannot be used to sign in here. \
             Ask your administrator."
        ),
        None => format!(
            "{label} sent no email address, so this organization cannot tell whether \
             the account is one of its own. Ask your administrator."
        ),
    }))
}

/// [`refusal`] for a user who authenticated through `connection_id` and
/// enters `organization_id` afterwards (picked after the login, or from
/// an SSO session): the user's email stands for the identity's (a
/// provisioned user's follows its upstream at every login).
pub async fn refusal_of_user(
    state: &AppState,
    organization_id: &str,
    client_id: &str,
    user_id: &str,
    connection_id: &str,
) -> Result<Option<String>, StoreError> {
    let connections = state
        .clients
        .client_connections(&state.store, client_id)
        .await?;
    let Some(connection) = connections
        .iter()
        .find(|c| c.id == connection_id)
        .filter(|c| guarded(c))
    else {
        return Ok(None);
    };
    let user = state.store.get_user(user_id).await?.user;
    refusal(state, organization_id, connection, user.email.as_deref()).await
}

fn guarded(connection: &Connection) -> bool {
    connection.strategy.is_enterprise() && !connection.options.allows_other_email_domains()
}
