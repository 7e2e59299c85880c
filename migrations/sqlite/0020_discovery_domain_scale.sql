-- Claims at a million domains: the overlap guard of a claim (migration 0018)
-- finds the claims above it by name (`domain in (…)`, the unique key) and
-- the claims below it by a prefix range on `reversed_domain`, the domain
-- spelled backwards (`eu.example.com` → `moc.elpmaxe.ue`, so every name
-- below `example.com` starts with `moc.elpmaxe.`). Byte order (SQLite's
-- BINARY collation); the store writes it with the domain.
alter table discovery_domains add column reversed_domain text not null default '';
-- SQLite has no reverse(): the existing claims' domains, a character at a time.
update discovery_domains set reversed_domain = (
    with recursive spelled (i, backwards) as (
        select length(discovery_domains.domain), ''
        union all
        select i - 1, backwards || substr(discovery_domains.domain, i, 1) from spelled where i > 0
    )
    select backwards from spelled where i = 0
);
create index discovery_domains_reversed_idx on discovery_domains (reversed_domain);

-- The claims bound to a connection: what a connection's change can reroute
-- (the routing table re-reads these, not every claim).
create index discovery_domains_connection_idx on discovery_domains (connection_id)
    where connection_id is not null;
