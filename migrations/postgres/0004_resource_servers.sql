-- APIs (resource servers) that access tokens are issued for, their scopes,
-- and the permissions (scopes of an API) granted to roles. Kept in step with
-- ../sqlite/0004_resource_servers.sql. A scope is its own row so that
-- removing it from an API (or deleting the API) removes the role permissions
-- that name it, by foreign key: no dangling permissions.

create table resource_servers (
    id text constraint resource_servers_pkey primary key,
    name text not null,
    identifier text not null constraint resource_servers_identifier_key unique,
    signing_alg text not null,
    token_lifetime bigint not null,
    allow_offline_access boolean not null default false,
    skip_consent_for_verifiable_first_party_clients boolean not null default true,
    enforce_policies boolean not null default false,
    token_dialect text not null,
    created_at bigint not null,
    updated_at bigint not null
);

create table resource_server_scopes (
    resource_server_id text not null constraint resource_server_scopes_resource_server_fkey references resource_servers (id) on delete cascade,
    value text not null,
    description text,
    -- The order the caller listed the scopes in, kept for the response.
    position integer not null,
    constraint resource_server_scopes_pkey primary key (resource_server_id, value)
);

create table role_permissions (
    role_id text not null constraint role_permissions_role_fkey references roles (id) on delete cascade,
    resource_server_id text not null,
    permission_name text not null,
    created_at bigint not null,
    constraint role_permissions_pkey primary key (role_id, resource_server_id, permission_name),
    constraint role_permissions_scope_fkey foreign key (resource_server_id, permission_name)
        references resource_server_scopes (resource_server_id, value) on delete cascade
);
create index role_permissions_scope_idx on role_permissions (resource_server_id, permission_name);
