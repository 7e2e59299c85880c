// Interop test: an Express app protected by express-openid-connect (Auth0's
// middleware for regular web apps) logs a user in through Switchyard into an
// organization and reads org_id from its session. The code comes back with
// response_mode=form_post, the middleware's usual mode (a page that posts it);
// then the middleware's logout ends the SSO session through /oidc/logout.
//
// Env (set by tests/peers.rs): SWITCHYARD_ISSUER, SWITCHYARD_CLIENT_ID,
// SWITCHYARD_CLIENT_SECRET, SWITCHYARD_APP_PORT (its callback is registered),
// SWITCHYARD_ORG_NAME, SWITCHYARD_ORG_ID, SWITCHYARD_USER_EMAIL,
// SWITCHYARD_USER_PASSWORD; TLS trust through NODE_EXTRA_CA_CERTS.
import { test } from 'node:test';
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

test('express-openid-connect: login into an organization, org_id in the session', async () => {
  const port = Number(env('SWITCHYARD_APP_PORT'));
  const baseURL = `http://localhost:${port}`;
  const app = express();
  app.use(auth({
    issuerBaseURL: env('SWITCHYARD_ISSUER'),
    baseURL,
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
  }));
  app.get('/', (req, res) => res.send(req.oidc.isAuthenticated() ? 'logged in' : 'logged out'));
  app.get('/profile', requiresAuth(), (req, res) => {
    res.json({ org_id: req.oidc.idTokenClaims.org_id, email: req.oidc.user.email });
  });
  const server = await new Promise((resolve) => { const s = app.listen(port, '127.0.0.1', () => resolve(s)); });
  try {
    const browser = new Browser();
    const identifier = await browser.follow(`${baseURL}/profile`, {}, 'stop-never:');
    assert.equal(identifier.response.status, 200, `identifier page: ${identifier.html}`);
    const password = await submit(browser, identifier, { email: env('SWITCHYARD_USER_EMAIL') }, 'stop-never:');
    assert.equal(password.response.status, 200, `password page: ${password.html}`);
    const posting = await submit(browser, password, { password: env('SWITCHYARD_USER_PASSWORD') }, 'stop-never:');
    assert.equal(posting.response.status, 200, `form_post page: ${posting.html}`);
    assert.match(posting.html, new RegExp(`<form method="post" action="${baseURL}/callback"`));
    const profile = await submit(browser, posting, {}, 'stop-never:');
    assert.equal(profile.response.status, 200, `after login at ${profile.url}: ${profile.html}`);
    assert.equal(new URL(profile.url).pathname, '/profile');
    const body = JSON.parse(profile.html);
    assert.equal(body.org_id, env('SWITCHYARD_ORG_ID'));
    assert.equal(body.email, env('SWITCHYARD_USER_EMAIL'));

    // The middleware's /logout goes through Switchyard's end_session_endpoint
    // (id_token_hint, post_logout_redirect_uri) and back to the app; the SSO
    // session is over, so /profile asks for a login again.
    const loggedOut = await browser.follow(`${baseURL}/logout`, {}, 'stop-never:');
    assert.equal(loggedOut.response.status, 200, `after logout at ${loggedOut.url}: ${loggedOut.html}`);
    assert.equal(new URL(loggedOut.url).origin, baseURL, `logout should end at the app, ended at ${loggedOut.url}`);
    assert.equal(loggedOut.html, 'logged out');
    const again = await browser.follow(`${baseURL}/profile`, {}, 'stop-never:');
    assert.match(again.html, /Email address/, 'the session ended: the identifier page again');
  } finally {
    server.close();
  }
});
