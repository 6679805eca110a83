// The query page: PromQL editor, instant (table) and range (graph) modes,
// time-range picker, step and resolution, URL state.

import { api, parseErrorPos, APIError } from './api.js';
import { Chart } from './chart.js';
import { attachCompletion, Completer } from './complete.js';
import { el, formatDuration, formatSeries, formatTime, formatValue, parseDuration } from './format.js';

const presets = ['5m', '15m', '30m', '1h', '3h', '6h', '12h', '1d', '2d', '7d', '14d', '30d'];
const resolutions = { low: 150, medium: 400, high: 1000 };
const completer = new Completer();

// state reads the page state from the URL.
function readState() {
  const p = new URLSearchParams(location.search);
  return {
    expr: p.get('expr') || '',
    tab: p.get('tab') === 'table' ? 'table' : 'graph',
    range: p.get('range') || '1h',
    end: p.get('end') || '', // RFC 3339 or '' for now
    step: p.get('step') || '',
    res: resolutions[p.get('res')] ? p.get('res') : 'medium',
    stacked: p.get('stacked') === '1',
    utc: p.get('tz') === 'utc',
    unit: ['si', 'bin', 'none'].includes(p.get('unit')) ? p.get('unit') : 'si',
  };
}

function writeState(st, push) {
  const p = new URLSearchParams();
  if (st.expr) p.set('expr', st.expr);
  if (st.tab !== 'graph') p.set('tab', st.tab);
  if (st.range !== '1h') p.set('range', st.range);
  if (st.end) p.set('end', st.end);
  if (st.step) p.set('step', st.step);
  if (st.res !== 'medium') p.set('res', st.res);
  if (st.stacked) p.set('stacked', '1');
  if (st.utc) p.set('tz', 'utc');
  if (st.unit !== 'si') p.set('unit', st.unit);
  const url = '/query' + (p.toString() ? '?' + p : '');
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

// stepFor picks the query step (seconds): the explicit step, or the range
// divided by the resolution's point count, rounded to a whole second.
export function stepFor(rangeSec, st) {
  const explicit = parseDuration(st.step);
  if (st.step && Number.isFinite(explicit) && explicit > 0) return explicit;
  return Math.max(1, Math.round(rangeSec / resolutions[st.res]));
}

function toLocalInput(ms, utc) {
  const d = new Date(ms);
  if (utc) return d.toISOString().slice(0, 19);
  const off = d.getTimezoneOffset() * 60000;
  return new Date(ms - off).toISOString().slice(0, 19);
}

function fromLocalInput(s, utc) {
  if (!s) return NaN;
  return utc ? Date.parse(s + 'Z') : Date.parse(s);
}

export function queryPage(main) {
  const st = readState();
  let chart = null;
  let abort = null;
  let parseTimer = 0;

  const ta = el('textarea', { id: 'expr', class: 'sb-expr', rows: 2, spellcheck: false, autocomplete: 'off',
    placeholder: 'PromQL expression, e.g. rate(http_requests_total[5m])  — Enter runs, Shift+Enter adds a line, Ctrl+Space completes',
    'aria-label': 'PromQL expression' });
  ta.value = st.expr;
  const errBox = el('div', { id: 'error', class: 'sb-error', hidden: true });
  const runBtn = el('button', { id: 'run', type: 'button', class: 'primary', onclick: () => run(true) }, 'Run');
  const tabGraph = el('button', { id: 'tab-graph', type: 'button', class: 'tab', onclick: () => setTab('graph') }, 'Graph');
  const tabTable = el('button', { id: 'tab-table', type: 'button', class: 'tab', onclick: () => setTab('table') }, 'Table');
  const rangeIn = el('input', { id: 'range', class: 'sb-range', list: 'range-presets', value: st.range, size: 6, title: 'range (e.g. 1h, 30m, 2d)' });
  const presetsList = el('datalist', { id: 'range-presets' }, presets.map((p) => el('option', { value: p })));
  const endIn = el('input', { id: 'end', type: 'datetime-local', step: 1, title: 'end time (empty: now)' });
  const nowBtn = el('button', { type: 'button', title: 'end at now', onclick: () => { endIn.value = ''; run(true); } }, 'now');
  const back = el('button', { type: 'button', title: 'back by half the range', onclick: () => shift(-0.5) }, '«');
  const fwd = el('button', { type: 'button', title: 'forward by half the range', onclick: () => shift(0.5) }, '»');
  const stepIn = el('input', { id: 'step', class: 'sb-step', placeholder: 'auto', value: st.step, size: 5, title: 'step (empty: from the resolution)' });
  const resSel = el('select', { id: 'res', title: 'resolution: points across the graph' },
    Object.keys(resolutions).map((r) => el('option', { value: r, selected: r === st.res }, `${r} (${resolutions[r]})`)));
  const stackIn = el('input', { id: 'stacked', type: 'checkbox', checked: st.stacked });
  const tzSel = el('select', { id: 'tz' }, el('option', { value: 'local' }, 'Local time'), el('option', { value: 'utc', selected: st.utc }, 'UTC'));
  const unitSel = el('select', { id: 'unit', title: 'value axis units' },
    [['si', 'SI (k, M, G)'], ['bin', 'binary (Ki, Mi, Gi)'], ['none', 'plain']].map(([v, t]) => el('option', { value: v, selected: v === st.unit }, t)));
  const notes = el('div', { id: 'notes', class: 'sb-notes', hidden: true });
  const stats = el('div', { id: 'stats', class: 'sb-stats' });
  const result = el('div', { id: 'result', class: 'sb-result' });
  const graphCtl = el('div', { class: 'ctl graph-only' }, back, rangeIn, presetsList, fwd,
    el('label', {}, 'step ', stepIn), el('label', {}, 'resolution ', resSel),
    el('label', {}, stackIn, ' stacked'), unitSel);
  main.append(el('section', { class: 'sb-query' },
    el('div', { class: 'editor' }, ta, runBtn),
    errBox,
    el('div', { class: 'toolbar' }, el('div', { class: 'tabs' }, tabGraph, tabTable), graphCtl,
      el('div', { class: 'ctl' }, el('label', {}, 'end ', endIn), nowBtn, tzSel)),
    notes, stats, result));
  if (st.end) endIn.value = toLocalInput(Date.parse(st.end), st.utc);

  const ac = attachCompletion(ta, completer, () => scheduleParse());
  ta.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey || !e.shiftKey)) { e.preventDefault(); run(true); }
  });
  ta.addEventListener('input', () => { autosize(); scheduleParse(); });
  for (const c of [resSel, stackIn, tzSel, unitSel]) c.addEventListener('change', () => run(true));
  for (const c of [rangeIn, stepIn, endIn]) c.addEventListener('change', () => run(true));
  rangeIn.addEventListener('keydown', (e) => { if (e.key === 'Enter') run(true); });
  stepIn.addEventListener('keydown', (e) => { if (e.key === 'Enter') run(true); });

  function autosize() {
    ta.style.height = 'auto';
    ta.style.height = Math.min(300, ta.scrollHeight + 2) + 'px';
  }

  function collect() {
    st.expr = ta.value.trim();
    st.range = rangeIn.value.trim() || '1h';
    st.step = stepIn.value.trim();
    st.res = resSel.value;
    st.stacked = stackIn.checked;
    st.utc = tzSel.value === 'utc';
    st.unit = unitSel.value;
    const e = fromLocalInput(endIn.value, st.utc);
    st.end = Number.isFinite(e) ? new Date(e).toISOString() : '';
  }

  function setTab(t) {
    st.tab = t;
    run(true);
  }

  function shift(frac) {
    collect();
    const r = parseDuration(st.range);
    if (!Number.isFinite(r)) return;
    const end = st.end ? Date.parse(st.end) : Date.now();
    const ne = end + frac * r * 1000;
    endIn.value = ne >= Date.now() ? '' : toLocalInput(ne, st.utc);
    run(true);
  }

  function showError(msg, query) {
    errBox.replaceChildren();
    errBox.hidden = !msg;
    if (!msg) return;
    const pos = query === undefined ? -1 : parseErrorPos(msg, query);
    errBox.append(el('div', { class: 'msg' }, msg));
    if (pos >= 0) {
      errBox.dataset.pos = String(pos);
      const ch = query.slice(pos, pos + 1) || ' ';
      errBox.append(el('pre', { class: 'errpos' }, query.slice(0, pos), el('mark', { id: 'errmark' }, ch), query.slice(pos + 1)));
    } else {
      delete errBox.dataset.pos;
    }
  }

  // scheduleParse checks the expression with parse_query as the user
  // types, so a syntax error shows at its position before running.
  function scheduleParse() {
    clearTimeout(parseTimer);
    parseTimer = setTimeout(async () => {
      const q = ta.value;
      if (!q.trim()) { showError(''); return; }
      try {
        await api('parse_query', { query: q });
        if (ta.value === q) showError('');
      } catch (e) {
        if (ta.value !== q) return;
        if (e instanceof APIError && e.type === 'bad_data') showError(e.message, q);
        // Other failures (an older server without parse_query) say
        // nothing until the query runs.
      }
    }, 350);
  }

  function notesFor(r) {
    const items = [...r.warnings.map((w) => ['warning', w]), ...r.infos.map((i) => ['info', i])];
    notes.replaceChildren(...items.map(([k, t]) => el('div', { class: 'note ' + k }, el('b', {}, k + ': '), t)));
    notes.hidden = items.length === 0;
  }

  async function run(push) {
    collect();
    writeState(st, push);
    tabGraph.classList.toggle('on', st.tab === 'graph');
    tabTable.classList.toggle('on', st.tab === 'table');
    graphCtl.hidden = st.tab !== 'graph';
    ac.close();
    if (!st.expr) { result.replaceChildren(); stats.textContent = ''; return; }
    if (abort) abort.abort();
    abort = new AbortController();
    const signal = abort.signal;
    const t0 = performance.now();
    stats.textContent = 'running…';
    const end = st.end ? Date.parse(st.end) : Date.now();
    try {
      if (st.tab === 'graph') {
        const rangeSec = parseDuration(st.range);
        if (!Number.isFinite(rangeSec) || rangeSec <= 0) throw new APIError('bad_data', `range "${st.range}" is not a duration like 1h or 30m`);
        const step = stepFor(rangeSec, st);
        const start = end - rangeSec * 1000;
        const r = await api('query_range', { query: st.expr, start: start / 1000, end: end / 1000, step }, { signal });
        showError('');
        notesFor(r);
        drawGraph(r.data, start, end, step * 1000);
        const pts = r.data.result.reduce((n, s) => n + (s.values ? s.values.length : 0) + (s.histograms ? s.histograms.length : 0), 0);
        stats.textContent = `${r.data.result.length} series, ${pts} points, step ${formatDuration(step)}, ${Math.round(performance.now() - t0)} ms`;
      } else {
        const r = await api('query', { query: st.expr, time: end / 1000 }, { signal });
        showError('');
        notesFor(r);
        drawTable(r.data);
        const n = Array.isArray(r.data.result) && r.data.resultType !== 'scalar' && r.data.resultType !== 'string' ? r.data.result.length : 1;
        stats.textContent = `${r.data.resultType}, ${n} result${n === 1 ? '' : 's'} at ${formatTime(end, st.utc)}, ${Math.round(performance.now() - t0)} ms`;
      }
    } catch (e) {
      if (e.name === 'AbortError') return;
      stats.textContent = '';
      notes.hidden = true;
      result.replaceChildren();
      if (chart) { chart.destroy(); chart = null; }
      showError(e.message, st.expr);
    }
  }

  function drawGraph(data, start, end, stepMs) {
    if (data.resultType !== 'matrix') {
      result.replaceChildren(el('p', { class: 'muted' }, `the graph shows range results; this query returned a ${data.resultType}`));
      return;
    }
    if (!chart || !result.contains(chart.root)) {
      result.replaceChildren();
      chart = new Chart(result, { onZoom: (a, b) => zoom(a, b) });
    }
    const series = data.result.map((s) => ({
      label: formatSeries(s.metric),
      ts: (s.values || []).map((p) => Math.round(p[0] * 1000)),
      vs: (s.values || []).map((p) => Number(p[1])),
    }));
    chart.setData(series, { start, end, step: stepMs, stacked: st.stacked, unit: st.unit, utc: st.utc });
    if (!performance.getEntriesByName('sb-first-graph').length) performance.mark('sb-first-graph');
  }

  function zoom(a, b) {
    const sec = Math.max(1, Math.round((b - a) / 1000));
    rangeIn.value = formatDuration(sec);
    endIn.value = toLocalInput(b, st.utc);
    stepIn.value = '';
    run(true);
  }

  function drawTable(data) {
    if (chart) { chart.destroy(); chart = null; }
    // Values exactly as the API sent them: a table is for reading numbers.
    const val = (v) => v;
    let rows;
    switch (data.resultType) {
      case 'vector':
        rows = data.result.map((s) => el('tr', {}, el('td', { class: 'series' }, formatSeries(s.metric)),
          el('td', { class: 'num' }, s.histogram ? JSON.stringify(s.histogram[1]) : val(s.value[1]))));
        break;
      case 'matrix':
        // Raw samples of a range selector: every value with its time.
        rows = data.result.map((s) => el('tr', {}, el('td', { class: 'series' }, formatSeries(s.metric)),
          el('td', { class: 'num samples' }, (s.values || []).map((p) => el('div', {}, `${p[1]} @${p[0]}`, el('span', { class: 'muted' }, ' ' + formatTime(p[0] * 1000, st.utc)))))));
        break;
      case 'scalar':
      case 'string':
        rows = [el('tr', {}, el('td', { class: 'series' }, data.resultType), el('td', { class: 'num' }, String(data.result[1])))];
        break;
      default:
        rows = [];
    }
    result.replaceChildren(rows.length
      ? el('table', { id: 'result-table', class: 'sb-table' }, el('thead', {}, el('tr', {}, el('th', {}, 'Series'), el('th', {}, data.resultType === 'matrix' ? 'Samples' : 'Value'))), el('tbody', {}, rows))
      : el('p', { class: 'muted' }, 'empty result'));
  }

  autosize();
  if (st.expr) run(false);
  else { tabGraph.classList.toggle('on', st.tab === 'graph'); tabTable.classList.toggle('on', st.tab === 'table'); graphCtl.hidden = st.tab !== 'graph'; }
  ta.focus();
  return () => { if (abort) abort.abort(); if (chart) chart.destroy(); clearTimeout(parseTimer); };
}
