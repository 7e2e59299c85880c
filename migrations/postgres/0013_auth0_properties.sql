-- Every property of Auth0's create and update requests is taken. Those with
-- a meaning here get a column: a client's refresh-token settings (JSON,
-- null for the defaults), its login URI and its ID tokens' lifetime. The
-- others are kept as sent, a JSON object per row, and returned unchanged.

alter table clients add column refresh_token text;
alter table clients add column initiate_login_uri text;
alter table clients add column id_token_lifetime bigint not null default 3600;
alter table clients add column inert_settings text not null default '{}';
alter table client_grants add column inert_settings text not null default '{}';
alter table connections add column inert_settings text not null default '{}';
alter table organizations add column inert_settings text not null default '{}';
alter table resource_servers add column inert_settings text not null default '{}';
alter table roles add column inert_settings text not null default '{}';
alter table users add column inert_settings text not null default '{}';
