// PromQL autocomplete: what kind of name the cursor is in (metric,
// label name, label value) and the candidates for it, from the API.

import { api, labelValues } from './api.js';
import { el } from './format.js';

export const functions = ['abs', 'absent', 'absent_over_time', 'avg_over_time', 'ceil', 'changes', 'clamp', 'clamp_max',
  'clamp_min', 'count_over_time', 'day_of_month', 'day_of_week', 'day_of_year', 'days_in_month', 'delta', 'deriv', 'exp',
  'floor', 'histogram_quantile', 'holt_winters', 'hour', 'idelta', 'increase', 'irate', 'label_join', 'label_replace',
  'last_over_time', 'ln', 'log10', 'log2', 'max_over_time', 'min_over_time', 'minute', 'month', 'predict_linear',
  'present_over_time', 'quantile_over_time', 'rate', 'resets', 'round', 'scalar', 'sgn', 'sort', 'sort_desc', 'sqrt',
  'stddev_over_time', 'stdvar_over_time', 'sum_over_time', 'time', 'timestamp', 'vector', 'year'];
export const aggregations = ['avg', 'bottomk', 'count', 'count_values', 'group', 'max', 'min', 'quantile', 'stddev',
  'stdvar', 'sum', 'topk'];
const keywords = ['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless'];

const identRe = /[a-zA-Z0-9_:]/;

// context reports what is being typed at cursor in text: {kind: 'metric'
// | 'label' | 'value' | 'none', prefix, from (offset where prefix
// starts), metric (the selector's metric name, if any), label (for
// values)}.
export function context(text, cursor) {
  let inStr = null; // the quote character of an open string
  let strStart = -1;
  let brace = -1; // offset of the open '{'
  let bracket = false;
  const parens = []; // for each open '(': does it follow by/without/on/ignoring/group_*?
  for (let i = 0; i < cursor; i++) {
    const ch = text[i];
    if (inStr) {
      if (ch === '\\') { i++; continue; }
      if (ch === inStr) inStr = null;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') { inStr = ch; strStart = i; continue; }
    if (ch === '#') { const nl = text.indexOf('\n', i); if (nl < 0 || nl >= cursor) return { kind: 'none' }; i = nl; continue; }
    if (ch === '{') brace = i;
    else if (ch === '}') brace = -1;
    else if (ch === '[') bracket = true;
    else if (ch === ']') bracket = false;
    else if (ch === '(') {
      const before = text.slice(0, i).trimEnd();
      parens.push(/(^|[^a-zA-Z0-9_])(by|without|on|ignoring|group_left|group_right)$/.test(before));
    } else if (ch === ')') parens.pop();
  }
  if (bracket) return { kind: 'none' };
  let from = cursor;
  while (from > 0 && identRe.test(text[from - 1])) from--;
  const prefix = text.slice(from, cursor);
  const metricBefore = (pos) => {
    let e = pos;
    while (e > 0 && /\s/.test(text[e - 1])) e--;
    let s = e;
    while (s > 0 && identRe.test(text[s - 1])) s--;
    const name = text.slice(s, e);
    return /^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name) ? name : '';
  };
  if (inStr) {
    if (brace < 0) return { kind: 'none' };
    const m = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*$/.exec(text.slice(brace + 1, strStart));
    if (!m) return { kind: 'none' };
    return { kind: 'value', label: m[1], prefix: text.slice(strStart + 1, cursor), from: strStart + 1, metric: metricBefore(brace), quote: inStr };
  }
  if (brace >= 0) {
    const before = text.slice(brace + 1, from).trimEnd();
    if (before === '' || before.endsWith(',')) return { kind: 'label', prefix, from, metric: metricBefore(brace) };
    return { kind: 'none' };
  }
  if (parens.length && parens[parens.length - 1]) return { kind: 'label', prefix, from, metric: '' };
  if (/^[0-9]/.test(prefix)) return { kind: 'none' };
  return { kind: 'metric', prefix, from };
}

// Completer fetches and caches candidate names.
export class Completer {
  constructor() { this.cache = new Map(); }

  async cached(key, f) {
    if (!this.cache.has(key)) {
      const p = f().catch((e) => { this.cache.delete(key); throw e; });
      this.cache.set(key, p);
    }
    return this.cache.get(key);
  }

  // candidates returns [{text, kind}] for ctx, best first, at most limit.
  async candidates(ctx, limit = 50) {
    let items = [];
    if (ctx.kind === 'metric') {
      const names = await this.cached('metrics', () => labelValues('__name__'));
      items = names.map((n) => ({ text: n, kind: 'metric' }))
        .concat(functions.map((n) => ({ text: n, kind: 'function', insert: n + '(' })))
        .concat(aggregations.map((n) => ({ text: n, kind: 'aggregation', insert: n + '(' })))
        .concat(keywords.map((n) => ({ text: n, kind: 'keyword' })));
    } else if (ctx.kind === 'label') {
      const match = ctx.metric ? [`{__name__="${ctx.metric}"}`] : undefined;
      const names = await this.cached('labels:' + ctx.metric, async () => (await api('labels', { 'match[]': match })).data || []);
      items = names.filter((n) => n !== '__name__').map((n) => ({ text: n, kind: 'label' }));
    } else if (ctx.kind === 'value') {
      const match = ctx.metric ? [`{__name__="${ctx.metric}"}`] : undefined;
      const vals = await this.cached(`values:${ctx.metric}:${ctx.label}`, () => labelValues(ctx.label, match));
      items = vals.map((v) => ({ text: v, kind: 'value', insert: v.replace(/\\/g, '\\\\').replace(new RegExp(ctx.quote, 'g'), '\\' + ctx.quote) }));
    } else {
      return [];
    }
    const p = ctx.prefix.toLowerCase();
    const starts = items.filter((x) => x.text.toLowerCase().startsWith(p));
    const contains = p ? items.filter((x) => !x.text.toLowerCase().startsWith(p) && x.text.toLowerCase().includes(p)) : [];
    return starts.concat(contains).filter((x) => x.text !== ctx.prefix || ctx.kind === 'value').slice(0, limit);
  }
}

// attachCompletion wires a dropdown of candidates to textarea ta. It
// returns {isOpen()}; onAccept is called after an insertion.
export function attachCompletion(ta, completer, onAccept) {
  const box = el('ul', { class: 'sb-complete', role: 'listbox', hidden: true });
  ta.after(box);
  let items = [];
  let sel = 0;
  let ctx = null;
  let seq = 0;
  const close = () => { box.hidden = true; items = []; };
  const render = () => {
    box.replaceChildren(...items.map((it, i) => el('li', {
      class: i === sel ? 'sel' : '', role: 'option', dataset: { kind: it.kind },
      onmousedown: (e) => { e.preventDefault(); sel = i; accept(); },
    }, el('span', { class: 'ac-text' }, it.text), el('span', { class: 'ac-kind' }, it.kind))));
    box.hidden = items.length === 0;
    const s = box.children[sel];
    if (s) s.scrollIntoView({ block: 'nearest' });
  };
  const accept = () => {
    const it = items[sel];
    if (!it || !ctx) return;
    const ins = it.insert || it.text;
    const end = ta.selectionStart;
    let tail = end;
    while (tail < ta.value.length && identRe.test(ta.value[tail]) && ctx.kind !== 'value') tail++;
    ta.value = ta.value.slice(0, ctx.from) + ins + ta.value.slice(tail);
    const pos = ctx.from + ins.length;
    ta.setSelectionRange(pos, pos);
    close();
    onAccept && onAccept();
  };
  const update = async (force) => {
    const my = ++seq;
    const c = context(ta.value, ta.selectionStart);
    if (c.kind === 'none' || (!force && c.kind === 'metric' && c.prefix.length < 1)) { close(); return; }
    let res;
    try {
      res = await completer.candidates(c);
    } catch {
      close();
      return;
    }
    if (my !== seq) return;
    ctx = c;
    items = res;
    sel = 0;
    render();
  };
  ta.addEventListener('input', () => update(false));
  ta.addEventListener('blur', () => setTimeout(close, 100));
  ta.addEventListener('keydown', (e) => {
    if (e.key === ' ' && e.ctrlKey) { e.preventDefault(); update(true); return; }
    if (box.hidden) return;
    if (e.key === 'ArrowDown') { e.preventDefault(); sel = (sel + 1) % items.length; render(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); sel = (sel - 1 + items.length) % items.length; render(); }
    else if (e.key === 'Enter' || e.key === 'Tab') { e.preventDefault(); e.stopImmediatePropagation(); accept(); }
    else if (e.key === 'Escape') { e.preventDefault(); close(); }
  });
  return { isOpen: () => !box.hidden, close };
}
