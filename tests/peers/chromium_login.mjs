// A full login in headless Chromium (Debian's chromium driven by playwright-core):
// /authorize → identifier page → password page → the client's callback with a code;
// then SSO: prompt=none answered from the session cookie; then logout, confirmed
// on its page.
// The password page is saved as a screenshot in SWITCHYARD_ARTIFACTS_DIR.
//
// Env (set by tests/peers.rs): SWITCHYARD_ISSUER, SWITCHYARD_CLIENT_ID,
// SWITCHYARD_REDIRECT_URI, SWITCHYARD_LOGOUT_URI, SWITCHYARD_ORG_NAME, SWITCHYARD_USER_EMAIL,
// SWITCHYARD_USER_PASSWORD, SWITCHYARD_CERT_SPKI (base64 SHA-256 of the dev
// certificate's public key), SWITCHYARD_ARTIFACTS_DIR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium } from './browser.mjs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
};

test('Chromium: identifier-first login into an organization', async () => {
  const browser = await launchChromium(env('SWITCHYARD_CERT_SPKI'));
  try {
    const page = await (await browser.newContext()).newPage();
    const redirectUri = env('SWITCHYARD_REDIRECT_URI');
    const authorize = new URL('authorize', env('SWITCHYARD_ISSUER'));
    authorize.search = new URLSearchParams({
      client_id: env('SWITCHYARD_CLIENT_ID'), redirect_uri: redirectUri, response_type: 'code',
      scope: 'openid email', state: 'chromium-state', organization: env('SWITCHYARD_ORG_NAME'),
    }).toString();
    // The callback has no server: capture the navigation to it instead.
    let callback = null;
    await page.route(`${redirectUri}**`, async (route) => {
      callback = route.request().url();
      await route.fulfill({ status: 200, contentType: 'text/plain', body: 'callback reached' });
    });
    await page.goto(authorize.href);
    await page.fill('input[name=email]', env('SWITCHYARD_USER_EMAIL'));
    await page.click('button[type=submit]');
    await page.waitForSelector('input[name=password]');
    await page.fill('input[name=password]', env('SWITCHYARD_USER_PASSWORD'));
    await page.screenshot({ path: `${env('SWITCHYARD_ARTIFACTS_DIR')}/login-password-page.png`, fullPage: true });
    await page.click('button[type=submit]');
    await page.waitForURL(`${redirectUri}**`);
    assert.ok(callback, 'the browser did not reach the callback');
    const url = new URL(callback);
    assert.equal(url.searchParams.get('state'), 'chromium-state');
    assert.ok(url.searchParams.get('code'), `no code in ${callback}`);

    // SSO in a real browser: the session cookie (__Host- prefixed over https:
    // Secure, HttpOnly, SameSite=Lax, Path=/)
    // comes back on the next top-level navigation, and prompt=none gets a code
    // without any page.
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === '__Host-sy_session');
    assert.ok(session, `no session cookie in ${JSON.stringify(cookies.map((c) => c.name))}`);
    assert.equal(session.httpOnly, true);
    assert.equal(session.secure, true);
    assert.equal(session.sameSite, 'Lax');
    // Routes do not see a navigation's redirects: watch the requests instead
    // (the callback has no server, so that navigation itself fails).
    authorize.searchParams.set('prompt', 'none');
    authorize.searchParams.set('state', 'chromium-sso');
    const reached = page.waitForRequest((r) => r.url().startsWith(redirectUri));
    await page.goto(authorize.href).catch(() => {});
    const silent = new URL((await reached).url());
    assert.equal(silent.searchParams.get('state'), 'chromium-sso');
    assert.ok(silent.searchParams.get('code'), `no code in ${silent}`);

    // Logout without an id_token_hint (Auth0's /v2/logout): the user is
    // asked, and the click (a form post whose answer redirects to the app,
    // which the page's CSP form-action must allow) ends the session.
    // (A new tab: the failed navigation to the callback may still be
    // settling in this one.)
    const tab = await page.context().newPage();
    const logoutUri = env('SWITCHYARD_LOGOUT_URI');
    let loggedOut = null;
    await tab.route(`${logoutUri}**`, async (route) => {
      loggedOut = route.request().url();
      await route.fulfill({ status: 200, contentType: 'text/plain', body: 'logged out' });
    });
    const logout = new URL('v2/logout', env('SWITCHYARD_ISSUER'));
    logout.search = new URLSearchParams({ client_id: env('SWITCHYARD_CLIENT_ID'), returnTo: logoutUri }).toString();
    await tab.goto(logout.href);
    await tab.waitForSelector('text=Log out?');
    assert.ok(
      (await page.context().cookies()).some((c) => c.name === '__Host-sy_session'),
      'asking ended the session',
    );
    await tab.click('button[type=submit]');
    await tab.waitForURL(`${logoutUri}**`);
    assert.equal(loggedOut, logoutUri);
    const after = await page.context().cookies();
    assert.ok(!after.some((c) => c.name === '__Host-sy_session'), 'the session cookie is cleared');
  } finally {
    await browser.close();
  }
});
