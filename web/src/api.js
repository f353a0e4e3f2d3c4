// api: the REST API as the console calls it. The session cookie goes with
// every request (same origin); every request that changes something also
// carries the session's CSRF token, which nubod checks (403 without it).

let csrf = null;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Called when a request finds no session (401): the app shows the login.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

export async function call(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(path, {method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (e) {
    throw new ApiError(0, 'unavailable', `nubod does not answer: ${e.message}`);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const err = data && data.error ? data.error : {code: 'error', message: text || res.statusText};
    if (res.status === 401 && path !== '/v1/session') onUnauthorized();
    throw new ApiError(res.status, err.code, err.message);
  }
  return data;
}

export const get = (p) => call('GET', p);
export const post = (p, b = {}) => call('POST', p, b);
export const del = (p) => call('DELETE', p);
export const patch = (p, b) => call('PATCH', p, b);

export async function login(token) {
  const s = await call('POST', '/v1/session', {token});
  csrf = s.csrf;
  return s;
}

// The session of this browser, if its cookie still holds one.
export async function resume() {
  const s = await call('GET', '/v1/session');
  csrf = s.csrf;
  return s;
}

export async function logout() {
  try { await call('DELETE', '/v1/session'); } finally { csrf = null; }
}

// Follows an operation until it ends, calling onChange(op) with each new
// state (long-polling: nubod answers when a phase is recorded).
export async function followOperation(id, onChange) {
  let rev = null;
  for (;;) {
    const q = rev ? `?wait=30&after=${rev}` : '';
    const op = await get(`/v1/operations/${encodeURIComponent(id)}${q}`);
    if (op.revision !== rev) onChange(op);
    rev = op.revision;
    if (op.state !== 'running') return op;
  }
}
