// Browser sign-in (server package dicomweb/security/session): the
// session's CSRF token for state-changing requests, and the way back
// through /auth/login when a request gets 401. The tokens stay on the
// server; the page only ever sees the HttpOnly session cookie's effects.
let info = null;      // the /auth/session answer when signed in
let signIn = false;   // this server offers browser sign-in
let ready = null;

// loadSession asks /auth/session once.
export function loadSession() {
  ready ||= fetch('/auth/session', { headers: { Accept: 'application/json' }, credentials: 'same-origin' }).then(async res => {
    if (res.ok) { info = await res.json(); signIn = true; return; }
    // 401 in JSON from the sign-in routes (a 401 of the auth middleware
    // is text: bearer tokens only, no browser sign-in).
    if (res.status === 401 && (res.headers.get('Content-Type') || '').includes('json')) {
      const body = await res.json().catch(() => ({}));
      if (body.login) signIn = true;
    }
  }).catch(() => {});
  return ready;
}

export const sessionInfo = () => info;
export const csrfToken = () => (info && info.csrfToken) || '';
// needsSignIn: sign-in is offered and this browser has no session.
export const needsSignIn = () => signIn && !info;

// signInAgain goes through /auth/login and back to this page; false when
// the server offers no browser sign-in.
export function signInAgain() {
  if (!signIn) return false;
  location.assign('/auth/login?next=' + encodeURIComponent(location.pathname + location.hash));
  return true;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

// api is fetch with the CSRF header on state-changing methods; a 401
// sends the browser through sign-in.
export async function api(url, opts = {}) {
  await loadSession();
  const method = (opts.method || 'GET').toUpperCase();
  const headers = new Headers(opts.headers || {});
  if (!SAFE.has(method) && csrfToken()) headers.set('X-CSRF-Token', csrfToken());
  const res = await fetch(url, { ...opts, headers, credentials: 'same-origin' });
  if (res.status === 401) signInAgain();
  return res;
}

// signOut ends the session and follows the server to the issuer's
// end-session page.
export async function signOut() {
  const res = await fetch('/auth/logout', {
    method: 'POST', credentials: 'same-origin',
    headers: { Accept: 'application/json', 'X-CSRF-Token': csrfToken() },
  });
  const body = res.ok ? await res.json().catch(() => ({})) : {};
  location.assign(body.location || '/web/');
}
