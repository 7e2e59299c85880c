-- SAML single logout. `saml_session_subjects`: the subject a session's SAML
-- login was asserted for (NameID with its Format and qualifiers, the
-- AuthnStatement's SessionIndex), which the LogoutRequest names when the
-- session ends; it goes with its session. `saml_logout_requests`: a
-- LogoutRequest sent to the IdP, by the SHA-256 of its RelayState, until the
-- LogoutResponse comes back (single use) or it expires; `return_to` is where
-- the browser goes then (the post_logout_redirect_uri with its state; null
-- for the logged-out page).
create table saml_session_subjects (
    session_id text constraint saml_session_subjects_pkey primary key constraint saml_session_subjects_session_fkey references sessions (id) on delete cascade,
    connection_id text not null,
    name_id text not null,
    name_id_format text,
    name_qualifier text,
    sp_name_qualifier text,
    session_index text
);

create table saml_logout_requests (
    relay_state_hash text constraint saml_logout_requests_pkey primary key,
    connection_id text not null constraint saml_logout_requests_connection_fkey references connections (id) on delete cascade,
    request_id text not null,
    return_to text,
    expires_at bigint not null
);
create index saml_logout_requests_expires_idx on saml_logout_requests (expires_at);
