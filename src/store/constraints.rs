//! Every named uniqueness and check constraint of the schema, in one list:
//! what [`StoreError::Conflict`](super::StoreError::Conflict) can hold, how a
//! SQLite refusal (which names columns, not constraints) maps to the name,
//! and what a conflict means to a Management API caller (its 409 message).
//! The store suite checks the list against both migrated schemas, both ways.

/// A primary key, unique constraint, unique index or check constraint, by
/// the name both schemas give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constraint {
    /// As PostgreSQL reports it, and as `StoreError::Conflict` holds it.
    pub name: &'static str,
    pub table: &'static str,
    /// The columns a unique key covers, in order (SQLite's message lists
    /// them); empty for a check constraint (SQLite's message names it).
    pub columns: &'static [&'static str],
    /// What a conflict on it tells a Management API caller; `None` for
    /// the keys that no API request can collide on (generated ids, tokens).
    pub conflict: Option<&'static str>,
}

const fn unique(
    name: &'static str,
    table: &'static str,
    columns: &'static [&'static str],
) -> Constraint {
    Constraint {
        name,
        table,
        columns,
        conflict: None,
    }
}

const fn check(name: &'static str, table: &'static str) -> Constraint {
    unique(name, table, &[])
}

const fn explained(constraint: Constraint, conflict: &'static str) -> Constraint {
    Constraint {
        conflict: Some(conflict),
        ..constraint
    }
}

/// The list, table by table in migration order.
pub const CONSTRAINTS: &[Constraint] = &[
    unique("organizations_pkey", "organizations", &["id"]),
    explained(
        unique("organizations_name_key", "organizations", &["name"]),
        "An organization with this name already exists",
    ),
    unique("connections_pkey", "connections", &["id"]),
    explained(
        unique("connections_name_key", "connections", &["name"]),
        "A connection with the same name already exists",
    ),
    explained(
        unique("clients_pkey", "clients", &["client_id"]),
        "A client with this client_id already exists",
    ),
    unique(
        "connection_clients_pkey",
        "connection_clients",
        &["connection_id", "client_id"],
    ),
    explained(
        unique(
            "organization_connections_pkey",
            "organization_connections",
            &["organization_id", "connection_id"],
        ),
        "The connection is already enabled for this organization",
    ),
    explained(
        unique(
            "organization_connections_connection_name_key",
            "organization_connections",
            &["organization_id", "organization_connection_name"],
        ),
        "Another connection of this organization already uses this organization_connection_name",
    ),
    check(
        "organization_connections_signup_check",
        "organization_connections",
    ),
    explained(
        unique(
            "organization_connections_upstream_tenant_key",
            "organization_connections",
            &["connection_id", "upstream_tenant_id"],
        ),
        "Another organization already has this upstream_tenant_id on this connection",
    ),
    unique("client_grants_pkey", "client_grants", &["id"]),
    explained(
        unique(
            "client_grants_client_audience_key",
            "client_grants",
            &["client_id", "audience"],
        ),
        "A client grant for this client and audience already exists",
    ),
    unique("users_pkey", "users", &["user_id"]),
    // A partial unique index: among password users.
    explained(
        unique(
            "users_connection_email_key",
            "users",
            &["connection_id", "email"],
        ),
        "The user already exists",
    ),
    unique("roles_pkey", "roles", &["id"]),
    explained(
        unique("roles_name_key", "roles", &["name"]),
        "A role with this name already exists",
    ),
    unique(
        "organization_members_pkey",
        "organization_members",
        &["organization_id", "user_id"],
    ),
    unique(
        "organization_member_roles_pkey",
        "organization_member_roles",
        &["organization_id", "user_id", "role_id"],
    ),
    unique("signing_keys_pkey", "signing_keys", &["kid"]),
    check("signing_keys_state_check", "signing_keys"),
    // A partial unique index: one current and one next key per algorithm.
    unique(
        "signing_keys_alg_state_key",
        "signing_keys",
        &["alg", "state"],
    ),
    unique("tenant_settings_pkey", "tenant_settings", &["key"]),
    unique("login_transactions_pkey", "login_transactions", &["id"]),
    unique(
        "authorization_codes_pkey",
        "authorization_codes",
        &["code_hash"],
    ),
    unique("sessions_pkey", "sessions", &["id"]),
    unique("sessions_cookie_hash_key", "sessions", &["cookie_hash"]),
    unique(
        "session_organizations_pkey",
        "session_organizations",
        &["session_id", "organization_id"],
    ),
    unique("refresh_grants_pkey", "refresh_grants", &["id"]),
    unique("refresh_tokens_pkey", "refresh_tokens", &["token_hash"]),
    unique("resource_servers_pkey", "resource_servers", &["id"]),
    explained(
        unique(
            "resource_servers_identifier_key",
            "resource_servers",
            &["identifier"],
        ),
        "A resource server with this identifier already exists",
    ),
    unique(
        "resource_server_scopes_pkey",
        "resource_server_scopes",
        &["resource_server_id", "value"],
    ),
    unique(
        "role_permissions_pkey",
        "role_permissions",
        &["role_id", "resource_server_id", "permission_name"],
    ),
    unique("login_throttle_pkey", "login_throttle", &["key"]),
    unique(
        "organization_client_grants_pkey",
        "organization_client_grants",
        &["organization_id", "grant_id"],
    ),
    unique(
        "revoked_access_tokens_pkey",
        "revoked_access_tokens",
        &["jti"],
    ),
    unique(
        "session_clients_pkey",
        "session_clients",
        &["session_id", "client_id"],
    ),
    unique("user_grants_pkey", "user_grants", &["id"]),
    // Consents of one user and client for one audience widen one row.
    unique(
        "user_grants_user_client_audience_key",
        "user_grants",
        &["user_id", "client_id", "audience"],
    ),
    unique(
        "user_grant_scopes_pkey",
        "user_grant_scopes",
        &["grant_id", "value"],
    ),
    unique(
        "upstream_requests_pkey",
        "upstream_requests",
        &["state_hash"],
    ),
    explained(
        unique(
            "user_identities_pkey",
            "user_identities",
            &["connection_id", "subject"],
        ),
        "The identity is already linked to a user",
    ),
    unique("pending_links_pkey", "pending_links", &["transaction_id"]),
    unique("saml_sp_keys_pkey", "saml_sp_keys", &["id"]),
    check("saml_sp_keys_state_check", "saml_sp_keys"),
    // A partial unique index: one current and one next SP key per connection.
    unique(
        "saml_sp_keys_connection_state_key",
        "saml_sp_keys",
        &["connection_id", "state"],
    ),
    unique(
        "saml_assertion_ids_pkey",
        "saml_assertion_ids",
        &["connection_id", "assertion_id"],
    ),
    unique("discovery_domains_pkey", "discovery_domains", &["id"]),
    // Its 409 names the domain, which the message cannot: the handler says it.
    unique(
        "discovery_domains_domain_key",
        "discovery_domains",
        &["domain"],
    ),
    check("discovery_domains_status_check", "discovery_domains"),
    check("organizations_domain_membership_check", "organizations"),
    unique(
        "organization_join_requests_pkey",
        "organization_join_requests",
        &["organization_id", "user_id"],
    ),
    unique(
        "discovery_domain_names_pkey",
        "discovery_domain_names",
        &["name"],
    ),
    unique(
        "discovery_domain_transfers_pkey",
        "discovery_domain_transfers",
        &["id"],
    ),
    // One transfer claim per organization and domain: its 409 names the domain.
    unique(
        "discovery_domain_transfers_domain_key",
        "discovery_domain_transfers",
        &["organization_id", "domain"],
    ),
    unique(
        "saml_session_subjects_pkey",
        "saml_session_subjects",
        &["session_id"],
    ),
    unique(
        "saml_logout_requests_pkey",
        "saml_logout_requests",
        &["relay_state_hash"],
    ),
];

/// The constraint named `name`, if it is one of the list.
pub fn constraint(name: &str) -> Option<&'static Constraint> {
    CONSTRAINTS.iter().find(|c| c.name == name)
}

/// The constraint a SQLite refusal names: "UNIQUE constraint failed:
/// organizations.name" names columns, found in the list by table and
/// columns; "CHECK constraint failed: x" names the constraint. Anything
/// else comes back as the message's tail.
pub(super) fn sqlite_constraint_name(message: &str) -> String {
    let failed = message
        .split_once("failed: ")
        .map_or(message, |(_, what)| what)
        .trim();
    CONSTRAINTS
        .iter()
        .find(|c| {
            !c.columns.is_empty()
                && failed
                    .split(", ")
                    .eq(c.columns.iter().map(|col| format!("{}.{col}", c.table)))
        })
        .map_or(failed, |c| c.name)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_messages_map_to_postgres_constraint_names() {
        assert_eq!(
            sqlite_constraint_name("UNIQUE constraint failed: organizations.name"),
            "organizations_name_key"
        );
        assert_eq!(
            sqlite_constraint_name("UNIQUE constraint failed: users.connection_id, users.email"),
            "users_connection_email_key"
        );
        assert_eq!(
            sqlite_constraint_name(
                "CHECK constraint failed: organization_connections_signup_check"
            ),
            "organization_connections_signup_check"
        );
        // Columns in another order are another key.
        assert_eq!(
            sqlite_constraint_name("UNIQUE constraint failed: users.email, users.connection_id"),
            "users.email, users.connection_id"
        );
    }

    #[test]
    fn names_are_unique_and_conflicts_explained_once() {
        for (i, c) in CONSTRAINTS.iter().enumerate() {
            assert!(
                CONSTRAINTS[..i].iter().all(|d| d.name != c.name),
                "{} listed twice",
                c.name
            );
            assert!(
                c.name.starts_with(c.table),
                "{} is not named for its table",
                c.name
            );
        }
        assert_eq!(
            constraint("roles_name_key").and_then(|c| c.conflict),
            Some("A role with this name already exists")
        );
        assert_eq!(constraint("nope"), None);
    }
}
