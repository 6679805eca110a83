// The HTTP API client: every call the UI makes goes through here, to the
// same public /api/v1 endpoints Grafana uses.

export class APIError extends Error {
  constructor(type, message, status) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

// api GETs /api/v1/<path> with params (arrays repeat the key) and returns
// {data, warnings, infos}, or throws APIError with the server's message.
export async function api(path, params = {}, opts = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => qs.append(k, x));
    else qs.append(k, String(v));
  }
  const q = qs.toString();
  let r;
  try {
    r = await fetch('/api/v1/' + path + (q ? '?' + q : ''), {
      signal: opts.signal, credentials: 'same-origin', headers: { Accept: 'application/json' },
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError('network', 'cannot reach the server: ' + e.message, 0);
  }
  let j;
  try {
    j = await r.json();
  } catch {
    throw new APIError('http', `HTTP ${r.status} ${r.statusText} from /api/v1/${path} (not a JSON answer)`, r.status);
  }
  if (j.status !== 'success') {
    throw new APIError(j.errorType || 'error', j.error || `HTTP ${r.status}`, r.status);
  }
  return { data: j.data, warnings: j.warnings || [], infos: j.infos || [] };
}

// labelValues returns the values of label name (optionally only of series
// matching the selectors in match).
export async function labelValues(name, match, opts, limit) {
  const r = await api('label/' + encodeURIComponent(name) + '/values', { 'match[]': match, limit }, opts);
  return r.data || [];
}

// parseErrorPos finds the position of a PromQL parse error in a message
// such as `invalid parameter "query": 1:5: parse error: unexpected ...`
// (line and 1-based column) and returns the 0-based offset into query,
// or -1.
export function parseErrorPos(message, query) {
  const m = /(\d+):(\d+): parse error/.exec(message);
  if (!m) return -1;
  const line = Number(m[1]);
  const col = Number(m[2]);
  let off = 0;
  for (let l = 1; l < line; l++) {
    const nl = query.indexOf('\n', off);
    if (nl < 0) return -1;
    off = nl + 1;
  }
  return Math.min(off + col - 1, query.length);
}

// fetchText GETs a non-API path (/metrics) as text.
export async function fetchText(path, opts = {}) {
  const r = await fetch(path, { signal: opts.signal, credentials: 'same-origin' });
  if (!r.ok) throw new APIError('http', `HTTP ${r.status} from ${path}`, r.status);
  return r.text();
}
