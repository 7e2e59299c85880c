-- Joining an organization by a verified email domain (an extension: Auth0
-- has no such setting). `domain_membership` says what a logged-in user
-- whose verified email lies in one of the organization's verified discovery
-- domains may do: nothing ('off', the default: membership only as before),
-- join at once ('auto'), join after confirming ('suggest'), or ask an admin
-- ('admin_approval': the request waits in organization_join_requests until
-- the Management API approves or denies it).
alter table organizations add column domain_membership text not null default 'off'
    constraint organizations_domain_membership_check
    check (domain_membership in ('off', 'auto', 'suggest', 'admin_approval'));

create table organization_join_requests (
    organization_id text not null constraint organization_join_requests_organization_fkey references organizations (id) on delete cascade,
    user_id text not null constraint organization_join_requests_user_fkey references users (user_id) on delete cascade,
    created_at bigint not null,
    constraint organization_join_requests_pkey primary key (organization_id, user_id)
);
create index organization_join_requests_user_idx on organization_join_requests (user_id);

-- The post-login picker pages through one user's organizations (a user may
-- belong to thousands): from the user, not a scan of every membership.
create index organization_members_user_idx on organization_members (user_id, organization_id);
