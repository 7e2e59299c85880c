-- Switchyard schema, PostgreSQL dialect. Kept in step with ../sqlite/0001_init.sql:
-- same tables, columns and constraint names (errors are mapped by constraint name).
-- Times are unix milliseconds (bigint); JSON documents are text.

create table organizations (
    id text constraint organizations_pkey primary key,
    name text not null constraint organizations_name_key unique,
    display_name text,
    branding text,
    metadata text not null default '{}',
    created_at bigint not null,
    updated_at bigint not null
);

create table connections (
    id text constraint connections_pkey primary key,
    name text not null constraint connections_name_key unique,
    strategy text not null,
    display_name text,
    options text not null default '{}',
    metadata text not null default '{}',
    is_domain_connection boolean not null default false,
    show_as_button boolean,
    realms text not null default '[]',
    created_at bigint not null,
    updated_at bigint not null
);

create table clients (
    client_id text constraint clients_pkey primary key,
    name text not null,
    description text,
    app_type text not null,
    client_secret_hash text,
    callbacks text not null default '[]',
    allowed_logout_urls text not null default '[]',
    web_origins text not null default '[]',
    grant_types text not null default '[]',
    token_endpoint_auth_method text not null,
    organization_usage text not null,
    organization_require_behavior text not null,
    signing_alg text not null,
    is_first_party boolean not null default true,
    client_metadata text not null default '{}',
    created_at bigint not null,
    updated_at bigint not null
);

create table connection_clients (
    connection_id text not null constraint connection_clients_connection_fkey references connections (id) on delete cascade,
    client_id text not null constraint connection_clients_client_fkey references clients (client_id) on delete cascade,
    constraint connection_clients_pkey primary key (connection_id, client_id)
);

create table organization_connections (
    organization_id text not null constraint organization_connections_organization_fkey references organizations (id) on delete cascade,
    connection_id text not null constraint organization_connections_connection_fkey references connections (id) on delete cascade,
    assign_membership_on_login boolean not null default false,
    is_signup_enabled boolean not null default false,
    show_as_button boolean not null default false,
    organization_connection_name text,
    organization_access_level text not null default 'none',
    created_at bigint not null,
    constraint organization_connections_pkey primary key (organization_id, connection_id),
    constraint organization_connections_connection_name_key unique (organization_id, organization_connection_name),
    constraint organization_connections_signup_check check (not is_signup_enabled or assign_membership_on_login)
);

create table client_grants (
    id text constraint client_grants_pkey primary key,
    client_id text not null constraint client_grants_client_fkey references clients (client_id) on delete cascade,
    audience text not null,
    scope text not null default '[]',
    organization_usage text,
    allow_any_organization boolean not null default false,
    created_at bigint not null,
    constraint client_grants_client_audience_key unique (client_id, audience)
);

create table users (
    user_id text constraint users_pkey primary key,
    connection_id text not null constraint users_connection_fkey references connections (id) on delete cascade,
    email text not null,
    email_verified boolean not null default false,
    name text,
    given_name text,
    family_name text,
    nickname text,
    picture text,
    password_hash text,
    blocked boolean not null default false,
    app_metadata text not null default '{}',
    user_metadata text not null default '{}',
    created_at bigint not null,
    updated_at bigint not null,
    constraint users_connection_email_key unique (connection_id, email)
);
create index users_email_idx on users (email);

create table roles (
    id text constraint roles_pkey primary key,
    name text not null constraint roles_name_key unique,
    description text,
    created_at bigint not null,
    updated_at bigint not null
);

create table organization_members (
    organization_id text not null constraint organization_members_organization_fkey references organizations (id) on delete cascade,
    user_id text not null constraint organization_members_user_fkey references users (user_id) on delete cascade,
    created_at bigint not null,
    constraint organization_members_pkey primary key (organization_id, user_id)
);

create table organization_member_roles (
    organization_id text not null,
    user_id text not null,
    role_id text not null constraint organization_member_roles_role_fkey references roles (id) on delete cascade,
    constraint organization_member_roles_pkey primary key (organization_id, user_id, role_id),
    constraint organization_member_roles_member_fkey foreign key (organization_id, user_id)
        references organization_members (organization_id, user_id) on delete cascade
);

-- Signing keys: per algorithm, at most one `current` and one `next`; `previous`
-- keys still verify; `retired` keys are kept for audit and verify nothing.
create table signing_keys (
    kid text constraint signing_keys_pkey primary key,
    alg text not null,
    state text not null constraint signing_keys_state_check check (state in ('next', 'current', 'previous', 'retired')),
    private_key_der text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index signing_keys_alg_state_key on signing_keys (alg, state) where state in ('current', 'next');

-- Tenant-wide flags and settings (`demo_seeded`, …).
create table tenant_settings (
    key text constraint tenant_settings_pkey primary key,
    value text not null
);
