// Number, duration and time formatting shared by the pages.

const siUp = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
const siDown = ['', 'm', 'µ', 'n', 'p'];
const binUp = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

function trim(x, digits) {
  let s = x.toFixed(digits);
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return s;
}

// formatValue renders v with unit 'si' (k, M, G; m, µ), 'bin' (Ki, Mi, Gi:
// for bytes) or 'none' (plain, up to 6 significant digits).
export function formatValue(v, unit = 'si', digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (unit === 'bin') {
    let i = 0;
    let x = a;
    while (x >= 1024 && i < binUp.length - 1) { x /= 1024; i++; }
    return (v < 0 ? '-' : '') + trim(x, x < 10 ? 2 : x < 100 ? 1 : 0) + binUp[i];
  }
  if (unit === 'si') {
    if (a >= 1000) {
      let i = 0;
      let x = a;
      while (x >= 1000 && i < siUp.length - 1) { x /= 1000; i++; }
      return (v < 0 ? '-' : '') + trim(x, Math.max(0, digits - Math.floor(Math.log10(x)) - 1)) + siUp[i];
    }
    if (a >= 0.01) return String(Number(v.toPrecision(digits + 1)));
    // Below 0.01: milli, micro, nano, pico.
    let i = 0;
    let x = a;
    while (x < 1 && i < siDown.length - 1) { x *= 1000; i++; }
    return (v < 0 ? '-' : '') + trim(x, Math.max(0, digits - Math.floor(Math.log10(x)) - 1)) + siDown[i];
  }
  return String(Number(v.toPrecision(6)));
}

// parseDuration reads Prometheus durations like 1h30m, 5m, 2d, 90s, 1w
// and returns seconds, or NaN.
export function parseDuration(s) {
  s = String(s).trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const units = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
  const re = /(\d+)(ms|s|m|h|d|w|y)/gy;
  let total = 0;
  let m;
  let pos = 0;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * units[m[2]];
    pos = re.lastIndex;
  }
  if (pos !== s.length || s.length === 0) return NaN;
  return total;
}

// formatDuration renders seconds as 1h30m, 5m, 15s, 250ms.
export function formatDuration(sec) {
  if (sec < 1) return Math.round(sec * 1000) + 'ms';
  let out = '';
  for (const [u, n] of [['w', 604800], ['d', 86400], ['h', 3600], ['m', 60], ['s', 1]]) {
    if (sec >= n) {
      const k = Math.floor(sec / n);
      out += k + u;
      sec -= k * n;
    }
  }
  return out || '0s';
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// formatTime renders ms since the epoch as "YYYY-MM-DD HH:MM:SS" in local
// time or UTC.
export function formatTime(ms, utc) {
  const d = new Date(ms);
  const [Y, M, D, h, m, s] = utc
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  const frac = d.getUTCMilliseconds();
  return `${Y}-${pad(M)}-${pad(D)} ${pad(h)}:${pad(m)}:${pad(s)}${frac ? '.' + pad(frac, 3) : ''}${utc ? 'Z' : ''}`;
}

// formatSeries renders a label set as name{a="b", ...}.
export function formatSeries(metric) {
  const name = metric.__name__ || '';
  const rest = Object.keys(metric).filter((k) => k !== '__name__').sort()
    .map((k) => `${k}="${String(metric[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return name + (rest.length || !name ? '{' + rest.join(', ') + '}' : '');
}

// el builds an element: el('div', {class: 'x', onclick: f}, child, ...).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k in e && typeof v !== 'string') e[k] = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
