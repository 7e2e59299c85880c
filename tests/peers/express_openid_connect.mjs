// Interop test: an Express app protected by express-openid-connect (Auth0's
// middleware for regular web apps) logs a user in through Switchyard into an
// organization and reads org_id from its session. The code comes back with
// response_mode=form_post, the middleware's usual mode (a page that posts it);
// then the middleware's logout ends the SSO session through /oidc/logout.
// A second test turns on the middleware's Back-Channel Logout: when the SSO
// session ends at Switchyard, the logout token it posts (verified by the
// middleware against the JWKS) ends the app's own session.
//
// Env (set by tests/peers.rs): SWITCHYARD_ISSUER, SWITCHYARD_CLIENT_ID,
// SWITCHYARD_CLIENT_SECRET, SWITCHYARD_APP_PORT (its callback is registered),
// SWITCHYARD_ORG_NAME, SWITCHYARD_ORG_ID, SWITCHYARD_USER_EMAIL,
// SWITCHYARD_USER_PASSWORD; TLS trust through NODE_EXTRA_CA_CERTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import expressOpenIdConnect from 'express-openid-connect'; // CommonJS: no named exports

const { auth, requiresAuth } = expressOpenIdConnect;
import { Browser, submit } from './browser.mjs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
};

const port = () => Number(env('SWITCHYARD_APP_PORT'));
const baseURL = () => `http://localhost:${port()}`;

// The app, with the middleware configured as an Auth0 user would; `extra`
// adds to its configuration. Resolves once listening.
async function startApp(extra = {}) {
  const app = express();
  app.use(auth({
    issuerBaseURL: env('SWITCHYARD_ISSUER'),
    baseURL: baseURL(),
    clientID: env('SWITCHYARD_CLIENT_ID'),
    clientSecret: env('SWITCHYARD_CLIENT_SECRET'),
    secret: 'a-long-session-encryption-secret-for-tests',
    authRequired: false,
    idpLogout: true, // logging out of the app logs out of Switchyard too
    authorizationParams: {
      response_type: 'code',
      response_mode: 'form_post',
      scope: 'openid email profile',
      organization: env('SWITCHYARD_ORG_NAME'),
    },
    ...extra,
  }));
  app.get('/', (req, res) => res.send(req.oidc.isAuthenticated() ? 'logged in' : 'logged out'));
  app.get('/profile', requiresAuth(), (req, res) => {
    res.json({ org_id: req.oidc.idTokenClaims.org_id, email: req.oidc.user.email });
  });
  return new Promise((resolve) => { const s = app.listen(port(), '127.0.0.1', () => resolve(s)); });
}

// The middleware's Back-Channel Logout store (the express-session store
// interface): `${iss}|${sid}` and `${iss}|${sub}` of each logout token.
const loggedOut = new Map();
const logoutStore = {
  get: (key, cb) => cb(null, loggedOut.get(key)),
  set: (key, value, cb) => { loggedOut.set(key, value); cb(null); },
  destroy: (key, cb) => { loggedOut.delete(key); cb(null); },
};

let server;
before(async () => { server = await startApp({ backchannelLogout: { store: logoutStore } }); });
after(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));

// Opens /profile, logs in on Switchyard's pages; returns the profile JSON.
async function logIn(browser) {
  const identifier = await browser.follow(`${baseURL()}/profile`, {}, 'stop-never:');
  assert.equal(identifier.response.status, 200, `identifier page: ${identifier.html}`);
  const password = await submit(browser, identifier, { email: env('SWITCHYARD_USER_EMAIL') }, 'stop-never:');
  assert.equal(password.response.status, 200, `password page: ${password.html}`);
  const posting = await submit(browser, password, { password: env('SWITCHYARD_USER_PASSWORD') }, 'stop-never:');
  assert.equal(posting.response.status, 200, `form_post page: ${posting.html}`);
  assert.match(posting.html, new RegExp(`<form method="post" action="${baseURL()}/callback"`));
  const profile = await submit(browser, posting, {}, 'stop-never:');
  assert.equal(profile.response.status, 200, `after login at ${profile.url}: ${profile.html}`);
  assert.equal(new URL(profile.url).pathname, '/profile');
  return JSON.parse(profile.html);
}

test('express-openid-connect: login into an organization, org_id in the session', async () => {
  const browser = new Browser();
  const body = await logIn(browser);
  assert.equal(body.org_id, env('SWITCHYARD_ORG_ID'));
  assert.equal(body.email, env('SWITCHYARD_USER_EMAIL'));

  // The middleware's /logout goes through Switchyard's end_session_endpoint
  // (id_token_hint, post_logout_redirect_uri) and straight back to the app:
  // the hint is for this very session, so Switchyard asks nothing (a
  // confirmation page would stop the browser on Switchyard's origin). The
  // SSO session is over, so /profile asks for a login again.
  const afterLogout = await browser.follow(`${baseURL()}/logout`, {}, 'stop-never:');
  assert.equal(afterLogout.response.status, 200, `after logout at ${afterLogout.url}: ${afterLogout.html}`);
  assert.equal(new URL(afterLogout.url).origin, baseURL(), `logout should end at the app, ended at ${afterLogout.url}`);
  assert.equal(afterLogout.html, 'logged out');
  const again = await browser.follow(`${baseURL()}/profile`, {}, 'stop-never:');
  assert.match(again.html, /Email address/, 'the session ended: the identifier page again');
});

test('express-openid-connect: back-channel logout ends the app session', async () => {
  // The first test's logout is announced to the app too (its sub would log
  // this test's session out): wait for it, then start afresh.
  for (let i = 0; i < 50 && loggedOut.size === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(loggedOut.size > 0, 'the logout through the app was not announced back to it');
  loggedOut.clear();
  const browser = new Browser();
  await logIn(browser);
  assert.equal((await browser.follow(`${baseURL()}/`, {}, 'stop-never:')).html, 'logged in');

  // The SSO session ends at Switchyard, not through the app: the app only
  // learns of it from the logout token Switchyard posts to it. Without an
  // id_token_hint the user confirms first.
  const issuer = env('SWITCHYARD_ISSUER');
  const asked = await browser.follow(
    `${issuer}${issuer.endsWith('/') ? '' : '/'}oidc/logout?client_id=${encodeURIComponent(env('SWITCHYARD_CLIENT_ID'))}`,
    {}, 'stop-never:');
  assert.equal(asked.response.status, 200, `confirmation page: ${asked.html}`);
  assert.match(asked.html, /Log out\?/);
  assert.equal((await browser.follow(`${baseURL()}/`, {}, 'stop-never:')).html, 'logged in', 'asking ended nothing');
  const ended = await submit(browser, asked, {}, 'stop-never:');
  assert.equal(ended.response.status, 200, `logout page: ${ended.html}`);
  assert.match(ended.html, /You are logged out/);
  let page;
  for (let i = 0; i < 50; i++) {
    page = await browser.follow(`${baseURL()}/`, {}, 'stop-never:');
    if (page.html === 'logged out') break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(page.html, 'logged out', 'the logout token did not end the app session');
  assert.ok([...loggedOut.keys()].some((k) => k.startsWith(issuer)), `logout store: ${[...loggedOut.keys()]}`);
});
