// Interop test: openid-client v6 (a certified RP library) logs a user in to an
// organization through Switchyard: discovery, authorization code + PKCE through
// the identifier-first login pages (driven over HTTP with a cookie jar), ID token
// validation with nonce and org_id, userinfo, refresh with rotation, SSO with
// prompt=none, introspection, revocation and RP-initiated logout.
//
// Env (set by tests/peers.rs): SWITCHYARD_ISSUER, SWITCHYARD_CLIENT_ID,
// SWITCHYARD_CLIENT_SECRET, SWITCHYARD_REDIRECT_URI, SWITCHYARD_ORG_NAME,
// SWITCHYARD_ORG_ID, SWITCHYARD_LOGOUT_URI, SWITCHYARD_USER_EMAIL, SWITCHYARD_USER_PASSWORD; TLS trust
// through NODE_EXTRA_CA_CERTS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { Browser, submit } from './browser.mjs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
};

test('openid-client: code + PKCE into an organization, refresh, SSO, revocation, logout', async () => {
  const issuer = new URL(env('SWITCHYARD_ISSUER'));
  const redirectUri = env('SWITCHYARD_REDIRECT_URI');
  const config = await client.discovery(issuer, env('SWITCHYARD_CLIENT_ID'), env('SWITCHYARD_CLIENT_SECRET'));
  assert.equal(config.serverMetadata().issuer, issuer.href);

  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: 'openid email profile offline_access', state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    organization: env('SWITCHYARD_ORG_NAME'),
  });

  const browser = new Browser();
  const identifier = await browser.follow(authUrl.href, {}, redirectUri);
  assert.equal(identifier.response?.status, 200, `identifier page: ${identifier.html}`);
  assert.match(identifier.html, /Email address/);
  const password = await submit(browser, identifier, { email: env('SWITCHYARD_USER_EMAIL') }, redirectUri);
  assert.equal(password.response?.status, 200, `password page: ${password.html}`);
  const done = await submit(browser, password, { password: env('SWITCHYARD_USER_PASSWORD') }, redirectUri);
  assert.ok(done.redirectedTo, `expected a redirect to the client, got: ${done.html}`);

  const tokens = await client.authorizationCodeGrant(config, new URL(done.redirectedTo), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
  });
  const claims = tokens.claims();
  assert.equal(claims.iss, issuer.href);
  assert.equal(claims.org_id, env('SWITCHYARD_ORG_ID'));
  assert.equal(claims.email, env('SWITCHYARD_USER_EMAIL'));
  assert.ok(claims.auth_time > 0);

  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(userinfo.sub, claims.sub);
  assert.equal(userinfo.email, env('SWITCHYARD_USER_EMAIL'));
  assert.equal(userinfo.org_id, env('SWITCHYARD_ORG_ID'));

  // Refresh: a new token pair in the same organization, a new refresh token.
  assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'rotated');
  const refreshedClaims = refreshed.claims();
  assert.equal(refreshedClaims.sub, claims.sub);
  assert.equal(refreshedClaims.org_id, env('SWITCHYARD_ORG_ID'));
  assert.equal(refreshedClaims.sid, claims.sid);

  // The same code again is refused, and revokes what it issued: the refreshed token too.
  await assert.rejects(
    client.authorizationCodeGrant(config, new URL(done.redirectedTo), {
      pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
    }),
    (err) => { assert.equal(err.error, 'invalid_grant'); return true; },
  );
  await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token),
    (err) => { assert.equal(err.error, 'invalid_grant'); return true; });

  // SSO: prompt=none in the same browser gets a code without any page.
  const silentState = client.randomState();
  const silentVerifier = client.randomPKCECodeVerifier();
  const silentUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: 'openid offline_access', state: silentState, prompt: 'none',
    code_challenge: await client.calculatePKCECodeChallenge(silentVerifier), code_challenge_method: 'S256',
    organization: env('SWITCHYARD_ORG_NAME'),
  });
  const silent = await browser.follow(silentUrl.href, {}, redirectUri);
  assert.ok(silent.redirectedTo, `prompt=none should redirect at once, got ${silent.html}`);
  const silentTokens = await client.authorizationCodeGrant(config, new URL(silent.redirectedTo), {
    pkceCodeVerifier: silentVerifier, expectedState: silentState,
  });
  assert.equal(silentTokens.claims().sid, claims.sid);
  assert.equal(silentTokens.claims().auth_time, claims.auth_time);

  // Introspection and revocation of the new refresh token.
  const active = await client.tokenIntrospection(config, silentTokens.refresh_token);
  assert.equal(active.active, true);
  assert.equal(active.org_id, env('SWITCHYARD_ORG_ID'));
  await client.tokenRevocation(config, silentTokens.refresh_token);
  const revoked = await client.tokenIntrospection(config, silentTokens.refresh_token);
  assert.equal(revoked.active, false);

  // RP-initiated logout ends the session: prompt=none then needs a login.
  const logoutUri = env('SWITCHYARD_LOGOUT_URI');
  const endSession = client.buildEndSessionUrl(config, {
    id_token_hint: silentTokens.id_token, post_logout_redirect_uri: logoutUri, state: 'bye',
  });
  const loggedOut = await browser.follow(endSession.href, {}, logoutUri);
  assert.ok(loggedOut.redirectedTo, `logout should return to the app, got ${loggedOut.html}`);
  assert.equal(new URL(loggedOut.redirectedTo).searchParams.get('state'), 'bye');
  const after = await browser.follow(silentUrl.href, {}, redirectUri);
  assert.equal(new URL(after.redirectedTo).searchParams.get('error'), 'login_required');
  console.log(`# openid-client logged ${claims.email} in to ${claims.org_id}, refreshed, used SSO, logged out`);
});
