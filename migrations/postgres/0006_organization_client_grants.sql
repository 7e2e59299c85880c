-- Client grants associated with an organization: a machine client may get an
-- organization-scoped token for the grant's API only in these organizations
-- (or in any, with the grant's allow_any_organization).

create table organization_client_grants (
    organization_id text not null constraint organization_client_grants_organization_fkey references organizations (id) on delete cascade,
    grant_id text not null constraint organization_client_grants_grant_fkey references client_grants (id) on delete cascade,
    created_at bigint not null,
    constraint organization_client_grants_pkey primary key (organization_id, grant_id)
);

create index organization_client_grants_grant_idx on organization_client_grants (grant_id);
