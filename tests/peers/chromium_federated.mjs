// Headless Chromium through an upstream IdP: oidc-provider is metahexa's
// enterprise IdP, with its own login and consent pages (a minimal interaction
// handler: a password form, a consent form, a cancel link); openid-client is
// the app. Chromium sees Switchyard's login page, clicks the connection's
// button, signs in on the IdP's pages and comes back through Switchyard (and
// its consent page: the app is a third-party client) to the app, which
// exchanges the code. Then a person whose email a password account has
// proves that account on /u/link (`account_linking: prove_existing`); then a
// person cancels at the IdP, sees Switchyard's page naming the connection,
// and tries again; last, a front_channel connection's form_post, which a real
// browser posts cross-site without Switchyard's SameSite=Lax cookie.
// Screenshots go to SWITCHYARD_ARTIFACTS_DIR.
//
// Env (set by tests/peers.rs): SWITCHYARD_ISSUER, SWITCHYARD_CLIENT_ID,
// SWITCHYARD_CLIENT_SECRET, SWITCHYARD_CLIENT_NAME, SWITCHYARD_REDIRECT_URI,
// SWITCHYARD_ORG_NAME, SWITCHYARD_ORG_ID, SWITCHYARD_CERT_SPKI,
// SWITCHYARD_ARTIFACTS_DIR, UPSTREAM_PORT, UPSTREAM_CLIENT_SECRET,
// CONNECTION_LABEL and FRONT_CONNECTION_LABEL (the back_channel and
// front_channel connections' display_names), EXISTING_USER_ID and
// EXISTING_USER_PASSWORD (the password account of bo@metahexa.example); TLS
// trust through NODE_EXTRA_CA_CERTS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import Provider from 'oidc-provider';
import * as client from 'openid-client';
import { launchChromium } from './browser.mjs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
};

const ISSUER = new URL(env('SWITCHYARD_ISSUER'));
const REDIRECT_URI = env('SWITCHYARD_REDIRECT_URI');
const UPSTREAM = `http://127.0.0.1:${env('UPSTREAM_PORT')}`;
const CALLBACK = new URL('/login/callback', ISSUER).href;
const LABEL = env('CONNECTION_LABEL');
const ARTIFACTS = env('SWITCHYARD_ARTIFACTS_DIR');
// The IdP's own accounts and passwords (not Switchyard's).
const USERS = {
  'ana@metahexa.example': { password: 'ana-at-the-idp', name: 'Ana Metahexa' },
  'bo@metahexa.example': { password: 'bo-at-the-idp', name: 'Bo Metahexa' },
  'cy@metahexa.example': { password: 'cy-at-the-idp', name: 'Cy Metahexa' },
};

// --- The upstream IdP and its pages --------------------------------------------

const provider = new Provider(UPSTREAM, {
  clients: [{
    client_id: 'switchyard', client_secret: env('UPSTREAM_CLIENT_SECRET'),
    redirect_uris: [CALLBACK], grant_types: ['authorization_code'],
    response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic',
  }, {
    client_id: 'switchyard-front', redirect_uris: [CALLBACK], grant_types: ['implicit'],
    response_types: ['id_token'], token_endpoint_auth_method: 'none',
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  conformIdTokenClaims: false, // the email in the ID token, not only at userinfo
  pkce: { required: () => true },
  cookies: { keys: ['test-cookie-key'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const user = USERS[sub];
    return user && {
      accountId: sub,
      claims: async () => ({ sub, email: sub, email_verified: true, name: user.name }),
    };
  },
});
// oidc-provider's recipe for implicit web clients on localhost (Switchyard's
// callback is https://localhost:PORT), as in oidc_provider_upstream.mjs.
const { invalidate } = provider.Client.Schema.prototype;
provider.Client.Schema.prototype.invalidate = function allowLocalhost(message, code) {
  if (code !== 'implicit-forbid-localhost') invalidate.call(this, message, code);
};
const providerCallback = provider.callback();
const seen = { logins: 0, consents: 0, refused: 0 };

function page(res, status, title, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html><head><title>${title}</title></head><body><h1>Metahexa IdP</h1>${body}</body></html>`);
}

function loginPage(res, uid, error) {
  page(res, error ? 401 : 200, 'Sign in to Metahexa IdP', `
    ${error ? `<p role="alert">${error}</p>` : ''}
    <form method="post" action="/interaction/${uid}/login">
      <label>Email <input type="email" name="login" autofocus></label>
      <label>Password <input type="password" name="password"></label>
      <button type="submit">Sign in</button>
    </form>
    <p><a href="/interaction/${uid}/abort">Cancel</a></p>`);
}

function consentPage(res, uid, params, details) {
  // Scope names the provider knows (it drops any other), not free text.
  const scopes = (details.missingOIDCScope ?? []).join(', ');
  page(res, 200, 'Authorize Switchyard', `
    <p>${params.client_id} asks for: ${scopes}</p>
    <form method="post" action="/interaction/${uid}/confirm"><button type="submit">Allow</button></form>
    <p><a href="/interaction/${uid}/abort">Cancel</a></p>`);
}

async function formBody(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return new URLSearchParams(text);
}

async function interaction(req, res, action) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params } = details;
  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') return loginPage(res, uid);
    return consentPage(res, uid, params, prompt.details);
  }
  if (req.method === 'GET' && action === 'abort') {
    return provider.interactionFinished(req, res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const form = await formBody(req);
    const login = form.get('login');
    if (USERS[login]?.password !== form.get('password')) {
      seen.refused += 1;
      return loginPage(res, uid, 'Wrong email or password.');
    }
    seen.logins += 1;
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'confirm' && prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    seen.consents += 1;
    return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } },
      { mergeWithLastSubmission: true });
  }
  return page(res, 400, 'Bad request', '<p>Not an action of this interaction.</p>');
}

const server = http.createServer(async (req, res) => {
  const match = new URL(req.url, UPSTREAM).pathname.match(/^\/interaction\/([\w-]+)(?:\/(\w+))?$/);
  if (!match) return providerCallback(req, res);
  try {
    await interaction(req, res, match[2]);
  } catch (error) {
    console.error('upstream interaction failed', error);
    if (!res.headersSent) page(res, 500, 'Error', '<p>The interaction failed.</p>');
  }
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(env('UPSTREAM_PORT')), '127.0.0.1', resolve);
});
test.after(() => { server.closeAllConnections(); server.close(); });

// --- The app and the browser ------------------------------------------------------

const config = await client.discovery(ISSUER, env('SWITCHYARD_CLIENT_ID'), env('SWITCHYARD_CLIENT_SECRET'));
const browser = await launchChromium(env('SWITCHYARD_CERT_SPKI'));
test.after(() => browser.close());

// A fresh browser (no session at Switchyard nor at the IdP) at the app's
// organization login: Switchyard's login page. The app's callback has no
// server: its navigation is captured.
async function startLogin() {
  const verifier = client.randomPKCECodeVerifier();
  const check = { pkceCodeVerifier: verifier, expectedState: client.randomState(), expectedNonce: client.randomNonce() };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI, scope: 'openid email profile', state: check.expectedState, nonce: check.expectedNonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    organization: env('SWITCHYARD_ORG_NAME'),
  });
  const context = await browser.newContext();
  // Each step takes well under a second: a missing page fails in 15 s.
  context.setDefaultTimeout(15_000);
  const tab = await context.newPage();
  const journey = { tab, check, callback: null };
  await tab.route(`${REDIRECT_URI}**`, async (route) => {
    journey.callback = route.request().url();
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'back at the app' });
  });
  await tab.goto(url.href);
  assert.equal(new URL(tab.url()).origin, ISSUER.origin, `Switchyard's login page, not ${tab.url()}`);
  await tab.getByRole('heading', { name: /^Log in to / }).waitFor();
  journey.loginPage = tab.url();
  return journey;
}

// The connection's button on Switchyard's page, then the IdP's login page.
async function toUpstreamLogin({ tab }, screenshots, label = LABEL) {
  if (screenshots) await tab.screenshot({ path: `${ARTIFACTS}/federated-login-page.png`, fullPage: true });
  await tab.getByRole('link', { name: `Continue with ${label}`, exact: true }).click();
  await tab.waitForURL(`${UPSTREAM}/interaction/**`);
  assert.equal(await tab.title(), 'Sign in to Metahexa IdP');
  if (screenshots) await tab.screenshot({ path: `${ARTIFACTS}/federated-upstream-login.png`, fullPage: true });
}

async function signInUpstream({ tab }, email, password) {
  await tab.getByLabel('Email').fill(email);
  await tab.getByLabel('Password').fill(password);
  await tab.getByRole('button', { name: 'Sign in' }).click();
  // The IdP's consent page, for Switchyard as its client.
  await tab.waitForURL(`${UPSTREAM}/interaction/**`);
  await tab.getByText(/^switchyard(-front)? asks for/).waitFor();
  await tab.getByRole('button', { name: 'Allow' }).click();
}

// Switchyard's consent page (the app is a third-party client), for metahexa.
async function consentAtSwitchyard({ tab }) {
  await tab.waitForURL(`${ISSUER.origin}/u/consent?**`);
  await tab.getByRole('heading', { name: `Authorize ${env('SWITCHYARD_CLIENT_NAME')}` }).waitFor();
  await tab.getByText(/asks for access to your account in Metahexa/).waitFor();
  await tab.getByRole('button', { name: 'Accept' }).click();
}

// Back at the app: openid-client checks state, nonce and PKCE and redeems the code.
async function appTokens(journey) {
  await journey.tab.waitForURL(`${REDIRECT_URI}**`);
  assert.ok(journey.callback, 'the browser did not reach the app');
  const tokens = await client.authorizationCodeGrant(config, new URL(journey.callback), journey.check);
  await journey.tab.context().close();
  return tokens.claims();
}

test("the button, the IdP's own login and consent pages, back through Switchyard to the app", async () => {
  const journey = await startLogin();
  await toUpstreamLogin(journey, true);
  // A wrong password is the IdP's to refuse, on its own page.
  const refused = seen.refused;
  await journey.tab.getByLabel('Email').fill('ana@metahexa.example');
  await journey.tab.getByLabel('Password').fill('not-her-password');
  await journey.tab.getByRole('button', { name: 'Sign in' }).click();
  await journey.tab.getByRole('alert').filter({ hasText: 'Wrong email or password.' }).waitFor();
  assert.equal(seen.refused, refused + 1);
  assert.ok(!journey.callback);
  await signInUpstream(journey, 'ana@metahexa.example', USERS['ana@metahexa.example'].password);
  await consentAtSwitchyard(journey);
  const claims = await appTokens(journey);
  assert.equal(claims.org_id, env('SWITCHYARD_ORG_ID'));
  assert.equal(claims.email, 'ana@metahexa.example');
  assert.equal(claims.iss, ISSUER.href);
  assert.match(claims.sub, /^oidc\|metahexa-workforce\|/, 'a user provisioned from the upstream identity');
});

test('prove_existing: the existing password account is proved on /u/link, then linked', async () => {
  const journey = await startLogin();
  await toUpstreamLogin(journey);
  await signInUpstream(journey, 'bo@metahexa.example', USERS['bo@metahexa.example'].password);
  const { tab } = journey;
  await tab.waitForURL(`${ISSUER.origin}/u/link?**`);
  await tab.getByRole('heading', { name: 'You already have an account' }).waitFor();
  assert.match(await tab.locator('main, body').first().innerText(),
    new RegExp(`bo@metahexa\\.example exists\\. Enter its password to use it when you log in with ${LABEL} too`));
  // The IdP's password is not Switchyard's.
  await tab.getByLabel('Password').fill(USERS['bo@metahexa.example'].password);
  await tab.getByRole('button', { name: 'Link and log in' }).click();
  await tab.getByRole('alert').filter({ hasText: 'Wrong password.' }).waitFor();
  await tab.getByLabel('Password').fill(env('EXISTING_USER_PASSWORD'));
  await tab.screenshot({ path: `${ARTIFACTS}/federated-link-page.png`, fullPage: true });
  await tab.getByRole('button', { name: 'Link and log in' }).click();
  await consentAtSwitchyard(journey);
  const claims = await appTokens(journey);
  assert.equal(claims.sub, env('EXISTING_USER_ID'), 'the login is the existing account\'s');
  assert.equal(claims.org_id, env('SWITCHYARD_ORG_ID'));
  assert.equal(claims.email, 'bo@metahexa.example');
});

test("cancelled at the IdP: Switchyard's page names the connection", async () => {
  const journey = await startLogin();
  await toUpstreamLogin(journey);
  await journey.tab.getByRole('link', { name: 'Cancel' }).click();
  await journey.tab.waitForURL(`${ISSUER.origin}/**`);
  await journey.tab.getByRole('heading', { name: `Cannot sign in with ${LABEL}` }).waitFor();
  await journey.tab.getByText(/did not allow the sign-in/).waitFor();
  assert.equal(journey.callback, null, 'the app got an answer');
  // The person goes back to Switchyard's login page (the same login) and
  // tries again; ana consented to the app before: no consent page this time.
  await journey.tab.goto(journey.loginPage);
  await toUpstreamLogin(journey);
  await signInUpstream(journey, 'ana@metahexa.example', USERS['ana@metahexa.example'].password);
  const claims = await appTokens(journey);
  assert.equal(claims.email, 'ana@metahexa.example');
  assert.equal(claims.org_id, env('SWITCHYARD_ORG_ID'));
});

test("front_channel: the IdP's form_post crosses sites, and the login resumes in this browser", async () => {
  const journey = await startLogin();
  await toUpstreamLogin(journey, false, env('FRONT_CONNECTION_LABEL'));
  // The IdP answers with an auto-posting form: a cross-site POST to
  // /login/callback, which carries no SameSite=Lax cookie; the 303 back
  // on Switchyard's site does.
  const posted = journey.tab.waitForRequest((r) => r.url() === CALLBACK && r.method() === 'POST');
  await signInUpstream(journey, 'cy@metahexa.example', USERS['cy@metahexa.example'].password);
  assert.ok((await posted).postData().includes('id_token='));
  await consentAtSwitchyard(journey);
  const claims = await appTokens(journey);
  assert.equal(claims.email, 'cy@metahexa.example');
  assert.equal(claims.org_id, env('SWITCHYARD_ORG_ID'));
  assert.match(claims.sub, /^oidc\|metahexa-kiosk\|/);
});
