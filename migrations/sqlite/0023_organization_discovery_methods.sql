-- Auth0's organization_discovery_methods of a client (`pre_login_prompt`
-- finds the organization by its name, by the email's verified domain, or
-- either): a JSON array of "email" and "organization_name"; null while the
-- client never set it (the organization's name, as before). The property
-- was kept without effect in inert_settings until now: a valid value moves
-- here, and none stays there (it is returned from this column).
alter table clients add column organization_discovery_methods text;

update clients
set organization_discovery_methods = json_extract(inert_settings, '$.organization_discovery_methods')
where json_type(inert_settings, '$.organization_discovery_methods') = 'array'
    and json_array_length(inert_settings, '$.organization_discovery_methods') > 0
    and not exists (
        select 1 from json_each(inert_settings, '$.organization_discovery_methods')
        where value not in ('email', 'organization_name')
    )
    and (
        select count(distinct value) from json_each(inert_settings, '$.organization_discovery_methods')
    ) = json_array_length(inert_settings, '$.organization_discovery_methods');

update clients
set inert_settings = json_remove(inert_settings, '$.organization_discovery_methods')
where json_type(inert_settings, '$.organization_discovery_methods') is not null;
