-- Auth0's organization_discovery_methods of a client (`pre_login_prompt`
-- finds the organization by its name, by the email's verified domain, or
-- either): a JSON array of "email" and "organization_name"; null while the
-- client never set it (the organization's name, as before). The property
-- was kept without effect in inert_settings until now: a valid value moves
-- here, and none stays there (it is returned from this column).
alter table clients add column organization_discovery_methods text;

update clients
set organization_discovery_methods = (inert_settings::jsonb -> 'organization_discovery_methods')::text
where jsonb_typeof(inert_settings::jsonb -> 'organization_discovery_methods') = 'array'
    and jsonb_array_length(inert_settings::jsonb -> 'organization_discovery_methods') > 0
    and not exists (
        select 1 from jsonb_array_elements(inert_settings::jsonb -> 'organization_discovery_methods') as m (value)
        where m.value not in ('"email"'::jsonb, '"organization_name"'::jsonb)
    )
    and (
        select count(distinct m.value) from jsonb_array_elements(inert_settings::jsonb -> 'organization_discovery_methods') as m (value)
    ) = jsonb_array_length(inert_settings::jsonb -> 'organization_discovery_methods');

update clients
set inert_settings = (inert_settings::jsonb - 'organization_discovery_methods')::text
where inert_settings::jsonb -> 'organization_discovery_methods' is not null;
