// The app of the upstream-IdP peer tests: openid-client, registered at
// Switchyard as a confidential client (SWITCHYARD_CLIENT_ID/_SECRET), logging
// people into the organization SWITCHYARD_ORG_NAME with PKCE, state and nonce.
import assert from 'node:assert/strict';
import * as client from 'openid-client';

/// The environment variable `name`, which the test's Rust driver sets.
export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
};

/// Discovers Switchyard (SWITCHYARD_ISSUER) and returns the app's two steps:
/// the authorization URL with what its callback is checked against, and the
/// ID token claims that callback's code yields. `loginHint` is sent unless
/// `extra` changes it.
export async function metahexaApp(loginHint) {
  const config = await client.discovery(
    new URL(env('SWITCHYARD_ISSUER')), env('SWITCHYARD_CLIENT_ID'), env('SWITCHYARD_CLIENT_SECRET'));
  return {
    async authorizeUrl(extra) {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: env('SWITCHYARD_REDIRECT_URI'), scope: 'openid email profile', state, nonce,
        code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
        organization: env('SWITCHYARD_ORG_NAME'), login_hint: loginHint, ...extra,
      });
      return { url, check: { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce } };
    },
    async tokensFor(redirectedTo, check) {
      assert.ok(redirectedTo, 'the login should end back at the app');
      const tokens = await client.authorizationCodeGrant(config, new URL(redirectedTo), check);
      return tokens.claims();
    },
  };
}
