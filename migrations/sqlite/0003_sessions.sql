-- SSO sessions and refresh tokens.
--
-- A session is what the browser's `sy_session` cookie stands for (stored as
-- the SHA-256 of the cookie); its id is the `sid` claim. It remembers the
-- organizations it was used for. A refresh grant is one family of rotated
-- refresh tokens: using a rotated-away token again revokes the grant.

create table sessions (
    id text constraint sessions_pkey primary key,
    cookie_hash text not null constraint sessions_cookie_hash_key unique,
    user_id text not null constraint sessions_user_fkey references users (user_id) on delete cascade,
    connection_id text not null constraint sessions_connection_fkey references connections (id) on delete cascade,
    auth_time bigint not null,
    created_at bigint not null,
    last_used_at bigint not null,
    expires_at bigint not null,
    ended_at bigint
);

create index sessions_user_idx on sessions (user_id);

create table session_organizations (
    session_id text not null constraint session_organizations_session_fkey references sessions (id) on delete cascade,
    organization_id text not null constraint session_organizations_organization_fkey references organizations (id) on delete cascade,
    created_at bigint not null,
    constraint session_organizations_pkey primary key (session_id, organization_id)
);

create table refresh_grants (
    id text constraint refresh_grants_pkey primary key,
    client_id text not null constraint refresh_grants_client_fkey references clients (client_id) on delete cascade,
    user_id text not null constraint refresh_grants_user_fkey references users (user_id) on delete cascade,
    organization_id text constraint refresh_grants_organization_fkey references organizations (id) on delete cascade,
    session_id text,
    scope text not null,
    audience text,
    auth_time bigint not null,
    created_at bigint not null,
    expires_at bigint not null,
    revoked_at bigint
);

create index refresh_grants_user_idx on refresh_grants (user_id);

create table refresh_tokens (
    token_hash text constraint refresh_tokens_pkey primary key,
    grant_id text not null constraint refresh_tokens_grant_fkey references refresh_grants (id) on delete cascade,
    created_at bigint not null,
    expires_at bigint not null,
    used_at bigint
);

create index refresh_tokens_grant_idx on refresh_tokens (grant_id);

-- The refresh grant a code's exchange started, so that replaying the code revokes it.
alter table authorization_codes add column grant_id text;

-- The session the browser had when the login began: a new login ends it.
alter table login_transactions add column previous_session_id text;
