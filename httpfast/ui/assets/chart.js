// A canvas time-series chart written for this UI: lines or stacked areas,
// a time axis in local time or UTC, a value axis in SI or binary units, a
// legend that toggles series, a hover tooltip and drag-to-zoom.
//
// After each draw the root element carries data-series (series drawn)
// and data-points (points drawn); the browser tests read them.

import { el, formatTime, formatValue } from './format.js';

const palette = ['#3b82c4', '#e8773a', '#3fa34d', '#d64545', '#8e6bbf', '#9a6b4f', '#d46fb4', '#7a7a7a', '#b3b32e', '#2fb3c4'];

// seriesColor gives the i-th series a colour: a hand-picked palette for
// the first ten, then hues spaced by the golden angle, which keeps
// neighbours apart for any number of series.
export function seriesColor(i) {
  if (i < palette.length) return palette[i];
  const h = (i * 137.508) % 360;
  return `hsl(${h.toFixed(1)}, 60%, ${i % 2 ? 45 : 58}%)`;
}

function niceStep(span, n) {
  const raw = span / Math.max(1, n);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

const timeSteps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
  86400, 172800, 604800, 2592000].map((s) => s * 1000);

const pad = (n) => String(n).padStart(2, '0');

function timeLabel(t, stepMs, spanMs, utc) {
  const d = new Date(t);
  const [M, D, h, m, s] = utc
    ? [d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    : [d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  if (stepMs >= 86400000) return `${pad(M)}-${pad(D)}`;
  const hm = `${pad(h)}:${pad(m)}`;
  if (stepMs < 60000) return `${hm}:${pad(s)}`;
  if (spanMs > 86400000 && h === 0 && m === 0) return `${pad(M)}-${pad(D)}`;
  return hm;
}

// lowerBound returns the first index i with a[i] >= x.
function lowerBound(a, x) {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class Chart {
  // parent receives the chart; onZoom(startMs, endMs) is called after a drag.
  constructor(parent, { onZoom } = {}) {
    this.canvas = el('canvas', { class: 'sb-canvas' });
    this.sel = el('div', { class: 'sb-sel', hidden: true });
    this.cursor = el('div', { class: 'sb-cursor', hidden: true });
    this.tip = el('div', { class: 'sb-tooltip', hidden: true, role: 'tooltip' });
    this.plot = el('div', { class: 'sb-plot' }, this.canvas, this.sel, this.cursor, this.tip);
    this.legend = el('ul', { class: 'sb-legend' });
    this.root = el('div', { class: 'sb-chart' }, this.plot, this.legend);
    parent.append(this.root);
    this.onZoom = onZoom;
    this.series = [];
    this.opts = {};
    this.layout = null;
    this.ro = new ResizeObserver(() => this.draw());
    this.ro.observe(this.plot);
    this.mq = window.matchMedia('(prefers-color-scheme: dark)');
    this.onScheme = () => this.draw();
    this.mq.addEventListener('change', this.onScheme);
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => { this.tip.hidden = true; this.cursor.hidden = true; });
    this.canvas.addEventListener('mousedown', (e) => this.dragStart(e));
    this.onMove = (e) => this.dragMove(e);
    this.onUp = (e) => this.dragEnd(e);
  }

  destroy() {
    this.ro.disconnect();
    this.mq.removeEventListener('change', this.onScheme);
    window.removeEventListener('mousemove', this.onMove);
    window.removeEventListener('mouseup', this.onUp);
    this.root.remove();
  }

  // setData takes series [{label, ts: ms[], vs: number[]}] and opts
  // {start, end, step (ms), stacked, unit, utc}.
  setData(series, opts) {
    this.series = series.map((s, i) => ({ ...s, color: seriesColor(i), hidden: false }));
    this.opts = opts;
    this.renderLegend();
    this.draw();
  }

  setOptions(opts) {
    Object.assign(this.opts, opts);
    this.draw();
  }

  renderLegend() {
    this.legend.replaceChildren(...this.series.map((s, i) => el('li', {
      class: s.hidden ? 'off' : '', dataset: { index: i }, title: 'click: show/hide; shift-click: only this one',
      onclick: (e) => this.toggle(i, e.shiftKey || e.ctrlKey || e.metaKey),
    }, el('span', { class: 'sw', style: `background:${s.color}` }), el('span', { class: 'lbl' }, s.label))));
  }

  // toggle hides or shows series i; with only, shows i alone (or all
  // again when i already is alone).
  toggle(i, only) {
    if (only) {
      const alone = this.series.every((s, j) => s.hidden === (j !== i));
      this.series.forEach((s, j) => { s.hidden = alone ? false : j !== i; });
    } else {
      this.series[i].hidden = !this.series[i].hidden;
    }
    this.legend.children[i] && [...this.legend.children].forEach((li, j) => li.classList.toggle('off', this.series[j].hidden));
    this.draw();
  }

  // stacks computes, per visible series, the base and top of its area.
  stacks(vis) {
    const cum = new Map();
    return vis.map((s) => {
      const base = new Array(s.ts.length);
      const top = new Array(s.ts.length);
      for (let j = 0; j < s.ts.length; j++) {
        const v = s.vs[j];
        const b = cum.get(s.ts[j]) || 0;
        base[j] = b;
        top[j] = Number.isFinite(v) ? b + v : NaN;
        if (Number.isFinite(v)) cum.set(s.ts[j], b + v);
      }
      return { base, top };
    });
  }

  draw() {
    const W = this.plot.clientWidth;
    const H = this.plot.clientHeight;
    if (!W || !H) return;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(W * dpr);
    this.canvas.height = Math.round(H * dpr);
    this.canvas.style.width = W + 'px';
    this.canvas.style.height = H + 'px';
    const c = this.canvas.getContext('2d');
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.clearRect(0, 0, W, H);
    const css = getComputedStyle(this.root);
    const fg = css.getPropertyValue('--fg-muted').trim() || '#666';
    const grid = css.getPropertyValue('--grid').trim() || '#ddd';
    c.font = '11px system-ui, sans-serif';
    const { start, end, step = 0, stacked = false, unit = 'si', utc = false } = this.opts;
    const vis = this.series.filter((s) => !s.hidden);
    const st = stacked ? this.stacks(vis) : null;
    let lo = Infinity;
    let hi = -Infinity;
    vis.forEach((s, k) => {
      const arrs = st ? [st[k].top, st[k].base] : [s.vs];
      for (const a of arrs) for (const v of a) if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    });
    if (lo === Infinity) { lo = 0; hi = 1; }
    if (stacked) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
    if (lo === hi) { const d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
    // A little headroom so lines at the extremes do not sit on the frame.
    const pad = (hi - lo) * 0.04;
    // Not below zero for data that never is (counts, rates, bytes).
    lo = lo >= 0 ? Math.max(0, lo - pad) : lo - pad;
    hi += pad;
    const T = 10;
    const B = 24;
    const R = 12;
    const ny = Math.max(2, Math.floor((H - T - B) / 40));
    const ys = niceStep(hi - lo, ny);
    const y0 = Math.floor(lo / ys) * ys;
    const y1 = Math.ceil(hi / ys) * ys;
    const yticks = [];
    for (let v = y0; v <= y1 + ys / 2; v += ys) yticks.push(Math.abs(v) < ys / 1e6 ? 0 : v);
    const L = Math.ceil(Math.max(...yticks.map((v) => c.measureText(formatValue(v, unit)).width))) + 12;
    const pw = Math.max(10, W - L - R);
    const ph = Math.max(10, H - T - B);
    const span = Math.max(1, end - start);
    const X = (t) => L + ((t - start) / span) * pw;
    const Y = (v) => T + (1 - (v - y0) / (y1 - y0)) * ph;
    this.layout = { L, T, pw, ph, start, span, Y };

    c.strokeStyle = grid;
    c.fillStyle = fg;
    c.lineWidth = 1;
    c.textAlign = 'right';
    c.textBaseline = 'middle';
    for (const v of yticks) {
      const y = Math.round(Y(v)) + 0.5;
      c.beginPath(); c.moveTo(L, y); c.lineTo(L + pw, y); c.stroke();
      c.fillText(formatValue(v, unit), L - 6, y);
    }
    const ts = timeSteps.find((s) => span / s <= pw / 90) || timeSteps[timeSteps.length - 1];
    const off = utc ? 0 : -new Date(start).getTimezoneOffset() * 60000;
    c.textAlign = 'center';
    c.textBaseline = 'top';
    for (let t = Math.ceil((start + off) / ts) * ts - off; t <= end; t += ts) {
      const x = Math.round(X(t)) + 0.5;
      c.beginPath(); c.moveTo(x, T); c.lineTo(x, T + ph); c.stroke();
      c.fillText(timeLabel(t, ts, span, utc), x, T + ph + 6);
    }

    c.save();
    c.beginPath();
    c.rect(L, T, pw, ph);
    c.clip();
    const gap = step > 0 ? step * 1.5 : Infinity;
    let drawnSeries = 0;
    let drawnPoints = 0;
    vis.forEach((s, k) => {
      const top = st ? st[k].top : s.vs;
      const base = st ? st[k].base : null;
      // Segments of consecutive finite points closer than 1.5 steps.
      const segs = [];
      let cur = null;
      for (let j = 0; j < s.ts.length; j++) {
        if (!Number.isFinite(top[j])) { cur = null; continue; }
        if (!cur || s.ts[j] - s.ts[j - 1] > gap) { cur = []; segs.push(cur); }
        cur.push(j);
      }
      if (!segs.length) return;
      drawnSeries++;
      c.strokeStyle = s.color;
      c.fillStyle = s.color;
      c.lineWidth = vis.length > 50 ? 1 : 1.5;
      for (const seg of segs) {
        drawnPoints += seg.length;
        if (seg.length === 1) {
          c.beginPath(); c.arc(X(s.ts[seg[0]]), Y(top[seg[0]]), 2, 0, 2 * Math.PI); c.fill();
          continue;
        }
        if (base) {
          c.beginPath();
          seg.forEach((j, n) => (n ? c.lineTo(X(s.ts[j]), Y(top[j])) : c.moveTo(X(s.ts[j]), Y(top[j]))));
          for (let n = seg.length - 1; n >= 0; n--) c.lineTo(X(s.ts[seg[n]]), Y(base[seg[n]]));
          c.closePath();
          c.globalAlpha = 0.35; c.fill(); c.globalAlpha = 1;
        }
        c.beginPath();
        seg.forEach((j, n) => (n ? c.lineTo(X(s.ts[j]), Y(top[j])) : c.moveTo(X(s.ts[j]), Y(top[j]))));
        c.stroke();
      }
    });
    c.restore();
    if (!vis.length || !drawnSeries) {
      c.fillStyle = fg;
      c.textAlign = 'center';
      c.textBaseline = 'middle';
      c.fillText(this.series.length ? 'every series is hidden' : 'no data points in this range', L + pw / 2, T + ph / 2);
    }
    this.root.dataset.series = String(drawnSeries);
    this.root.dataset.points = String(drawnPoints);
    this.stacked = st;
    this.visible = vis;
  }

  // hover shows the values of every visible series at the point nearest
  // to the cursor.
  hover(e) {
    if (this.drag) return;
    const lay = this.layout;
    if (!lay || !this.visible || !this.visible.length) return;
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left;
    const y = e.clientY - r.top;
    if (x < lay.L || x > lay.L + lay.pw) { this.tip.hidden = true; this.cursor.hidden = true; return; }
    const t = lay.start + ((x - lay.L) / lay.pw) * lay.span;
    // Snap to the nearest sample time of any visible series.
    let snap = NaN;
    for (const s of this.visible) {
      const i = lowerBound(s.ts, t);
      for (const j of [i - 1, i]) {
        if (j >= 0 && j < s.ts.length && (Number.isNaN(snap) || Math.abs(s.ts[j] - t) < Math.abs(snap - t))) snap = s.ts[j];
      }
    }
    if (Number.isNaN(snap)) return;
    const tol = Math.max(this.opts.step || 0, 1) / 2;
    const rows = [];
    this.visible.forEach((s, k) => {
      const i = lowerBound(s.ts, snap - tol);
      if (i < s.ts.length && Math.abs(s.ts[i] - snap) <= tol && Number.isFinite(s.vs[i])) {
        const yv = this.stacked ? this.stacked[k].top[i] : s.vs[i];
        rows.push({ s, v: s.vs[i], dy: Math.abs(lay.Y(yv) - y) });
      }
    });
    if (!rows.length) return;
    const near = rows.reduce((a, b) => (b.dy < a.dy ? b : a));
    rows.sort((a, b) => b.v - a.v);
    const max = 15;
    const unit = this.opts.unit || 'si';
    this.tip.replaceChildren(
      el('div', { class: 'tt-time' }, formatTime(snap, this.opts.utc)),
      ...rows.slice(0, max).map((r) => el('div', { class: 'tt-row' + (r === near ? ' near' : '') },
        el('span', { class: 'sw', style: `background:${r.s.color}` }),
        el('span', { class: 'tt-lbl' }, r.s.label),
        el('span', { class: 'tt-val' }, formatValue(r.v, unit, 4)))),
      ...(rows.length > max ? [el('div', { class: 'tt-more' }, `… and ${rows.length - max} more`)] : []),
    );
    this.tip.dataset.time = String(snap);
    this.tip.hidden = false;
    const cx = lay.L + ((snap - lay.start) / lay.span) * lay.pw;
    this.cursor.style.left = cx + 'px';
    this.cursor.style.top = lay.T + 'px';
    this.cursor.style.height = lay.ph + 'px';
    this.cursor.hidden = false;
    const tw = this.tip.offsetWidth;
    const left = cx + 14 + tw > this.plot.clientWidth ? Math.max(0, cx - 14 - tw) : cx + 14;
    this.tip.style.left = left + 'px';
    this.tip.style.top = Math.max(0, Math.min(y - 10, this.plot.clientHeight - this.tip.offsetHeight)) + 'px';
  }

  dragStart(e) {
    if (e.button !== 0 || !this.layout) return;
    const r = this.canvas.getBoundingClientRect();
    this.drag = { x0: e.clientX - r.left, x1: e.clientX - r.left, left: r.left };
    window.addEventListener('mousemove', this.onMove);
    window.addEventListener('mouseup', this.onUp);
    e.preventDefault();
  }

  dragMove(e) {
    if (!this.drag) return;
    const lay = this.layout;
    this.drag.x1 = Math.max(lay.L, Math.min(lay.L + lay.pw, e.clientX - this.drag.left));
    const a = Math.min(this.drag.x0, this.drag.x1);
    const w = Math.abs(this.drag.x1 - this.drag.x0);
    Object.assign(this.sel.style, { left: a + 'px', width: w + 'px', top: lay.T + 'px', height: lay.ph + 'px' });
    this.sel.hidden = w < 2;
    this.tip.hidden = true;
  }

  dragEnd() {
    window.removeEventListener('mousemove', this.onMove);
    window.removeEventListener('mouseup', this.onUp);
    const d = this.drag;
    this.drag = null;
    this.sel.hidden = true;
    if (!d || Math.abs(d.x1 - d.x0) < 5 || !this.onZoom) return;
    const lay = this.layout;
    const tAt = (x) => lay.start + ((x - lay.L) / lay.pw) * lay.span;
    this.onZoom(Math.round(tAt(Math.min(d.x0, d.x1))), Math.round(tAt(Math.max(d.x0, d.x1))));
  }
}
