// A relying party built on panva's openid-client (OpenID Certified), driven by tests/interop.
// Usage: node rp.mjs '<json config>'  — prints {"authorization_url": ...}, reads the callback URL on
// stdin, then prints the outcome of code exchange, userinfo, refresh, introspection and revocation.
import * as client from 'openid-client'
import { createInterface } from 'node:readline'

const config = JSON.parse(process.argv[2])
const log = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

async function clientAuth() {
  if (config.private_jwk) {
    const key = await crypto.subtle.importKey('jwk', config.private_jwk,
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign'])
    return client.PrivateKeyJwt({ key, kid: config.private_jwk.kid })
  }
  return client.ClientSecretBasic(config.client_secret)
}

async function main() {
  const rp = await client.discovery(new URL(config.issuer), config.client_id, undefined, await clientAuth(),
    { execute: [client.allowInsecureRequests] })
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const params = {
    redirect_uri: config.redirect_uri, scope: config.scope, state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }
  const url = config.use_par ? await client.buildAuthorizationUrlWithPAR(rp, params)
    : client.buildAuthorizationUrl(rp, params)
  log({ authorization_url: url.href })

  const lines = createInterface({ input: process.stdin })
  const callback = await new Promise((resolve) => lines.once('line', resolve))
  lines.close()
  const tokens = await client.authorizationCodeGrant(rp, new URL(callback),
    { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true })
  const claims = tokens.claims()
  const userinfo = await client.fetchUserInfo(rp, tokens.access_token, claims.sub)
  const refreshed = await client.refreshTokenGrant(rp, tokens.refresh_token)
  const introspection = await client.tokenIntrospection(rp, refreshed.access_token)
  await client.tokenRevocation(rp, refreshed.refresh_token)
  const afterRevocation = await client.tokenIntrospection(rp, refreshed.access_token)
  log({
    claims, userinfo,
    refreshed: { rotated: refreshed.refresh_token !== tokens.refresh_token, scope: refreshed.scope },
    introspection_active: introspection.active,
    active_after_revocation: afterRevocation.active,
  })
}

main().catch((error) => {
  log({ error: error.code || error.name, message: error.message, cause: error.cause?.error })
  process.exit(1)
})
