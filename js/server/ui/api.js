// The page's one way to talk to the server: same origin, paths relative to the page (so it works
// behind a reverse proxy's path prefix), JSON answers, and the inference key — when the server
// asks for one — sent as a bearer token and kept only in this tab's sessionStorage.

const STORAGE_KEY = 'chori-torch.inference-key';
let memoryKey = null; // where sessionStorage is unavailable (a sandboxed frame)

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function getKey() {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? memoryKey;
  } catch {
    return memoryKey;
  }
}

export function setKey(value) {
  memoryKey = value || null;
  try {
    if (value) sessionStorage.setItem(STORAGE_KEY, value);
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // memoryKey holds it for this page's life
  }
}

/** A refusal for the key: none sent (401) or not the right one (403 CHORI_FORBIDDEN). */
export const isKeyRefusal = (err) => err instanceof ApiError && (err.status === 401 || err.code === 'CHORI_FORBIDDEN');

/** fetch(path) with the key; resolves the JSON answer or rejects an ApiError. */
export async function request(path, { method = 'GET', body, headers = {} } = {}) {
  const all = new Headers(headers);
  const key = getKey();
  if (key) all.set('Authorization', `Bearer ${key}`);
  let res;
  try {
    res = await fetch(path, { method, body, headers: all, cache: 'no-store', credentials: 'same-origin' });
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `the server did not answer (${err.message})`);
  }
  const isJson = (res.headers.get('content-type') ?? '').startsWith('application/json');
  const answer = isJson ? await res.json() : { error: { code: `HTTP_${res.status}`, message: await res.text() } };
  if (!res.ok) {
    const { code = `HTTP_${res.status}`, message = res.statusText } = answer?.error ?? {};
    throw new ApiError(res.status, code, message);
  }
  return answer;
}
