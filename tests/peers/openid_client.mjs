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

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
};

// A minimal browser: a cookie jar and manual redirects, so every hop is visible.
class Browser {
  constructor() { this.cookies = new Map(); }
  cookieHeader() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
  remember(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const [name, value] = pair.split('=');
      const expired = attrs.some((a) => a.trim().toLowerCase() === 'max-age=0');
      if (expired) this.cookies.delete(name.trim()); else this.cookies.set(name.trim(), value);
    }
  }
  async request(url, init = {}) {
    const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers || {}), cookie: this.cookieHeader() } });
    this.remember(response);
    return response;
  }
  // Follows redirects on this origin; stops at (and returns) a redirect elsewhere.
  async follow(url, init, stopPrefix) {
    let response = await this.request(url, init);
    while ([301, 302, 303, 307].includes(response.status)) {
      const next = new URL(response.headers.get('location'), url).href;
      if (next.startsWith(stopPrefix)) return { redirectedTo: next };
      url = next;
      response = await this.request(url);
    }
    return { response, url, html: await response.text() };
  }
}

function formFields(html) {
  const action = html.match(/<form[^>]*action="([^"]+)"/)[1];
  const fields = {};
  for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) fields[m[1]] = m[2];
  return { action, fields };
}

async function submit(browser, page, values, stopPrefix) {
  const { action, fields } = formFields(page.html);
  const body = new URLSearchParams({ ...fields, ...values });
  return browser.follow(new URL(action, page.url).href, {
    method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' },
  }, stopPrefix);
}

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
