-- DNS verification of discovery domains (the TXT record `verification_txt`
-- at `verification_host`) and the ownership lifecycle.
--
-- `verified_by_dns`: the domain is verified because its record was found,
-- so re-checks may demote it; a domain the tenant admin created or set as
-- verified (every verified domain before this migration) keeps 0 and is
-- never demoted by DNS. `last_checked_at`: the last lookup; `next_check_at`:
-- when the periodic pass looks next (null: at its next run; it spaces the
-- checks of a pending domain out and leaves admin-verified ones alone);
-- `missing_since`: the first lookup of a run that did not find the record
-- (null while found), from which the grace period before a demotion counts;
-- `verification_reason`: why the last check did not find it, in plain words.
alter table discovery_domains add column verified_by_dns boolean not null default false;
alter table discovery_domains add column last_checked_at bigint;
alter table discovery_domains add column next_check_at bigint;
alter table discovery_domains add column missing_since bigint;
alter table discovery_domains add column verification_reason text;
create index discovery_domains_next_check_idx on discovery_domains (next_check_at);
-- Only domains the periodic pass looks up have a next check: the pending ones, due now.
update discovery_domains set next_check_at = 0 where status = 'pending';

-- An organization's claim of a domain another organization holds: proven
-- by its own `verification_txt` at the same verification host, it takes the
-- domain over (the store deletes the holder's claim and inserts this one,
-- with the same id, verified, in one transaction on the claim path). At
-- most one claim per organization and domain.
create table discovery_domain_transfers (
    id text constraint discovery_domain_transfers_pkey primary key,
    organization_id text not null constraint discovery_domain_transfers_organization_fkey references organizations (id) on delete cascade,
    domain text not null,
    verification_txt text not null,
    use_for_organization_discovery boolean not null,
    include_subdomains boolean not null,
    last_checked_at bigint,
    verification_reason text,
    created_at bigint not null,
    constraint discovery_domain_transfers_domain_key unique (organization_id, domain)
);
