-- Auth0's `allowed_origins`: origins whose pages may call the token,
-- revocation and userinfo endpoints from JavaScript (CORS), with the
-- client's `web_origins` and the origins of its callbacks.

alter table clients add column allowed_origins text not null default '[]';
