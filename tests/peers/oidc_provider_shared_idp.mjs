// Interop test: one multi-tenant IdP (oidc-provider playing Entra ID and
// Google Workspace: its ID tokens carry `tid` or `hd`) shared by the 10,000
// organizations tests/peers.rs seeded, each enabling the one `oidc`
// connection SHARED_CONNECTION with its own upstream_tenant_id and owning the
// verified domain of its people. The app (openid-client) requires an
// organization and names none: the upstream tenant decides it.
//
// Env (set by tests/peers.rs): SWITCHYARD_ISSUER, SWITCHYARD_CLIENT_ID,
// SWITCHYARD_CLIENT_SECRET, SWITCHYARD_REDIRECT_URI, SWITCHYARD_ORG_NAME (an
// organization whose login a stranger tenant tries), UPSTREAM_PORT,
// UPSTREAM_CLIENT_SECRET, SHARED_CONNECTION, TID_ORG_ID, HD_ORG_ID; TLS trust
// through NODE_EXTRA_CA_CERTS.
//
// With ENTRA_TEMPLATE=1 the IdP plays Entra's multi-tenant endpoint: the
// connection's issuer is UPSTREAM/organizations/v2.0, whose metadata announces
// the template UPSTREAM/{tenantid}/v2.0, and oidc-provider signs as tenant
// tid-04711 (UPSTREAM/tid-04711/v2.0) whatever the person's tid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';
import { Browser } from './browser.mjs';
import { env, metahexaApp } from './metahexa_app.mjs';

const ISSUER = new URL(env('SWITCHYARD_ISSUER'));
const CALLBACK = new URL('/login/callback', ISSUER).href;
const REDIRECT_URI = env('SWITCHYARD_REDIRECT_URI');
const UPSTREAM = `http://127.0.0.1:${env('UPSTREAM_PORT')}`;
const TEMPLATE = process.env.ENTRA_TEMPLATE === '1';
const USERS = {
  // An Entra tenant registered on organization tenant-04711.
  'ana@tenant-04711.example': { email: 'ana@tenant-04711.example', email_verified: true, name: 'Ana', tid: 'tid-04711' },
  // A Workspace whose hosted domain is tenant-09001's verified domain.
  'bo@tenant-09001.example': { email: 'bo@tenant-09001.example', email_verified: true, name: 'Bo', hd: 'tenant-09001.example' },
  // A tenant no organization registered.
  'eve@stranger.example': { email: 'eve@stranger.example', email_verified: true, name: 'Eve', tid: 'tid-unknown' },
};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const key = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
const provider = new Provider(TEMPLATE ? `${UPSTREAM}/tid-04711/v2.0` : UPSTREAM, {
  clients: [
    { client_id: 'switchyard-shared', client_secret: env('UPSTREAM_CLIENT_SECRET'), redirect_uris: [CALLBACK],
      grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' },
  ],
  jwks: { keys: [key] },
  // tid and hd ride in the ID token itself, as Entra's and Google's do.
  claims: { openid: ['sub', 'tid', 'hd'], email: ['email', 'email_verified'], profile: ['name'] },
  conformIdTokenClaims: false,
  cookies: { keys: ['test-cookie-key'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, i) => `/interaction/${i.uid}` },
  async findAccount(ctx, sub) {
    return USERS[sub] && { accountId: sub, claims: async () => ({ sub, ...USERS[sub] }) };
  },
});
const idTokens = [];
const server = http.createServer(async (req, res) => {
  if (TEMPLATE && req.url === '/organizations/v2.0/.well-known/openid-configuration') {
    // oidc-provider's own metadata, announcing Entra's issuer template.
    const metadata = await (await fetch(`${UPSTREAM}/.well-known/openid-configuration`)).json();
    res.setHeader('content-type', 'application/json');
    return res.end(JSON.stringify({ ...metadata, issuer: `${UPSTREAM}/{tenantid}/v2.0` }));
  }
  if (req.method !== 'GET' || !req.url.startsWith('/interaction/')) return provider.callback()(req, res);
  // Logs the login_hint in at once (no pages).
  const { params } = await provider.interactionDetails(req, res);
  const accountId = params.login_hint;
  if (!USERS[accountId]) return provider.interactionFinished(req, res, { error: 'access_denied' });
  const grant = new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId: await grant.save() } });
});
provider.on('grant.success', (ctx) => {
  const idToken = ctx.body?.id_token;
  if (idToken) idTokens.push(JSON.parse(Buffer.from(idToken.split('.')[1], 'base64url').toString()));
});
await new Promise((resolve) => server.listen(Number(env('UPSTREAM_PORT')), '127.0.0.1', resolve));

// A login through the shared connection as `email`; with `inOrganization`
// the app names SWITCHYARD_ORG_NAME, else no organization at all.
async function logIn(email, inOrganization = false) {
  const app = await metahexaApp(email);
  const { url, check } = await app.authorizeUrl({ connection: env('SHARED_CONNECTION') });
  if (!inOrganization) url.searchParams.delete('organization');
  const browser = new Browser();
  const page = await browser.follow(url.href, {}, REDIRECT_URI);
  return { page, tokens: () => app.tokensFor(page.redirectedTo, check) };
}

test('a person of an Entra tenant (tid) lands in the organization that registered the tenant', async () => {
  const started = performance.now();
  const { tokens } = await logIn('ana@tenant-04711.example');
  const claims = await tokens();
  if (!TEMPLATE) console.log(`# tid login among 10,000 organizations: ${(performance.now() - started).toFixed(1)} ms`);
  assert.equal(claims.org_id, env('TID_ORG_ID'));
  assert.equal(claims.email, 'ana@tenant-04711.example');
  assert.equal(idTokens.at(-1).tid, 'tid-04711', "the IdP's ID token carried the tenant");
  if (TEMPLATE) assert.equal(idTokens.at(-1).iss, `${UPSTREAM}/tid-04711/v2.0`, 'the tenant named the issuer');
});

test("under Entra's issuer template, a token whose iss names another tenant than its tid is refused",
  { skip: !TEMPLATE }, async () => {
    const { page } = await logIn('eve@stranger.example');
    assert.equal(idTokens.at(-1).iss, `${UPSTREAM}/tid-04711/v2.0`);
    assert.equal(idTokens.at(-1).tid, 'tid-unknown');
    assert.ok(!page.redirectedTo, 'a token of another tenant logged in');
    assert.match(page.html, /answer could not be verified/);
  });

test('a person of a Workspace (hd) lands in the organization whose verified domain it is', { skip: TEMPLATE }, async () => {
  const { tokens } = await logIn('bo@tenant-09001.example');
  const claims = await tokens();
  assert.equal(claims.org_id, env('HD_ORG_ID'));
  assert.equal(idTokens.at(-1).hd, 'tenant-09001.example');
});

test('a tenant no organization registered is refused, with a page naming the connection', { skip: TEMPLATE }, async () => {
  const { page } = await logIn('eve@stranger.example');
  assert.ok(!page.redirectedTo, 'an unmapped tenant logged in');
  assert.equal(page.response.status, 400, page.html);
  assert.match(page.html, new RegExp(`Your ${env('SHARED_CONNECTION')} account belongs to a directory that no organization here`));
});

test("a tenant does not enter another organization's login", { skip: TEMPLATE }, async () => {
  const { page } = await logIn('ana@tenant-04711.example', true);
  assert.ok(!page.redirectedTo, "ana entered another tenant's organization");
  assert.equal(page.response.status, 400, page.html);
  assert.match(page.html, /belongs to a directory that is not this organization/);
  // bo, whose Workspace is that organization's, does.
  const { tokens } = await logIn('bo@tenant-09001.example', true);
  assert.equal((await tokens()).org_id, env('HD_ORG_ID'));
});

test.after(() => { server.closeAllConnections(); server.close(); });
