// The peer side of `cargo run --release --example bench`: node-oidc-provider
// (OpenID-certified) configured like the Switchyard it is compared with. Not a
// test; the bench starts it, reads the one JSON line it prints, and stops it by
// closing its stdin.
//
//   node bench_oidc_provider.mjs ALG CLIENT_ID CLIENT_SECRET REDIRECT_URI [dev-interactions]
//
// Alike on purpose:
// - plain HTTP on 127.0.0.1 (the issuer too), port chosen by the OS;
// - one confidential client (client_secret_basic), code flow with PKCE S256;
// - the JWKS holds two keys per algorithm (RS256, ES256, EdDSA), as
//   Switchyard's current + next keys do; ALG (RS256 or ES256) signs;
// - a code exchange signs two JWTs, as Switchyard's does: the ID token (with
//   the email claims) and an RFC 9068 access token (resource indicators with a
//   JWT-format resource server, the same ALG); with `offline_access` (which
//   oidc-provider honours only with prompt=consent) a refresh token too;
// - refresh_token: every use rotates the token (rotateRefreshToken), and
//   issues an ID token and a JWT access token, as Switchyard's rotating
//   refresh tokens do;
// - client_credentials: a JWT access token for the resource server
//   (Switchyard: the API of that identifier, signed with ALG);
// - without `dev-interactions`, the login and the consent are completed once,
//   by a handler that answers every interaction at once for a fixed account:
//   later /auth requests carrying the session cookie redirect straight back
//   with a code (the grant is remembered in the session);
// - with `dev-interactions`, oidc-provider's own development login page: a
//   form (login, password) posted to /interaction/UID, any password accepted
//   (it checks none: Switchyard's password step costs an argon2id hash), and
//   no consent page (the grant is made at once, as for Switchyard's
//   first-party client).
// Unlike Switchyard, oidc-provider keeps codes, sessions and grants in its
// in-memory adapter (no database); the bench output says so. That adapter
// keeps the 1,000 most recently used entries; the bench's pre-minted codes
// (and their grants) would be evicted before use, so it keeps 200,000.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

const [alg, clientId, clientSecret, redirectUri, mode] = process.argv.slice(2);
const devInteractions = mode === 'dev-interactions';
if (!['RS256', 'ES256'].includes(alg) || !clientId || !clientSecret || !redirectUri) {
  console.error('usage: node bench_oidc_provider.mjs RS256|ES256 CLIENT_ID CLIENT_SECRET REDIRECT_URI [dev-interactions]');
  process.exit(2);
}

const storage = new LRU({ maxSize: 200_000 });

const ACCOUNT_ID = 'bench-user';
const RESOURCE = 'urn:switchyard:bench:api';

function jwk(kind, options, keyAlg) {
  const { privateKey } = generateKeyPairSync(kind, options);
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: keyAlg, use: 'sig' };
}

const algKeys = {
  RS256: () => jwk('rsa', { modulusLength: 2048 }, 'RS256'),
  ES256: () => jwk('ec', { namedCurve: 'P-256' }, 'ES256'),
  EdDSA: () => jwk('ed25519', {}, 'EdDSA'),
};
// The signing algorithm's keys first: oidc-provider signs with the first
// matching key, as Switchyard signs with its current key.
const order = [alg, ...Object.keys(algKeys).filter((a) => a !== alg)];
const keys = order.flatMap((a) => [algKeys[a](), algKeys[a]()]);

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: alg,
  }],
  jwks: { keys },
  // The development adapter, with room for 200,000 entries.
  adapter: (model) => new MemoryAdapter(model, storage),
  cookies: { keys: [randomUUID()] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: devInteractions },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (resource !== RESOURCE) throw new Error(`unknown resource ${resource}`);
        return { scope: 'openid email', accessTokenFormat: 'jwt', accessTokenTTL: 3600, jwt: { sign: { alg } } };
      },
    },
  },
  ...(devInteractions ? {} : { interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` } }),
  rotateRefreshToken: () => true,
  // The dev login's grant is made at once (no consent page).
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    if (!devInteractions) return undefined;
    const grant = new ctx.oidc.provider.Grant({ accountId: ctx.oidc.session.accountId, clientId: ctx.oidc.client.clientId });
    grant.addOIDCScope(ctx.oidc.params.scope);
    grant.addResourceScope(RESOURCE, ctx.oidc.params.scope);
    await grant.save();
    return grant;
  },
  async findAccount(_ctx, sub) {
    if (sub !== ACCOUNT_ID) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: 'bench@switchyard.example', email_verified: true };
      },
    };
  },
  ttl: {
    AuthorizationCode: 600, IdToken: 3600, AccessToken: 3600, ClientCredentials: 3600,
    RefreshToken: 86400, Session: 86400, Grant: 86400, Interaction: 600,
  },
});

// Every interaction completes at once: the login as ACCOUNT_ID, then the
// consent to what the client asked (OIDC scopes and the resource's scopes).
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  let result;
  if (details.prompt.name === 'login') {
    result = { login: { accountId: ACCOUNT_ID } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    grant.addResourceScope(RESOURCE, details.params.scope);
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

// The first token-endpoint refusal's reason (the answer says only
// "grant request is invalid"), for the bench's error column.
let reportedGrantError = false;
provider.on('grant.error', (_ctx, err) => {
  if (reportedGrantError) return;
  reportedGrantError = true;
  console.error(`oidc-provider grant error: ${err.message}: ${err.error_detail ?? ''}`);
});

const callback = provider.callback();
server.on('request', (req, res) => {
  if (!devInteractions && req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  } else {
    callback(req, res);
  }
});

console.log(JSON.stringify({ issuer, alg }));
// The bench closes stdin to stop us (and so does its death).
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
