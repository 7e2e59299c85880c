-- Organization discovery domains (home-realm discovery), in Auth0's shape.
-- `domain` is normalized (lowercase IDNA ASCII, no trailing dot) and belongs
-- to at most one organization: the unique key refuses a second claim, even
-- of two claims racing. `connection_id`: a connection enabled on the
-- organization the domain routes to (null: the organization's default);
-- disabling it there, or deleting the connection, sets it back to null
-- (the store does, first: the domain stays the organization's); deleting
-- the organization deletes the domain.
--
-- The subdomain rules (no claim under another organization's
-- `include_subdomains` domain, no `include_subdomains` claim above another
-- organization's domain) hold between names that share the shorter one, so
-- a claim first locks one row per name on its path in
-- `discovery_domain_names` (example.com, then eu.example.com…, shortest
-- first) and then inserts with one statement that finds no conflicting
-- claim: two claims that could conflict queue on their common name and the
-- second sees the first; unrelated claims never wait for each other.
-- (SQLite writes one transaction at a time, PostgreSQL holds the row locks
-- to the commit.)
create table discovery_domains (
    id text constraint discovery_domains_pkey primary key,
    organization_id text not null constraint discovery_domains_organization_fkey references organizations (id) on delete cascade,
    domain text not null constraint discovery_domains_domain_key unique,
    status text not null constraint discovery_domains_status_check check (status in ('pending', 'verified')),
    use_for_organization_discovery integer not null,
    verification_txt text not null,
    connection_id text,
    include_subdomains integer not null,
    created_at bigint not null,
    updated_at bigint not null,
    constraint discovery_domains_connection_fkey foreign key (organization_id, connection_id)
        references organization_connections (organization_id, connection_id)
);
create index discovery_domains_organization_idx on discovery_domains (organization_id, id);

-- The names claims lock (see above); a row is only a lock, kept once made.
create table discovery_domain_names (
    name text constraint discovery_domain_names_pkey primary key
);
