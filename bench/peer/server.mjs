// The benchmark peer: node-oidc-provider with its own in-memory adapter and opaque tokens.
//
// Run by bench/run.py from bench/.peer/ (where `npm install oidc-provider` put it):
//   node server.mjs --port P --admin-port A
// One confidential client (`bench` / `bench-secret`, HTTP Basic) may use client_credentials,
// refresh_token and authorization_code and may introspect. The paths match authgate's, so the
// same wrk scripts drive both servers. `POST http://127.0.0.1:A/mint?count=N`, on a port of
// its own that is never measured, mints N refresh tokens through the provider's own models
// (one Grant each, scope "offline_access api", no "openid", so no ID token is signed) and
// answers them one per line.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    'admin-port': { type: 'string' },
  },
});
const port = Number(args.port);
const issuer = `http://127.0.0.1:${port}`;

// The stock memory adapter keeps 1000 entries; a pre-minted pool needs room for all of them.
const storage = new LRU({ maxSize: 4_000_000 });

const provider = new Provider(issuer, {
  adapter: (name) => new MemoryAdapter(name, storage),
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret',
    grant_types: ['client_credentials', 'refresh_token', 'authorization_code'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/cb'],
    scope: 'openid offline_access api',
  }],
  scopes: ['openid', 'offline_access', 'api'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    revocation: { enabled: true },
  },
  rotateRefreshToken: true,
  // The same lifetimes as authgate's defaults ([tokens] in SPEC.md).
  ttl: {
    AccessToken: 3600, ClientCredentials: 3600, RefreshToken: 43200, Grant: 43200,
  },
  routes: { token: '/oauth2/token', introspection: '/oauth2/introspect', revocation: '/oauth2/revoke' },
  cookies: { keys: ['bench-cookie-key-not-secret'] },
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
});
provider.on('server_error', (ctx, err) => { console.error('server_error', err); });

async function mintRefreshTokens(count) {
  const client = await provider.Client.find('bench');
  const tokens = [];
  for (let i = 0; i < count; i += 1) {
    const accountId = `user${i}`;
    const grant = new provider.Grant({ accountId, clientId: client.clientId });
    grant.addOIDCScope('offline_access api');
    const grantId = await grant.save();
    const token = new provider.RefreshToken({
      accountId, client, grantId, gty: 'authorization_code', scope: 'offline_access api',
    });
    tokens.push(await token.save());
  }
  return tokens;
}

createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (req.method !== 'POST' || url.pathname !== '/mint') {
    res.writeHead(404).end();
    return;
  }
  mintRefreshTokens(Number(url.searchParams.get('count'))).then((tokens) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`${tokens.join('\n')}\n`);
  }, (err) => {
    res.writeHead(500).end(String(err));
  });
}).listen(Number(args['admin-port']), '127.0.0.1');

provider.listen(port, '127.0.0.1', () => {
  console.log(`peer listening on ${issuer}`);
});
