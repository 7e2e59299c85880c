// Interop test: oidc-provider (OpenID-certified) as metahexa's enterprise IdP
// behind Switchyard, and openid-client as the app. The app logs a metahexa user
// in through Switchyard: Switchyard sends the browser upstream (connection=NAME
// and the login page's button), the IdP logs the user in (as login_hint, no
// password page), and Switchyard's ID token carries metahexa's org_id and the
// upstream's email. back_channel (code + PKCE + client secret, email from
// userinfo) and front_channel (an ID token by form_post); the IdP rotates its
// keys between two logins and the second still works. Then the same IdP's real
// tokens, tampered, each refused with a page naming the connection, and a code
// sent back without the IdP's `iss` (RFC 9207). Home-realm discovery: an
// authorization request naming neither organization nor connection, whose
// login_hint's domain is metahexa's verified discovery domain, goes straight
// to the IdP and its tokens carry metahexa.
//
// Env (set by tests/peers.rs): SWITCHYARD_ISSUER, SWITCHYARD_CLIENT_ID,
// SWITCHYARD_CLIENT_SECRET, SWITCHYARD_REDIRECT_URI, SWITCHYARD_ORG_NAME,
// SWITCHYARD_ORG_ID, UPSTREAM_PORT, UPSTREAM_CLIENT_SECRET, BACK_CONNECTION,
// FRONT_CONNECTION; TLS trust through NODE_EXTRA_CA_CERTS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createPrivateKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import Provider from 'oidc-provider';
import { Browser } from './browser.mjs';
import { env, metahexaApp } from './metahexa_app.mjs';


const ISSUER = new URL(env('SWITCHYARD_ISSUER'));
const CALLBACK = new URL('/login/callback', ISSUER).href;
const REDIRECT_URI = env('SWITCHYARD_REDIRECT_URI');
const UPSTREAM = `http://127.0.0.1:${env('UPSTREAM_PORT')}`;
const USERS = {
  'ana@metahexa.example': { email: 'ana@metahexa.example', email_verified: true, name: 'Ana Metahexa' },
  'bo@hrd.metahexa.example': { email: 'bo@hrd.metahexa.example', email_verified: true, name: 'Bo Metahexa' },
};
const EMAIL = 'ana@metahexa.example';
// Of metahexa's verified discovery domain hrd.metahexa.example, bound to BACK_CONNECTION.
const DISCOVERED_EMAIL = 'bo@hrd.metahexa.example';

// --- The upstream IdP -------------------------------------------------------

function rsaKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

const upstream = { key: rsaKey(), jwksFetches: 0, tokenRequests: 0, userinfoRequests: 0 };

function newProvider(key) {
  const provider = new Provider(UPSTREAM, {
    clients: [
      { client_id: 'switchyard-back', client_secret: env('UPSTREAM_CLIENT_SECRET'), redirect_uris: [CALLBACK],
        grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' },
      { client_id: 'switchyard-front', redirect_uris: [CALLBACK], grant_types: ['implicit'],
        response_types: ['id_token'], token_endpoint_auth_method: 'none' },
      // Another app of the same IdP: its ID tokens must not log anyone in at Switchyard.
      { client_id: 'other-app', redirect_uris: ['https://other-app.example/callback'], grant_types: ['implicit'],
        response_types: ['id_token'], token_endpoint_auth_method: 'none' },
    ],
    jwks: { keys: [key] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    pkce: { required: (ctx, c) => c.clientId === 'switchyard-back' },
    cookies: { keys: ['test-cookie-key'] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, i) => `/interaction/${i.uid}` },
    async findAccount(ctx, sub) {
      return USERS[sub] && { accountId: sub, claims: async () => ({ sub, ...USERS[sub] }) };
    },
  });
  // oidc-provider's documented recipe for implicit web clients on localhost
  // (Switchyard's callback in the test is https://localhost:PORT).
  const { invalidate } = provider.Client.Schema.prototype;
  provider.Client.Schema.prototype.invalidate = function allowLocalhost(message, code) {
    if (code === 'implicit-forbid-localhost') return;
    invalidate.call(this, message, code);
  };
  return provider;
}

let provider = newProvider(upstream.key);
const server = http.createServer(async (req, res) => {
  if (req.url.startsWith('/jwks')) upstream.jwksFetches += 1;
  if (req.url.startsWith('/token')) upstream.tokenRequests += 1;
  if (req.url.startsWith('/me')) upstream.userinfoRequests += 1;
  if (req.method !== 'GET' || !req.url.startsWith('/interaction/')) return provider.callback()(req, res);
  // Logs the login_hint in at once (no pages), or denies an unknown one.
  const { params } = await provider.interactionDetails(req, res);
  upstream.lastParams = params;
  const accountId = params.login_hint;
  if (!USERS[accountId]) return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'unknown user' });
  const grant = new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId: await grant.save() } });
});
await new Promise((resolve) => server.listen(Number(env('UPSTREAM_PORT')), '127.0.0.1', resolve));

// --- Helpers -----------------------------------------------------------------

const b64u = (value) => Buffer.from(value).toString('base64url');
const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());
function signJwt(header, payload, jwk) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  const signature = sign('RSA-SHA256', Buffer.from(input), createPrivateKey({ key: jwk, format: 'jwk' }));
  return `${input}.${b64u(signature)}`;
}
function tamper(idToken, change, jwk = upstream.key, header = {}) {
  const [h, p] = idToken.split('.');
  const payload = { ...decode(p), ...change };
  return signJwt({ ...decode(h), ...header }, payload, jwk);
}

// The hidden fields and action of the (first) form of a page.
function form(html) {
  const action = html.match(/<form[^>]*action="([^"]+)"/)?.[1];
  const fields = {};
  for (const input of html.matchAll(/<input[^>]*>/g)) {
    const name = input[0].match(/name="([^"]+)"/)?.[1];
    const value = input[0].match(/value="([^"]*)"/)?.[1];
    if (name && value !== undefined) fields[name] = value.replaceAll('&amp;', '&');
  }
  return { action: action?.replaceAll('&amp;', '&'), fields };
}

// A browser that times every request (for the latency of the round trip).
class TimedBrowser extends Browser {
  constructor() { super(); this.timings = []; }
  async request(url, init = {}) {
    const started = performance.now();
    const response = await super.request(url, init);
    this.timings.push({ url: new URL(url), ms: performance.now() - started });
    return response;
  }
  // Time spent in Switchyard's and in the upstream's answers.
  split() {
    const ours = this.timings.filter((t) => t.url.origin === ISSUER.origin).reduce((sum, t) => sum + t.ms, 0);
    const theirs = this.timings.filter((t) => t.url.origin === UPSTREAM).reduce((sum, t) => sum + t.ms, 0);
    const upstreamHops = this.timings.filter((t) => ['/login/callback', '/u/login/callback'].includes(t.url.pathname)
      || (t.url.pathname === '/u/login' && t.url.origin === ISSUER.origin));
    return { ours, theirs, callbackMs: upstreamHops.reduce((sum, t) => sum + t.ms, 0) };
  }
}

const { authorizeUrl, tokensFor } = await metahexaApp(EMAIL);

// Starts a front_channel login and stops at the IdP's auto-posting form:
// the real ID token and Switchyard's state, not yet posted back.
async function frontChannelForm(browser, loginHint = EMAIL) {
  const { url, check } = await authorizeUrl({ connection: env('FRONT_CONNECTION'), login_hint: loginHint });
  const page = await browser.follow(url.href, {}, REDIRECT_URI);
  assert.equal(page.response?.status, 200, `expected the IdP's form_post page, got ${page.url}: ${page.html}`);
  const posted = form(page.html);
  assert.equal(posted.action, CALLBACK);
  assert.ok(posted.fields.id_token && posted.fields.state, page.html);
  return { posted, check };
}

async function postBack(browser, fields) {
  return browser.follow(CALLBACK, {
    method: 'POST', body: new URLSearchParams(fields),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  }, REDIRECT_URI);
}

function assertRefused(page, label, reason) {
  assert.ok(!page.redirectedTo, `a tampered answer logged in (${reason})`);
  assert.equal(page.response.status, 400, `${reason}: ${page.html}`);
  assert.match(page.html, new RegExp(`Cannot sign in with ${label}`), reason);
  assert.match(page.html, /answer could not be verified/, reason);
  assert.match(page.html, /Request id: [0-9a-f-]{36}/, reason);
}

// --- The journeys ------------------------------------------------------------

test('back_channel: connection=NAME, login_hint and upstream_params, code + PKCE upstream, userinfo, org_id; keys rotated between two logins', async () => {
  const browser = new TimedBrowser();
  const { url, check } = await authorizeUrl({ connection: env('BACK_CONNECTION'), max_age: '3600' });
  const done = await browser.follow(url.href, {}, REDIRECT_URI);
  const claims = await tokensFor(done.redirectedTo, check);
  // login_hint, and the connection's upstream_params: a value and an alias.
  assert.equal(upstream.lastParams.login_hint, EMAIL);
  assert.equal(upstream.lastParams.ui_locales, 'nl');
  assert.equal(upstream.lastParams.max_age, '3600');
  assert.equal(claims.org_id, env('SWITCHYARD_ORG_ID'));
  assert.equal(claims.email, EMAIL);
  assert.equal(upstream.tokenRequests, 1, 'Switchyard redeemed the code at the upstream');
  assert.equal(upstream.userinfoRequests, 1, 'the mapping asks for userinfo');
  const cold = browser.split();

  // The IdP rotates its key: a new one signs, the old one is gone.
  const fetchesBefore = upstream.jwksFetches;
  upstream.key = rsaKey();
  provider = newProvider(upstream.key);
  const again = new TimedBrowser();
  const second = await authorizeUrl({ connection: env('BACK_CONNECTION') });
  const secondDone = await again.follow(second.url.href, {}, REDIRECT_URI);
  const secondClaims = await tokensFor(secondDone.redirectedTo, second.check);
  assert.equal(secondClaims.sub, claims.sub, 'the same upstream identity is the same user');
  assert.equal(secondClaims.org_id, env('SWITCHYARD_ORG_ID'));
  assert.equal(upstream.jwksFetches, fetchesBefore + 1, 'the unknown kid fetched the JWKS again, once');
  const warm = again.split();

  // A third login, nothing to fetch: what a round trip costs with warm caches.
  const third = new TimedBrowser();
  const thirdRequest = await authorizeUrl({ connection: env('BACK_CONNECTION') });
  await tokensFor((await third.follow(thirdRequest.url.href, {}, REDIRECT_URI)).redirectedTo, thirdRequest.check);
  const steady = third.split();
  const fmt = (s) => `Switchyard ${s.ours.toFixed(1)} ms (of which begin + callback + resume ${s.callbackMs.toFixed(1)} ms), upstream IdP ${s.theirs.toFixed(1)} ms`;
  console.log(`# latency, first login (discovery + JWKS): ${fmt(cold)}`);
  console.log(`# latency, after key rotation (JWKS again): ${fmt(warm)}`);
  console.log(`# latency, warm: ${fmt(steady)}`);
});

test("home-realm discovery: login_hint's verified domain picks metahexa and its IdP, no organization or connection in the request", async () => {
  const browser = new Browser();
  const { url, check } = await authorizeUrl({ login_hint: DISCOVERED_EMAIL });
  url.searchParams.delete('organization');
  // No email page: the hint's identifier step sends the browser upstream at once.
  const toUpstream = await browser.follow(url.href, {}, UPSTREAM);
  assert.ok(toUpstream.redirectedTo?.startsWith(`${UPSTREAM}/`), `not sent upstream: ${toUpstream.url} ${toUpstream.html}`);
  const done = await browser.follow(toUpstream.redirectedTo, {}, REDIRECT_URI);
  const claims = await tokensFor(done.redirectedTo, check);
  assert.equal(upstream.lastParams.login_hint, DISCOVERED_EMAIL, 'the hint still goes upstream');
  assert.equal(claims.email, DISCOVERED_EMAIL);
  assert.equal(claims.org_id, env('SWITCHYARD_ORG_ID'), 'the domain chose the organization');
  assert.equal(claims.org_name, env('SWITCHYARD_ORG_NAME'));
});

test('the login page offers the connection as a button, and the button goes upstream', async () => {
  const browser = new Browser();
  const { url, check } = await authorizeUrl({});
  const page = await browser.follow(url.href, {}, REDIRECT_URI);
  assert.equal(page.response?.status, 200, page.html);
  const label = env('BACK_CONNECTION');
  const href = page.html.match(new RegExp(`href="([^"]+)">Continue with ${label}<`))?.[1];
  assert.ok(href, `no button for ${label}: ${page.html}`);
  const done = await browser.follow(new URL(href.replaceAll('&amp;', '&'), page.url).href, {}, REDIRECT_URI);
  const claims = await tokensFor(done.redirectedTo, check);
  assert.equal(claims.email, EMAIL);
  assert.equal(claims.org_id, env('SWITCHYARD_ORG_ID'));
});

test('front_channel: an ID token by form_post, posted cross-site, resumed with the transaction cookie', async () => {
  const browser = new Browser();
  const { posted, check } = await frontChannelForm(browser);
  const done = await postBack(browser, posted.fields);
  const claims = await tokensFor(done.redirectedTo, check);
  assert.equal(claims.org_id, env('SWITCHYARD_ORG_ID'));
  assert.equal(claims.email, EMAIL);

  // The same answer again: the state was single-use.
  const replayed = await postBack(browser, posted.fields);
  assert.equal(replayed.response.status, 400);
  assert.match(replayed.html, /Sign-in response not expected/);

  // That ID token in another login (another state, another nonce).
  const other = new Browser();
  const second = await frontChannelForm(other);
  assertRefused(await postBack(other, { ...second.posted.fields, id_token: posted.fields.id_token }),
    env('FRONT_CONNECTION'), 'replayed nonce');
});

test("an answer posted from another browser does not log that browser in (login CSRF)", async () => {
  const attacker = new Browser();
  const { posted } = await frontChannelForm(attacker);
  const victim = new Browser();
  const page = await postBack(victim, posted.fields);
  assert.ok(!page.redirectedTo);
  assert.equal(page.response.status, 400);
  assert.match(page.html, /Login session expired/);
});

test('tampered ID tokens of the real IdP are refused, each with a page naming the connection', async () => {
  const label = env('FRONT_CONNECTION');
  const now = Math.floor(Date.now() / 1000);
  const stranger = rsaKey();
  const cases = [
    ['wrong issuer', (t) => tamper(t, { iss: 'http://127.0.0.1:1' })],
    ['wrong audience', (t) => tamper(t, { aud: 'someone-else' })],
    ['expired', (t) => tamper(t, { iat: now - 7200, exp: now - 3600 })],
    ['issued in the future', (t) => tamper(t, { iat: now + 7200, exp: now + 9000 })],
    ['alg none', (t) => `${b64u(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${t.split('.')[1]}.`],
    ['signed by another key, same kid', (t) => tamper(t, {}, stranger)],
    ['signed by another key, its own kid', (t) => tamper(t, {}, stranger, { kid: stranger.kid })],
    ['another client as azp', (t) => tamper(t, { aud: [decode(t.split('.')[1]).aud, 'other-app'], azp: 'other-app' })],
    ['the payload changed, the signature kept', (t) => {
      const [h, p, s] = t.split('.');
      return `${h}.${b64u(JSON.stringify({ ...decode(p), email: 'mallory@metahexa.example' }))}.${s}`;
    }],
  ];
  for (const [reason, forge] of cases) {
    const browser = new Browser();
    const { posted } = await frontChannelForm(browser);
    const page = await postBack(browser, { ...posted.fields, id_token: forge(posted.fields.id_token) });
    assertRefused(page, label, reason);
  }

  // A real ID token the IdP issued to another of its apps, for the very
  // nonce Switchyard sent: refused (audience).
  const browser = new Browser();
  const { url } = await authorizeUrl({ connection: env('FRONT_CONNECTION') });
  const toUpstream = await browser.follow(url.href, {}, UPSTREAM);
  const upstreamRequest = new URL(toUpstream.redirectedTo);
  const otherApp = new URL('/auth', UPSTREAM);
  for (const [name, value] of Object.entries({ client_id: 'other-app', response_type: 'id_token', response_mode: 'form_post',
    scope: 'openid email', redirect_uri: 'https://other-app.example/callback', login_hint: EMAIL,
    nonce: upstreamRequest.searchParams.get('nonce'), state: 'x' })) otherApp.searchParams.set(name, value);
  const otherPage = await browser.follow(otherApp.href, {}, REDIRECT_URI);
  const otherToken = form(otherPage.html).fields.id_token;
  assert.equal(decode(otherToken.split('.')[1]).aud, 'other-app');
  const page = await postBack(browser, { id_token: otherToken, state: upstreamRequest.searchParams.get('state') });
  assertRefused(page, label, "another client's ID token");
});

test("a code sent back without the IdP's iss is refused before it is redeemed (RFC 9207, mix-up)", async () => {
  const discovery = await (await fetch(`${UPSTREAM}/.well-known/openid-configuration`)).json();
  assert.equal(discovery.authorization_response_iss_parameter_supported, true);
  const browser = new Browser();
  const { url } = await authorizeUrl({ connection: env('BACK_CONNECTION') });
  const back = await browser.follow(url.href, {}, CALLBACK);
  const callback = new URL(back.redirectedTo);
  assert.equal(callback.searchParams.get('iss'), UPSTREAM, 'the IdP names itself');
  callback.searchParams.delete('iss');
  const tokenRequests = upstream.tokenRequests;
  const page = await browser.follow(callback.href, {}, REDIRECT_URI);
  assertRefused(page, env('BACK_CONNECTION'), 'no iss');
  assert.equal(upstream.tokenRequests, tokenRequests, 'the code was not redeemed');
});

test('the IdP denying the sign-in ends on a page naming the connection', async () => {
  const browser = new Browser();
  const { url } = await authorizeUrl({ connection: env('BACK_CONNECTION'), login_hint: 'nobody@metahexa.example' });
  const page = await browser.follow(url.href, {}, REDIRECT_URI);
  assert.equal(page.response?.status, 400, page.html);
  assert.match(page.html, new RegExp(`Cannot sign in with ${env('BACK_CONNECTION')}`));
  assert.match(page.html, /did not allow the sign-in/);
});

test.after(() => { server.closeAllConnections(); server.close(); });
