// Interop test: the official auth0 Node SDK v7 ManagementClient against Switchyard's /api/v2.
// Five tests: organizations and connections; resource servers, role permissions, tenant
// settings; users listed and searched; signing keys listed, rotated and revoked; every list
// walked a page at a time in Auth0's wrappers.
//
// Env: SWITCHYARD_DOMAIN (host:port; the SDK always calls https://{domain}/api/v2 and
// https://{domain}/oauth/token), SWITCHYARD_CLIENT_ID, SWITCHYARD_CLIENT_SECRET.
// TLS trust comes from NODE_EXTRA_CA_CERTS, set by the caller (tests/peers.rs).
//
// Run: node --test auth0_management.mjs   (or plain `node auth0_management.mjs`)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { domainToASCII } from 'node:url';
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

test('auth0 SDK v7 ManagementClient: resource servers, role permissions, tenant settings', async () => {
  const domain = requireEnv('SWITCHYARD_DOMAIN');
  const clientId = requireEnv('SWITCHYARD_CLIENT_ID');
  const clientSecret = requireEnv('SWITCHYARD_CLIENT_SECRET');

  const mgmt = new ManagementClient({ domain, clientId, clientSecret });
  const suffix = randomBytes(5).toString('hex');
  const identifier = `https://sdk-${suffix}.example.com/api`;
  const created = { apiId: null, roleId: null };

  try {
    const api = await step('resourceServers.create', () =>
      mgmt.resourceServers.create({
        name: `SDK API ${suffix}`,
        identifier,
        scopes: [
          { value: 'read:things', description: 'Read things' },
          { value: 'write:things', description: 'Write things' },
        ],
        token_lifetime: 3600,
        enforce_policies: true,
        token_dialect: 'access_token_authz',
      }));
    created.apiId = api.id;
    assert.equal(api.identifier, identifier);
    assert.equal(api.signing_alg, 'RS256');
    assert.equal(api.token_lifetime, 3600);
    assert.deepEqual(api.scopes.map((s) => s.value), ['read:things', 'write:things']);

    const byId = await step('resourceServers.get(id)', () => mgmt.resourceServers.get(api.id));
    assert.equal(byId.identifier, identifier);
    // Auth0 accepts the identifier (URL-encoded by the SDK) in place of the id.
    const byIdentifier = await step('resourceServers.get(identifier)', () =>
      mgmt.resourceServers.get(identifier));
    assert.equal(byIdentifier.id, api.id);

    const updated = await step('resourceServers.update', () =>
      mgmt.resourceServers.update(api.id, {
        scopes: [
          { value: 'read:things', description: 'Read things' },
          { value: 'write:things', description: 'Write things' },
          { value: 'delete:things', description: 'Delete things' },
        ],
      }));
    assert.equal(updated.scopes.length, 3);

    const listed = await step('resourceServers.list', async () => {
      const page = await mgmt.resourceServers.list();
      return page.data.find((rs) => rs.id === api.id);
    });
    assert.ok(listed, `resource server ${api.id} not returned by resourceServers.list()`);

    const role = await step('roles.create', () => mgmt.roles.create({ name: `sdk-role-${suffix}` }));
    created.roleId = role.id;
    await step('roles.permissions.add', () =>
      mgmt.roles.permissions.add(role.id, {
        permissions: [
          { resource_server_identifier: identifier, permission_name: 'read:things' },
          { resource_server_identifier: identifier, permission_name: 'delete:things' },
        ],
      }));
    const permissions = await step('roles.permissions.list', async () =>
      (await mgmt.roles.permissions.list(role.id)).data);
    assert.deepEqual(
      permissions.map((p) => [p.resource_server_identifier, p.permission_name]).sort(),
      [[identifier, 'delete:things'], [identifier, 'read:things']],
    );
    await step('roles.permissions.add (not a scope) -> 400', () =>
      assertRejectsWithStatus(mgmt.roles.permissions.add(role.id, {
        permissions: [{ resource_server_identifier: identifier, permission_name: 'launch:things' }],
      }), 400));
    await step('roles.permissions.delete', () =>
      mgmt.roles.permissions.delete(role.id, {
        permissions: [{ resource_server_identifier: identifier, permission_name: 'read:things' }],
      }));
    const left = await step('roles.permissions.list after delete', async () =>
      (await mgmt.roles.permissions.list(role.id)).data);
    assert.deepEqual(left.map((p) => p.permission_name), ['delete:things']);

    const settings = await step('tenants.settings.update', () =>
      mgmt.tenants.settings.update({ allow_organization_name_in_authentication_api: true }));
    assert.equal(settings.allow_organization_name_in_authentication_api, true);
    const reread = await step('tenants.settings.get', () => mgmt.tenants.settings.get());
    assert.equal(reread.allow_organization_name_in_authentication_api, true);

    await step('resourceServers.delete', () => mgmt.resourceServers.delete(api.id));
    created.apiId = null;
    await step('resourceServers.get after delete -> 404', () =>
      assertRejectsWithStatus(mgmt.resourceServers.get(api.id), 404));
    const cascaded = await step('roles.permissions.list after API delete', async () =>
      (await mgmt.roles.permissions.list(role.id)).data);
    assert.deepEqual(cascaded, []);

    console.log(`auth0 SDK v7 ManagementClient OK against ${domain}: resource server ${api.id}, role ${role.id}`);
  } finally {
    if (created.roleId) await mgmt.roles.delete(created.roleId).catch(() => {});
    if (created.apiId) await mgmt.resourceServers.delete(created.apiId).catch(() => {});
  }
});

test('auth0 SDK v7 ManagementClient: users, listed and searched', async () => {
  const domain = requireEnv('SWITCHYARD_DOMAIN');
  const clientId = requireEnv('SWITCHYARD_CLIENT_ID');
  const clientSecret = requireEnv('SWITCHYARD_CLIENT_SECRET');

  const mgmt = new ManagementClient({ domain, clientId, clientSecret });
  const suffix = randomBytes(5).toString('hex');
  const connName = `sdk-db-${suffix}`;
  const created = { connId: null, userIds: [] };

  try {
    const conn = await step('connections.create (database)', () =>
      mgmt.connections.create({ name: connName, strategy: 'auth0' }));
    created.connId = conn.id;
    for (const who of ['ann', 'ben', 'cat']) {
      const user = await step(`users.create ${who}`, () =>
        mgmt.users.create({
          connection: connName,
          email: `${who}-${suffix}@sdk.example`,
          password: `a long password for ${who}`,
        }));
      created.userIds.push(user.user_id);
      assert.equal(user.identities[0].connection, connName);
    }

    // Offset pages of one user, walked with the SDK's own paging.
    const walked = await step('users.list (paged)', async () => {
      const ids = [];
      let page = await mgmt.users.list({ q: `identities.connection:"${connName}"`, per_page: 1 });
      for (let pages = 1; ; pages++) {
        ids.push(...page.data.map((u) => u.user_id));
        if (!page.hasNextPage() || pages >= 10) return ids;
        page = await page.getNextPage();
      }
    });
    assert.deepEqual([...walked].sort(), [...created.userIds].sort());

    const found = await step('users.list (q=email)', async () =>
      (await mgmt.users.list({ q: `email:"BEN-${suffix}@sdk.example"`, search_engine: 'v3' })).data);
    assert.equal(found.length, 1);
    assert.equal(found[0].email, `ben-${suffix}@sdk.example`);

    await step('users.list (unsupported search) -> 400', () =>
      assertRejectsWithStatus(mgmt.users.list({ q: 'name:"Ben"' }), 400));

    console.log(`auth0 SDK v7 ManagementClient OK against ${domain}: users of ${connName}`);
  } finally {
    for (const id of created.userIds) await mgmt.users.delete(id).catch(() => {});
    if (created.connId) await mgmt.connections.delete(created.connId).catch(() => {});
  }
});

test('auth0 SDK v7 ManagementClient: identities linked and unlinked', async () => {
  const domain = requireEnv('SWITCHYARD_DOMAIN');
  const clientId = requireEnv('SWITCHYARD_CLIENT_ID');
  const clientSecret = requireEnv('SWITCHYARD_CLIENT_SECRET');
  // A user a first login through the OIDC connection `sdk-upstream` made.
  const federated = requireEnv('SWITCHYARD_FEDERATED_USER_ID');

  const mgmt = new ManagementClient({ domain, clientId, clientSecret });
  const suffix = randomBytes(5).toString('hex');
  const connName = `sdk-link-${suffix}`;
  const created = { connId: null, userId: null };

  try {
    const secondary = await step('users.get (federated)', () => mgmt.users.get(federated));
    assert.equal(secondary.user_id, 'oidc|sdk-upstream|sdk-jane');
    assert.deepEqual(secondary.identities,
      [{ connection: 'sdk-upstream', provider: 'oidc', user_id: 'sdk-jane', isSocial: false }]);

    const conn = await step('connections.create (database)', () =>
      mgmt.connections.create({ name: connName, strategy: 'auth0' }));
    created.connId = conn.id;
    const primary = await step('users.create', () =>
      mgmt.users.create({ connection: connName, email: `pat-${suffix}@sdk.example`, password: 'a long password for pat' }));
    created.userId = primary.user_id;

    // Auth0's body: the secondary's provider, and its user_id after `provider|`.
    const [provider, ...rest] = federated.split('|');
    const linked = await step('users.identities.link', () =>
      mgmt.users.identities.link(primary.user_id, { provider, user_id: rest.join('|') }));
    assert.deepEqual(linked.map((i) => [i.connection, i.provider, i.user_id]),
      [[connName, 'auth0', primary.user_id], ['sdk-upstream', 'oidc', 'sdk-jane']]);
    assert.equal(linked[1].profileData.email, 'jane@sdk.example');
    const reread = await step('users.get (primary)', () => mgmt.users.get(primary.user_id));
    assert.equal(reread.identities.length, 2);
    await step('users.get (secondary, gone) -> 404', () =>
      assertRejectsWithStatus(mgmt.users.get(federated), 404));

    const left = await step('users.identities.delete', () =>
      mgmt.users.identities.delete(primary.user_id, 'oidc', 'sdk-jane'));
    assert.deepEqual(left.map((i) => i.provider), ['auth0']);
    await step('users.identities.delete (main identity) -> 400', () =>
      assertRejectsWithStatus(mgmt.users.identities.delete(primary.user_id, 'auth0', primary.user_id), 400));

    console.log(`auth0 SDK v7 ManagementClient OK against ${domain}: identities linked and unlinked`);
  } finally {
    if (created.userId) await mgmt.users.delete(created.userId).catch(() => {});
    if (created.connId) await mgmt.connections.delete(created.connId).catch(() => {});
  }
});

test('auth0 SDK v7 ManagementClient: signing keys listed, rotated and revoked', async () => {
  const domain = requireEnv('SWITCHYARD_DOMAIN');
  const clientId = requireEnv('SWITCHYARD_CLIENT_ID');
  const clientSecret = requireEnv('SWITCHYARD_CLIENT_SECRET');

  const mgmt = new ManagementClient({ domain, clientId, clientSecret });
  const keys = await step('keys.signing.list', () => mgmt.keys.signing.list());
  const rs256 = (list, flag) => list.find((k) => k.alg === 'RS256' && k[flag]);
  const current = rs256(keys, 'current');
  const next = rs256(keys, 'next');
  assert.ok(current && next, `no current and next RS256 key: ${JSON.stringify(keys)}`);
  for (const key of keys) {
    assert.match(key.cert, /^-----BEGIN CERTIFICATE-----/);
    assert.match(key.pkcs7, /^-----BEGIN PKCS7-----/);
    assert.match(key.fingerprint, /^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    assert.equal(key.thumbprint, key.fingerprint.replaceAll(':', ''));
    assert.equal(key.revoked, false);
  }
  assert.equal(typeof current.current_since, 'string');

  const got = await step('keys.signing.get', () => mgmt.keys.signing.get(current.kid));
  assert.deepEqual(got, current);
  await step('keys.signing.get (unknown) -> 404', () =>
    assertRejectsWithStatus(mgmt.keys.signing.get('key_unknown'), 404));

  // Rotating makes the next key current; the SDK's token, signed by the key
  // that is now previous, still works.
  const rotated = await step('keys.signing.rotate', () => mgmt.keys.signing.rotate());
  assert.deepEqual(rotated, { kid: next.kid, cert: next.cert });
  const after = await step('keys.signing.list (after rotate)', () => mgmt.keys.signing.list());
  assert.equal(rs256(after, 'current').kid, next.kid);
  assert.equal(after.find((k) => k.kid === current.kid).previous, true);
  await step('keys.signing.revoke (current) -> 400', () =>
    assertRejectsWithStatus(mgmt.keys.signing.revoke(next.kid), 400));

  // Revoking the previous key refuses the tokens it signed at once: the
  // SDK's own among them.
  const revoked = await step('keys.signing.revoke', () => mgmt.keys.signing.revoke(current.kid));
  assert.deepEqual(revoked, { kid: current.kid, cert: current.cert });
  await step('keys.signing.list (revoked token) -> 401', () =>
    assertRejectsWithStatus(mgmt.keys.signing.list(), 401));
  const fresh = new ManagementClient({ domain, clientId, clientSecret });
  const gone = await step('keys.signing.get (revoked)', () => fresh.keys.signing.get(current.kid));
  assert.equal(gone.revoked, true);
  assert.equal(gone.previous, false);
  assert.equal(typeof gone.revoked_at, 'string');

  console.log(`auth0 SDK v7 ManagementClient OK against ${domain}: signing key ${current.kid} rotated out and revoked`);
});

// Walks the SDK's own pages (at most 20) until `wanted` holds for an item; checks on every page
// that the raw answer is Auth0's wrapper `{<key>: [...], …}`, not a bare array (the SDK would
// read a bare array as an empty page).
async function findInPages(name, key, first, wanted) {
  return step(name, async () => {
    let page = await first();
    for (let pages = 1; ; pages++) {
      assert.ok(
        page.response && !Array.isArray(page.response) && Array.isArray(page.response[key]),
        `${name}: expected {${key}: [...]}, got ${JSON.stringify(page.response)}`,
      );
      const hit = page.data.find(wanted);
      if (hit) return hit;
      if (!page.hasNextPage() || pages >= 20) return undefined;
      page = await page.getNextPage();
    }
  });
}

async function mustFind(name, key, first, wanted, message) {
  const hit = await findInPages(name, key, first, wanted);
  assert.ok(hit, `${name}: ${message || 'the item created is not listed'}`);
  return hit;
}

test('auth0 SDK v7 ManagementClient: every list, paged, in Auth0 wrappers', async () => {
  const domain = requireEnv('SWITCHYARD_DOMAIN');
  const clientId = requireEnv('SWITCHYARD_CLIENT_ID');
  const clientSecret = requireEnv('SWITCHYARD_CLIENT_SECRET');

  const mgmt = new ManagementClient({ domain, clientId, clientSecret });
  const suffix = randomBytes(5).toString('hex');
  const identifier = `https://lists-${suffix}.example.com/api`;
  const created = { orgId: null, connId: null, userIds: [], roleIds: [], apiId: null, clientId: null, grantId: null };

  try {
    const org = await step('organizations.create', () => mgmt.organizations.create({ name: `lists-${suffix}` }));
    created.orgId = org.id;
    const conn = await step('connections.create', () =>
      mgmt.connections.create({ name: `lists-db-${suffix}`, strategy: 'auth0' }));
    created.connId = conn.id;
    await step('organizations.enabledConnections.add', () =>
      mgmt.organizations.enabledConnections.add(org.id, { connection_id: conn.id }));
    for (const who of ['ann', 'ben']) {
      const user = await step(`users.create ${who}`, () =>
        mgmt.users.create({ connection: conn.name, email: `${who}-${suffix}@lists.example`, password: `a long password for ${who}` }));
      created.userIds.push(user.user_id);
    }
    const [ann, ben] = created.userIds;
    await step('organizations.members.create', () =>
      mgmt.organizations.members.create(org.id, { members: [ann, ben] }));
    for (const name of ['auditor', 'editor']) {
      const role = await step(`roles.create ${name}`, () => mgmt.roles.create({ name: `${name}-${suffix}` }));
      created.roleIds.push(role.id);
    }
    await step('organizations.members.roles.assign', () =>
      mgmt.organizations.members.roles.assign(org.id, ann, { roles: created.roleIds }));
    const api = await step('resourceServers.create', () =>
      mgmt.resourceServers.create({ name: `Lists ${suffix}`, identifier, scopes: [{ value: 'read:lists' }] }));
    created.apiId = api.id;
    await step('roles.permissions.add', () =>
      mgmt.roles.permissions.add(created.roleIds[0], {
        permissions: [{ resource_server_identifier: identifier, permission_name: 'read:lists' }],
      }));
    const client = await step('clients.create', () =>
      mgmt.clients.create({ name: `lists-m2m-${suffix}`, app_type: 'non_interactive' }));
    created.clientId = client.client_id;
    const grant = await step('clientGrants.create', () =>
      mgmt.clientGrants.create({ client_id: client.client_id, audience: identifier, scope: ['read:lists'], organization_usage: 'allow' }));
    created.grantId = grant.id;
    await step('organizations.clientGrants.create', () =>
      mgmt.organizations.clientGrants.create(org.id, { grant_id: grant.id }));

    // One item a page, so that every list is walked across pages with the SDK's paging (a
    // fresh request each time: the SDK moves the page along in the object it is given).
    const one = () => ({ include_totals: true, per_page: 1 });
    const take = () => ({ include_totals: true, take: 1 });
    await mustFind('organizations.list', 'organizations',
      () => mgmt.organizations.list(take()), (o) => o.id === org.id);
    await mustFind('organizations.members.list', 'members',
      () => mgmt.organizations.members.list(org.id, take()), (m) => m.user_id === ben);
    for (const roleId of created.roleIds) {
      await mustFind('organizations.members.roles.list', 'roles',
        () => mgmt.organizations.members.roles.list(org.id, ann, one()), (r) => r.id === roleId,
        `role ${roleId} of the member not listed`);
    }
    await mustFind('organizations.enabledConnections.list', 'enabled_connections',
      () => mgmt.organizations.enabledConnections.list(org.id, one()), (c) => c.connection_id === conn.id);
    await mustFind('organizations.clientGrants.list', 'client_grants',
      () => mgmt.organizations.clientGrants.list(org.id, one()), (g) => g.id === grant.id);
    await mustFind('connections.list', 'connections',
      () => mgmt.connections.list(take()), (c) => c.id === conn.id);
    await mustFind('clients.list', 'clients',
      () => mgmt.clients.list(one()), (c) => c.client_id === client.client_id);
    await mustFind('clientGrants.list', 'client_grants',
      () => mgmt.clientGrants.list(take()), (g) => g.id === grant.id);
    await mustFind('users.list', 'users',
      () => mgmt.users.list({ ...one(), q: `identities.connection:"${conn.name}"` }), (u) => u.user_id === ben);
    await mustFind('roles.list', 'roles',
      () => mgmt.roles.list(one()), (r) => r.id === created.roleIds[1]);
    await mustFind('roles.permissions.list', 'permissions',
      () => mgmt.roles.permissions.list(created.roleIds[0], one()), (p) => p.permission_name === 'read:lists');
    await mustFind('resourceServers.list', 'resource_servers',
      () => mgmt.resourceServers.list(one()), (rs) => rs.id === api.id);
    // No login has happened: these lists are empty, but still Auth0's wrappers.
    assert.equal(await findInPages('users.sessions.list', 'sessions',
      () => mgmt.users.sessions.list(ann, take()), () => true), undefined);
    assert.equal(await findInPages('users.refreshToken.list', 'tokens',
      () => mgmt.users.refreshToken.list(ann, take()), () => true), undefined);
    assert.equal(await findInPages('userGrants.list', 'grants',
      () => mgmt.userGrants.list({ ...one(), user_id: ann }), () => true), undefined);

    console.log(`auth0 SDK v7 ManagementClient OK against ${domain}: every list paged`);
  } finally {
    if (created.grantId) await mgmt.clientGrants.delete(created.grantId).catch(() => {});
    if (created.clientId) await mgmt.clients.delete(created.clientId).catch(() => {});
    if (created.apiId) await mgmt.resourceServers.delete(created.apiId).catch(() => {});
    for (const id of created.roleIds) await mgmt.roles.delete(id).catch(() => {});
    for (const id of created.userIds) await mgmt.users.delete(id).catch(() => {});
    if (created.orgId) await mgmt.organizations.delete(created.orgId).catch(() => {});
    if (created.connId) await mgmt.connections.delete(created.connId).catch(() => {});
  }
});

test('auth0 SDK v7 ManagementClient: organization discovery domains', async () => {
  const domain = requireEnv('SWITCHYARD_DOMAIN');
  const clientId = requireEnv('SWITCHYARD_CLIENT_ID');
  const clientSecret = requireEnv('SWITCHYARD_CLIENT_SECRET');

  const mgmt = new ManagementClient({ domain, clientId, clientSecret });
  const suffix = randomBytes(5).toString('hex');
  const domains = mgmt.organizations.discoveryDomains;
  const org = await step('organizations.create', () =>
    mgmt.organizations.create({ name: `sdk-domains-${suffix}` }));
  try {
    // An IDN in Unicode, with capitals and the root dot, comes back as IDNA ASCII.
    const idn = `Bücher-${suffix}.Example.`;
    const ascii = domainToASCII(`bücher-${suffix}.example`);
    const created = await step('organizations.discoveryDomains.create', () =>
      domains.create(org.id, { domain: idn }));
    assert.equal(created.domain, ascii);
    assert.equal(created.status, 'pending');
    assert.equal(created.verification_host, `_switchyard-verification.${ascii}`);
    assert.ok(created.verification_txt.length >= 32, created.verification_txt);
    const vouched = await step('organizations.discoveryDomains.create (verified)', () =>
      domains.create(org.id, { domain: `sso-${suffix}.example`, status: 'verified' }));
    assert.equal(vouched.status, 'verified');

    const got = await step('organizations.discoveryDomains.get', () => domains.get(org.id, created.id));
    assert.deepEqual(got, created);
    const byName = await step('organizations.discoveryDomains.getByName', () =>
      domains.getByName(org.id, ascii));
    assert.equal(byName.id, created.id);

    // Listed one a page, through the SDK's checkpoint pager.
    const listed = [];
    const first = await step('organizations.discoveryDomains.list', () => domains.list(org.id, { take: 1 }));
    for await (const item of first) listed.push(item.id);
    assert.deepEqual(listed.sort(), [created.id, vouched.id].sort());

    const updated = await step('organizations.discoveryDomains.update', () =>
      domains.update(org.id, created.id, { status: 'verified', use_for_organization_discovery: false }));
    assert.equal(updated.status, 'verified');
    assert.equal(updated.use_for_organization_discovery, false);

    await assertRejectsWithStatus(domains.create(org.id, { domain: ascii }), 409);
    await assertRejectsWithStatus(domains.create(org.id, { domain: 'gmail.com' }), 400);

    await step('organizations.discoveryDomains.delete', () => domains.delete(org.id, created.id));
    await assertRejectsWithStatus(domains.get(org.id, created.id), 404);
    console.log(`auth0 SDK v7 ManagementClient OK against ${domain}: discovery domains`);
  } finally {
    await mgmt.organizations.delete(org.id).catch(() => {});
  }
});
