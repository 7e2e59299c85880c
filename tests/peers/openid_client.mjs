// Interop test: openid-client v6 (a certified RP library) logs a user in to an
// organization through Switchyard: discovery, authorization code + PKCE through
// the identifier-first login pages (driven over HTTP with a cookie jar), ID token
// validation with nonce and org_id, and userinfo.
//
// Env (set by tests/peers.rs): SWITCHYARD_ISSUER, SWITCHYARD_CLIENT_ID,
// SWITCHYARD_CLIENT_SECRET, SWITCHYARD_REDIRECT_URI, SWITCHYARD_ORG_NAME,
// SWITCHYARD_ORG_ID, SWITCHYARD_USER_EMAIL, SWITCHYARD_USER_PASSWORD; TLS trust
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

test('openid-client: code + PKCE into an organization, ID token with org_id, userinfo', async () => {
  const issuer = new URL(env('SWITCHYARD_ISSUER'));
  const redirectUri = env('SWITCHYARD_REDIRECT_URI');
  const config = await client.discovery(issuer, env('SWITCHYARD_CLIENT_ID'), env('SWITCHYARD_CLIENT_SECRET'));
  assert.equal(config.serverMetadata().issuer, issuer.href);

  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: 'openid email profile', state, nonce,
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

  // The same code again is refused.
  await assert.rejects(
    client.authorizationCodeGrant(config, new URL(done.redirectedTo), {
      pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
    }),
    (err) => { assert.equal(err.error, 'invalid_grant'); return true; },
  );
  console.log(`# openid-client logged ${claims.email} in to ${claims.org_id}`);
});
