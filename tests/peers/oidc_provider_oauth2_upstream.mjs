// Interop test: oidc-provider (OpenID-certified) as a plain OAuth 2.0 provider
// behind an `oauth2` connection enabled for metahexa, and openid-client as the
// app. Switchyard knows the IdP only by the connection's authorizationURL,
// tokenURL and userInfoURL: it sends the code request with PKCE, redeems the
// code with the client secret in the body (client_secret_post, the only method
// the IdP admits for this client), and reads the person from userinfo (the IdP
// keeps the email out of its ID token, which Switchyard ignores anyway).
// Switchyard's ID token carries metahexa's org_id and the upstream's email;
// an `access_denied` at the IdP ends on a page naming the connection.
//
// Env (set by tests/peers.rs): SWITCHYARD_ISSUER, SWITCHYARD_CLIENT_ID,
// SWITCHYARD_CLIENT_SECRET, SWITCHYARD_REDIRECT_URI, SWITCHYARD_ORG_NAME,
// SWITCHYARD_ORG_ID, UPSTREAM_PORT, UPSTREAM_CLIENT_ID, UPSTREAM_CLIENT_SECRET,
// OAUTH2_CONNECTION, OAUTH2_LABEL, USER_EMAIL; TLS trust through NODE_EXTRA_CA_CERTS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import Provider from 'oidc-provider';
import { Browser } from './browser.mjs';
import { env, metahexaApp } from './metahexa_app.mjs';


const ISSUER = new URL(env('SWITCHYARD_ISSUER'));
const CALLBACK = new URL('/login/callback', ISSUER).href;
const REDIRECT_URI = env('SWITCHYARD_REDIRECT_URI');
const UPSTREAM = `http://127.0.0.1:${env('UPSTREAM_PORT')}`;
const EMAIL = env('USER_EMAIL');
const LABEL = env('OAUTH2_LABEL');
const USERS = { [EMAIL]: { email: EMAIL, email_verified: true, name: 'Ana Metahexa' } };

// --- The upstream OAuth 2.0 provider ------------------------------------------

const upstream = { tokenRequests: [], userinfoRequests: 0, lastParams: null };

const provider = new Provider(UPSTREAM, {
  clients: [
    { client_id: env('UPSTREAM_CLIENT_ID'), client_secret: env('UPSTREAM_CLIENT_SECRET'), redirect_uris: [CALLBACK],
      grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post' },
  ],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // The default: the ID token holds no email; it is at userinfo only.
  conformIdTokenClaims: true,
  pkce: { required: () => true },
  cookies: { keys: ['test-cookie-key'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, i) => `/interaction/${i.uid}` },
  async findAccount(ctx, sub) {
    return USERS[sub] && { accountId: sub, claims: async () => ({ sub, ...USERS[sub] }) };
  },
});
const handler = provider.callback();
const server = http.createServer(async (req, res) => {
  const { pathname } = new URL(req.url, UPSTREAM);
  if (pathname === '/token') upstream.tokenRequests.push({ authorization: req.headers.authorization });
  if (pathname === '/me') upstream.userinfoRequests += 1;
  if (req.method !== 'GET' || !pathname.startsWith('/interaction/')) return handler(req, res);
  // Logs the login_hint in at once (no pages), or denies an unknown one.
  const { params } = await provider.interactionDetails(req, res);
  upstream.lastParams = params;
  const accountId = params.login_hint;
  if (!USERS[accountId]) {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'unknown user' });
  }
  const grant = new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId: await grant.save() } });
});
await new Promise((resolve) => server.listen(Number(env('UPSTREAM_PORT')), '127.0.0.1', resolve));

// --- The app ---------------------------------------------------------------------

const { authorizeUrl, tokensFor } = await metahexaApp(EMAIL);

// --- The journeys ------------------------------------------------------------------

test('connection=NAME: code + PKCE upstream, client_secret_post, the profile from userinfo, org_id', async () => {
  const { url, check } = await authorizeUrl({ connection: env('OAUTH2_CONNECTION') });
  const done = await new Browser().follow(url.href, {}, REDIRECT_URI);
  const claims = await tokensFor(done.redirectedTo, check);
  assert.equal(claims.org_id, env('SWITCHYARD_ORG_ID'));
  assert.equal(claims.email, EMAIL);
  assert.equal(claims.name, 'Ana Metahexa');
  // What the IdP was sent.
  assert.equal(upstream.lastParams.code_challenge_method, 'S256');
  assert.equal(upstream.lastParams.login_hint, EMAIL);
  assert.deepEqual(upstream.lastParams.scope.split(' ').sort(), ['email', 'openid', 'profile']);
  assert.equal(upstream.tokenRequests.length, 1, 'Switchyard redeemed the code at the upstream');
  assert.equal(upstream.tokenRequests[0].authorization, undefined, 'the client secret in the body, not Basic');
  assert.equal(upstream.userinfoRequests, 1, 'the profile came from userinfo');

  // A second login: the same upstream identity is the same user.
  const again = await authorizeUrl({ connection: env('OAUTH2_CONNECTION') });
  const second = await tokensFor((await new Browser().follow(again.url.href, {}, REDIRECT_URI)).redirectedTo, again.check);
  assert.equal(second.sub, claims.sub);
  assert.equal(second.org_id, env('SWITCHYARD_ORG_ID'));
});

test("the organization's login page offers the connection as a button; a login_hint goes straight to it", async () => {
  // Without a hint, the page and its button.
  const { url: bare } = await authorizeUrl({});
  bare.searchParams.delete('login_hint');
  const page = await new Browser().follow(bare.href, {}, REDIRECT_URI);
  assert.equal(page.response?.status, 200, page.html);
  const href = page.html.match(new RegExp(`href="([^"]+)">Continue with ${LABEL}<`))?.[1];
  assert.ok(href, `no button for ${LABEL}: ${page.html}`);
  assert.match(href, /\/u\/login\/connection\?state=/);

  // With the hint, its identifier step runs at once: the organization's
  // only connection, without the page.
  const browser = new Browser();
  const { url, check } = await authorizeUrl({});
  const toUpstream = await browser.follow(url.href, {}, UPSTREAM);
  assert.ok(toUpstream.redirectedTo?.startsWith(`${UPSTREAM}/`), `not sent upstream: ${toUpstream.html}`);
  const done = await browser.follow(toUpstream.redirectedTo, {}, REDIRECT_URI);
  const claims = await tokensFor(done.redirectedTo, check);
  assert.equal(claims.email, EMAIL);
  assert.equal(claims.org_id, env('SWITCHYARD_ORG_ID'));
});

test('the IdP denying the sign-in ends on a page naming the connection', async () => {
  const tokensBefore = upstream.tokenRequests.length;
  const { url } = await authorizeUrl({ connection: env('OAUTH2_CONNECTION'), login_hint: 'nobody@metahexa.example' });
  const page = await new Browser().follow(url.href, {}, REDIRECT_URI);
  assert.ok(!page.redirectedTo, 'a denied sign-in went back to the app');
  assert.equal(page.response?.status, 400, page.html);
  assert.match(page.html, new RegExp(`Cannot sign in with ${LABEL}`));
  assert.match(page.html, /did not allow the sign-in/);
  assert.match(page.html, /Request id: [0-9a-f-]{36}/);
  assert.equal(upstream.tokenRequests.length, tokensBefore, 'no code to redeem');
});

test.after(() => { server.closeAllConnections(); server.close(); });
