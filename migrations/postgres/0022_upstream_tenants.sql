-- One shared IdP for many organizations (a multi-tenant Entra `oidc`
-- connection): the upstream tenant (Entra's `tid`) whose people log in to
-- this organization through this connection. A tenant decides one
-- organization per connection, so the pair is unique; a connection enabled
-- without one is not routed by tenant.
alter table organization_connections add column upstream_tenant_id text;
create unique index organization_connections_upstream_tenant_key
    on organization_connections (connection_id, upstream_tenant_id);
