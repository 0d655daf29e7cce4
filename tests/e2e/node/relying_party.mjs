// An OpenID Connect relying party on oauth4webapi, in two steps that a test drives:
//   node relying_party.mjs start  '{"issuer", "client_id", "redirect_uri"}'
//     -> {"url", "state", "nonce", "code_verifier"}
//   node relying_party.mjs finish '{"issuer", "client_id", "client_secret", "redirect_uri",
//                                   "callback", "state", "nonce", "code_verifier"}'
//     -> {"id_token", "userinfo", "refreshed", "access_token_claims"}
// Between the two the test's browser logs in and consents. Every check is oauth4webapi's own:
// discovery, the authorization response (state, iss), PKCE, the id token's claims and
// signature (JWKS), UserInfo's sub, the refreshed id token, and the JWT access token (RFC 9068).
// OAUTH4WEBAPI names the module to import: it is installed outside the repository.
const oauth = await import(process.env.OAUTH4WEBAPI);
const [step, json] = process.argv.slice(2);
const args = JSON.parse(json);
const insecure = { [oauth.allowInsecureRequests]: true }; // the tests' server speaks http

const issuer = new URL(args.issuer);
const as = await oauth.processDiscoveryResponse(
  issuer,
  await oauth.discoveryRequest(issuer, { algorithm: "oidc", ...insecure }),
);
const client = { client_id: args.client_id };

if (step === "start") {
  const code_verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: args.redirect_uri,
    scope: "openid photos.read",
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(code_verifier),
    code_challenge_method: "S256",
  }).toString();
  console.log(JSON.stringify({ url: url.href, state, nonce, code_verifier }));
} else if (step === "finish") {
  const auth = oauth.ClientSecretBasic(args.client_secret);
  const params = oauth.validateAuthResponse(as, client, new URL(args.callback), args.state);
  const codeResponse = await oauth.authorizationCodeGrantRequest(
    as, client, auth, params, args.redirect_uri, args.code_verifier, insecure,
  );
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, codeResponse, {
    expectedNonce: args.nonce,
    requireIdToken: true,
  });
  await oauth.validateApplicationLevelSignature(as, codeResponse, insecure); // the JWKS
  const claims = oauth.getValidatedIdTokenClaims(tokens);
  const userinfo = await oauth.processUserInfoResponse(
    as,
    client,
    claims.sub,
    await oauth.userInfoRequest(as, client, tokens.access_token, insecure),
  );
  const refreshResponse = await oauth.refreshTokenGrantRequest(
    as, client, auth, tokens.refresh_token, insecure,
  );
  const refreshed = await oauth.processRefreshTokenResponse(as, client, refreshResponse);
  await oauth.validateApplicationLevelSignature(as, refreshResponse, insecure);
  let access_token_claims = null;
  if (tokens.access_token.includes(".")) {
    const request = new Request(args.issuer, {
      headers: { authorization: `Bearer ${refreshed.access_token}` },
    });
    access_token_claims = await oauth.validateJwtAccessToken(as, request, args.issuer, insecure);
  }
  console.log(JSON.stringify({
    id_token: claims,
    userinfo,
    refreshed: oauth.getValidatedIdTokenClaims(refreshed),
    access_token_claims,
  }));
} else {
  throw new Error(`unknown step ${step}`);
}
