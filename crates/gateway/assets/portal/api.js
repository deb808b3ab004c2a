// Calls to the Credless portal API from the signed-in page.
//
// Every call is same-origin with the session cookie and a JSON body, so the browser sends
// `Origin` and `Sec-Fetch-Site: same-origin` and the gateway's cross-site rule accepts it.
// A refusal becomes an `ApiError` carrying the problem's `detail`; a missing session sends the
// browser to sign-in and back. Not for anything but the portal API.

/** A failed call, with the problem document's `detail` as its message. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `the request failed with status ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem.code || '';
    this.field = problem.field || '';
    this.cloudCode = problem.cloud_code || '';
    this.retryAfter = problem.retry_after;
  }
}

/** Sends the browser to the tenant's sign-in, coming back to the page it is on. */
export function signIn() {
  const back = window.location.pathname + window.location.search;
  window.location.assign(`/oauth2/start?rd=${encodeURIComponent(back || '/')}`);
}

/** A random key for `Idempotency-Key`, so a repeated submit creates one resource. */
export function idempotencyKey() {
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Calls the API and returns the parsed JSON body (null for an empty one).
 * Throws `ApiError` for any refusal, including a failure to reach Credless at all.
 */
export async function call(method, path, body, headers = {}) {
  const init = {
    method,
    credentials: 'same-origin',
    cache: 'no-store',
    redirect: 'manual',
    headers: { Accept: 'application/json', ...headers },
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }

  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, {
      detail: 'Credless could not be reached. Check your connection and try again.',
    });
  }

  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (response.ok) {
    return data;
  }
  if (response.type === 'opaqueredirect') {
    signIn();
    throw new ApiError(401, { detail: 'Your session has ended; taking you to sign-in.' });
  }
  const problem = data && typeof data === 'object' ? data : {};
  if (response.status === 401 && problem.code === 'login_required') {
    signIn();
  }
  if (!problem.detail) {
    problem.detail = `Credless answered ${response.status} ${response.statusText || ''}`.trim();
  }
  throw new ApiError(response.status, problem);
}

/** `GET /api/v1/me`. */
export const me = () => call('GET', '/api/v1/me');

/** `GET /api/v1/accounts`. */
export const accounts = () => call('GET', '/api/v1/accounts');

/** `POST …/verify`: the cloud identity the caller's token is exchanged for. */
export const verify = (account) =>
  call('POST', `/api/v1/accounts/${encodeURIComponent(account)}/verify`);

/** `GET …/resources`. */
export const resources = (account) =>
  call('GET', `/api/v1/accounts/${encodeURIComponent(account)}/resources`);

/** `POST …/resources` with an idempotency key. */
export const createResource = (account, request, key) =>
  call('POST', `/api/v1/accounts/${encodeURIComponent(account)}/resources`, request, {
    'Idempotency-Key': key,
  });

/** `POST …/resources/{rid}/start|stop` or `DELETE …/resources/{rid}`. */
export function act(account, rid, action) {
  const base = `/api/v1/accounts/${encodeURIComponent(account)}/resources/${encodeURIComponent(rid)}`;
  if (action === 'delete') {
    return call('DELETE', base);
  }
  return call('POST', `${base}/${action}`);
}

/** `PUT /api/v1/accounts/{id}`. */
export const putAccount = (id, account) =>
  call('PUT', `/api/v1/accounts/${encodeURIComponent(id)}`, account);

/** `GET …/trust`. */
export const trust = (id) => call('GET', `/api/v1/accounts/${encodeURIComponent(id)}/trust`);

/** `GET /api/v1/audit`. */
export const audit = (limit = 100) => call('GET', `/api/v1/audit?limit=${limit}`);
