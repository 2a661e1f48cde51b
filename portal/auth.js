// Who the customer is: an ID token for `Authorization: Bearer`, kept for this tab only
// (sessionStorage). In AWS it comes from the Cognito hosted UI, by the authorization code flow
// with PKCE (the page is a public client: it holds no secret); on the local stack, from a form
// that picks an account and asks the stack for a token (`config.sign_in.kind`: "cognito" or
// "development"). docs/portal.md says why.

const TOKEN = "billing.token";
const PKCE = "billing.pkce";

export function savedToken() {
  const token = sessionStorage.getItem(TOKEN);
  return token && !expired(token) ? token : null;
}

export function forget() {
  sessionStorage.removeItem(TOKEN);
}

function keep(token) {
  sessionStorage.setItem(TOKEN, token);
}

function expired(token) {
  try {
    const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return typeof claims.exp === "number" && claims.exp * 1000 <= Date.now();
  } catch {
    return true;
  }
}

/** The local stack's token for `accountId`. */
export async function developmentSignIn(signIn, accountId) {
  const response = await fetch(signIn.token_url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ account_id: accountId }),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error?.message ?? response.statusText);
  keep(answer.token);
  return answer.token;
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

function randomText() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** Off to the hosted UI; the page comes back to `redirect_uri` with ?code=…&state=…, and then
 * shows `returnTo` (its #/ page). */
export async function cognitoSignIn(signIn, returnTo) {
  const verifier = randomText();
  const state = randomText();
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state, returnTo }));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: signIn.client_id,
    redirect_uri: signIn.redirect_uri,
    scope: "openid email",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  location.assign(`${signIn.domain}/oauth2/authorize?${query}`);
}

/** Back from the hosted UI: the code exchanged for tokens with the verifier only this tab
 * knows. Returns the #/ page to show, or null when the address carries no sign-in answer. */
export async function finishCognitoSignIn(signIn, query) {
  if (!query.has("code") && !query.has("error")) return null;
  const started = JSON.parse(sessionStorage.getItem(PKCE) ?? "null");
  sessionStorage.removeItem(PKCE);
  if (query.has("error")) throw new Error(query.get("error_description") ?? query.get("error"));
  if (!started || started.state !== query.get("state")) throw new Error("the sign-in answer is not this tab's");
  const response = await fetch(`${signIn.domain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: signIn.client_id,
      code: query.get("code"),
      redirect_uri: signIn.redirect_uri,
      code_verifier: started.verifier,
    }),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error_description ?? answer.error ?? response.statusText);
  keep(answer.id_token);
  return started.returnTo;
}

export function cognitoSignOut(signIn) {
  forget();
  const query = new URLSearchParams({ client_id: signIn.client_id, logout_uri: signIn.redirect_uri });
  location.assign(`${signIn.domain}/logout?${query}`);
}
