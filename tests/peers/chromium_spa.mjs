// A single-page app in headless Chromium (CORS): the app's page, served by a
// loopback server from the origin its client registers (allowed_origins), is
// also its callback; there it redeems the code with fetch() (JSON, so with a
// preflight), refreshes, reads /userinfo with a bearer token and discovery.
// The same page served from an origin no client registers (localhost in
// place of 127.0.0.1: another origin) gets nothing the browser lets it read
// but discovery and JWKS, which are public.
//
// Env (set by tests/peers.rs): SWITCHYARD_ISSUER, SWITCHYARD_SPA_CLIENT_ID,
// SWITCHYARD_APP_PORT, SWITCHYARD_USER_EMAIL, SWITCHYARD_USER_PASSWORD,
// SWITCHYARD_CERT_SPKI (base64 SHA-256 of the dev certificate's public key).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { launchChromium } from './browser.mjs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
};

// What the page runs: one fetch, and what the browser lets it see of the
// answer (or the TypeError it throws when CORS forbids reading it).
async function call({ url, method, headers, body }) {
  try {
    const response = await fetch(url, { method, headers, body });
    return { status: response.status, body: await response.json() };
  } catch (e) {
    return { blocked: `${e.name}: ${e.message}` };
  }
}

test('Chromium: a single-page app calls the token endpoint and userinfo from its registered origin only', async () => {
  const port = Number(env('SWITCHYARD_APP_PORT'));
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>SPA</title><p>single-page app</p>');
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const browser = await launchChromium(env('SWITCHYARD_CERT_SPKI'));
  try {
    const issuer = env('SWITCHYARD_ISSUER');
    const clientId = env('SWITCHYARD_SPA_CLIENT_ID');
    const tokenEndpoint = new URL('oauth/token', issuer).href;
    const userinfo = new URL('userinfo', issuer).href;
    const discovery = new URL('.well-known/openid-configuration', issuer).href;
    const jwks = new URL('.well-known/jwks.json', issuer).href;
    const registered = `http://127.0.0.1:${port}`;
    const redirectUri = `${registered}/callback`;
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');

    const page = await (await browser.newContext()).newPage();
    const authorize = new URL('authorize', issuer);
    authorize.search = new URLSearchParams({
      client_id: clientId, redirect_uri: redirectUri, response_type: 'code',
      scope: 'openid email offline_access', state: 'spa-state',
      code_challenge: challenge, code_challenge_method: 'S256',
    }).toString();
    await page.goto(authorize.href);
    await page.fill('input[name=email]', env('SWITCHYARD_USER_EMAIL'));
    await page.click('button[type=submit]');
    await page.waitForSelector('input[name=password]');
    await page.fill('input[name=password]', env('SWITCHYARD_USER_PASSWORD'));
    await page.click('button[type=submit]');
    await page.waitForURL(`${redirectUri}**`);
    const code = new URL(page.url()).searchParams.get('code');
    assert.ok(code, `no code in ${page.url()}`);

    // The callback page redeems the code as auth0-spa-js does: a JSON body
    // (a preflight first) with Auth0's telemetry header.
    const json = { 'content-type': 'application/json', 'auth0-client': btoa('{"name":"chromium-spa"}') };
    const tokens = await page.evaluate(call, {
      url: tokenEndpoint, method: 'POST', headers: json,
      body: JSON.stringify({
        grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: redirectUri, code_verifier: verifier,
      }),
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens));
    assert.ok(tokens.body.access_token && tokens.body.id_token && tokens.body.refresh_token, JSON.stringify(tokens));
    // A form body: a simple request, no preflight; the response is readable.
    const refreshed = await page.evaluate(call, {
      url: tokenEndpoint, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.body.refresh_token,
      }).toString(),
    });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed));
    const accessToken = refreshed.body.access_token;
    const claims = await page.evaluate(call, {
      url: userinfo, method: 'GET', headers: { authorization: `Bearer ${accessToken}` },
    });
    assert.equal(claims.status, 200, JSON.stringify(claims));
    assert.equal(claims.body.email, env('SWITCHYARD_USER_EMAIL'));
    // An error is the app's to read too.
    const refused = await page.evaluate(call, {
      url: tokenEndpoint, method: 'POST', headers: json,
      body: JSON.stringify({ grant_type: 'refresh_token', client_id: clientId, refresh_token: 'not-a-token' }),
    });
    assert.equal(refused.status, 400, JSON.stringify(refused));
    assert.equal(refused.body.error, 'invalid_grant');
    const metadata = await page.evaluate(call, { url: discovery, method: 'GET' });
    assert.equal(metadata.body.issuer, issuer);

    // The same page from an origin no client registers.
    const stranger = await page.context().newPage();
    await stranger.goto(`http://localhost:${port}/`);
    assert.equal(await stranger.evaluate(() => window.origin), `http://localhost:${port}`);
    for (const request of [
      // Preflighted: refused before it is sent.
      { url: tokenEndpoint, method: 'POST', headers: json,
        body: JSON.stringify({ grant_type: 'refresh_token', client_id: clientId, refresh_token: 'not-a-token' }) },
      { url: userinfo, method: 'GET', headers: { authorization: `Bearer ${accessToken}` } },
      // Simple: sent, but its answer is not the page's to read.
      { url: tokenEndpoint, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: 'x' }).toString() },
    ]) {
      const answer = await stranger.evaluate(call, request);
      assert.ok(answer.blocked, `${request.method} ${request.url} was readable: ${JSON.stringify(answer)}`);
      assert.match(answer.blocked, /TypeError/);
    }
    for (const url of [discovery, jwks]) {
      const answer = await stranger.evaluate(call, { url, method: 'GET' });
      assert.equal(answer.status, 200, `${url}: ${JSON.stringify(answer)}`);
    }
  } finally {
    await browser.close();
    server.close();
  }
});
