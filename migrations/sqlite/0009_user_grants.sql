-- Consent (Auth0's grants): what a user allowed a third-party client, per
-- audience (an API's identifier, or the issuer's /userinfo for the OpenID
-- scopes alone). One row per user, client and audience, its scopes a set
-- that a later consent widens; deleting the row asks the user again.

create table user_grants (
    id text constraint user_grants_pkey primary key,
    user_id text not null constraint user_grants_user_fkey references users (user_id) on delete cascade,
    client_id text not null constraint user_grants_client_fkey references clients (client_id) on delete cascade,
    audience text not null,
    created_at bigint not null,
    updated_at bigint not null,
    constraint user_grants_user_client_audience_key unique (user_id, client_id, audience)
);

create index user_grants_client_idx on user_grants (client_id);

create table user_grant_scopes (
    grant_id text not null constraint user_grant_scopes_grant_fkey references user_grants (id) on delete cascade,
    value text not null,
    constraint user_grant_scopes_pkey primary key (grant_id, value)
);
