// A real OpenID Connect provider (oidc-provider) for the ilvb OIDC tests, on 127.0.0.1 only.
//
// Environment: OIDC_PORT (listen port), OIDC_KEYS (a file with the signing keys as a private
// JWKS; the tests rotate keys by restarting with another file), OIDC_REDIRECT_URI (the public
// clients' redirect URI). Clients (public, PKCE S256 required):
//   ilvb-app     the client id an ilvb app is configured with
//   other-app    another client of the same provider (its tokens have the wrong audience)
//   short-lived  like ilvb-app's tokens but ID tokens live 2 s (for the expiry test)
// The login is oidc-provider's devInteractions: any login name becomes the account id (`sub`);
// an account named host-* carries the claim ilvb_role: "host".
import fs from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const jwks = JSON.parse(fs.readFileSync(process.env.OIDC_KEYS, 'utf8'));
const redirectUri = process.env.OIDC_REDIRECT_URI;

const client = (id) => ({
  client_id: id,
  token_endpoint_auth_method: 'none',
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code'],
  response_types: ['code'],
});

const provider = new Provider(issuer, {
  clients: [client('ilvb-app'), client('other-app'), client('short-lived')],
  jwks,
  pkce: { methods: ['S256'], required: () => true },
  claims: { openid: ['sub', 'ilvb_role'] },
  conformIdTokenClaims: false,
  cookies: { keys: ['ilvb-test-cookie-key-0123456789'] },
  features: { devInteractions: { enabled: true } },
  ttl: { IdToken: (_ctx, _token, c) => (c.clientId === 'short-lived' ? 2 : 600) },
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return id.startsWith('host-') ? { sub: id, ilvb_role: 'host' } : { sub: id };
      },
    };
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
