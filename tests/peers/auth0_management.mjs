// Interop test: the official auth0 Node SDK v7 ManagementClient against Switchyard's /api/v2.
//
// Env: SWITCHYARD_DOMAIN (host:port; the SDK always calls https://{domain}/api/v2 and
// https://{domain}/oauth/token), SWITCHYARD_CLIENT_ID, SWITCHYARD_CLIENT_SECRET.
// TLS trust comes from NODE_EXTRA_CA_CERTS, set by the caller (tests/peers.rs).
//
// Run: node --test auth0_management.mjs   (or plain `node auth0_management.mjs`)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ManagementClient } from 'auth0';

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`environment variable ${name} is required`);
  }
  return value;
}

// Runs one step; on failure, rethrows with the step name and the SDK's status code and body.
async function step(name, fn) {
  try {
    return await fn();
  } catch (err) {
    const detail = err && err.statusCode !== undefined
      ? ` (HTTP ${err.statusCode}, body ${JSON.stringify(err.body)})`
      : '';
    let message = String(err && err.message);
    for (let cause = err && err.cause; cause; cause = cause.cause) {
      message += ` <- ${cause.code ? `${cause.code}: ` : ''}${cause.message}`; // e.g. fetch failed <- ECONNREFUSED
    }
    const wrapped = new Error(`step "${name}" failed${detail}: ${message}`);
    wrapped.cause = err;
    throw wrapped;
  }
}

// Asserts that `promise` rejects with the SDK's error for HTTP `status`.
async function assertRejectsWithStatus(promise, status) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.statusCode, status, `expected HTTP ${status}, got ${err.statusCode}: ${err.message}`);
    return true;
  });
}

test('auth0 SDK v7 ManagementClient: organizations, connections, enabled connections', async () => {
  const domain = requireEnv('SWITCHYARD_DOMAIN');
  const clientId = requireEnv('SWITCHYARD_CLIENT_ID');
  const clientSecret = requireEnv('SWITCHYARD_CLIENT_SECRET');

  const mgmt = new ManagementClient({ domain, clientId, clientSecret });
  const suffix = randomBytes(5).toString('hex'); // lowercase
  const orgName = `sdk-org-${suffix}`;
  const connName = `sdk-oidc-${suffix}`;
  const created = { orgId: null, connId: null, enabled: false };

  try {
    // --- create -----------------------------------------------------------
    const org = await step('organizations.create', () =>
      mgmt.organizations.create({ name: orgName, display_name: 'SDK Org' }));
    assert.ok(org && typeof org.id === 'string', `organization has no id: ${JSON.stringify(org)}`);
    created.orgId = org.id;
    assert.match(org.id, /^org_/);
    assert.equal(org.name, orgName);
    assert.equal(org.display_name, 'SDK Org');

    const conn = await step('connections.create', () =>
      mgmt.connections.create({
        name: connName,
        strategy: 'oidc',
        options: {
          type: 'back_channel',
          issuer: 'https://idp.example.com',
          discovery_url: 'https://idp.example.com/.well-known/openid-configuration',
          client_id: 'upstream-client',
          client_secret: 'upstream-secret',
          scope: 'openid email profile',
        },
      }));
    assert.ok(conn && typeof conn.id === 'string', `connection has no id: ${JSON.stringify(conn)}`);
    created.connId = conn.id;
    assert.match(conn.id, /^con_/);
    assert.equal(conn.name, connName);
    assert.equal(conn.strategy, 'oidc');

    const added = await step('organizations.enabledConnections.add', () =>
      mgmt.organizations.enabledConnections.add(org.id, {
        connection_id: conn.id,
        assign_membership_on_login: true,
      }));
    created.enabled = true;
    assert.equal(added.connection_id, conn.id);
    assert.equal(added.assign_membership_on_login, true);

    // --- read back --------------------------------------------------------
    const gotOrg = await step('organizations.get', () => mgmt.organizations.get(org.id));
    assert.equal(gotOrg.id, org.id);
    assert.equal(gotOrg.name, orgName);
    assert.equal(gotOrg.display_name, 'SDK Org');

    const byName = await step('organizations.getByName', () => mgmt.organizations.getByName(orgName));
    assert.equal(byName.id, org.id);
    assert.equal(byName.name, orgName);
    assert.equal(byName.display_name, 'SDK Org');

    const gotConn = await step('connections.get', () => mgmt.connections.get(conn.id));
    assert.equal(gotConn.id, conn.id);
    assert.equal(gotConn.name, connName);
    assert.equal(gotConn.strategy, 'oidc');
    assert.ok(gotConn.options, 'connection has no options');
    assert.equal(gotConn.options.client_id, 'upstream-client');

    const enabled = await step('organizations.enabledConnections.get', () =>
      mgmt.organizations.enabledConnections.get(org.id, conn.id));
    assert.equal(enabled.connection_id, conn.id);
    assert.equal(enabled.assign_membership_on_login, true);
    assert.ok(enabled.connection, 'enabled connection has no `connection` object');
    assert.equal(enabled.connection.name, connName);
    assert.equal(enabled.connection.strategy, 'oidc');

    // Offset pagination; only the first page is read (the SDK's iterator would keep asking
    // for page+1 until a page comes back empty).
    const enabledPage = await step('organizations.enabledConnections.list', () =>
      mgmt.organizations.enabledConnections.list(org.id));
    const listed = enabledPage.data.find((c) => c.connection_id === conn.id);
    assert.ok(listed, `connection ${conn.id} missing from enabled_connections: ${JSON.stringify(enabledPage.response)}`);
    assert.equal(listed.assign_membership_on_login, true);
    assert.equal(listed.connection && listed.connection.name, connName);

    // Checkpoint pagination (`from`/`take`, `next`): walk at most 20 pages.
    const found = await step('organizations.list', async () => {
      let page = await mgmt.organizations.list();
      for (let pages = 1; ; pages++) {
        const hit = page.data.find((o) => o.id === org.id);
        if (hit) return hit;
        if (!page.hasNextPage() || pages >= 20) return undefined;
        page = await page.getNextPage();
      }
    });
    assert.ok(found, `organization ${org.id} not returned by organizations.list()`);
    assert.equal(found.name, orgName);

    // --- delete -----------------------------------------------------------
    await step('organizations.enabledConnections.delete', () =>
      mgmt.organizations.enabledConnections.delete(org.id, conn.id));
    created.enabled = false;
    await step('connections.delete', () => mgmt.connections.delete(conn.id));
    created.connId = null;
    await step('organizations.delete', () => mgmt.organizations.delete(org.id));
    created.orgId = null;

    await step('organizations.get after delete -> 404', () =>
      assertRejectsWithStatus(mgmt.organizations.get(org.id), 404));

    console.log(`auth0 SDK v7 ManagementClient OK against ${domain}: org ${org.id}, connection ${conn.id}`);
  } finally {
    // Best-effort cleanup after a failure; errors here must not hide the original one.
    const { orgId, connId, enabled } = created;
    if (enabled && orgId && connId) {
      await mgmt.organizations.enabledConnections.delete(orgId, connId).catch(() => {});
    }
    if (connId) await mgmt.connections.delete(connId).catch(() => {});
    if (orgId) await mgmt.organizations.delete(orgId).catch(() => {});
  }
});
