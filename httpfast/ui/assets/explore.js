// The explore page: label names → their values → the matching series,
// with counts (from /api/v1/labels, label/<name>/values, series and the
// cardinality counts of status/tsdb).

import { api, labelValues } from './api.js';
import { el, formatSeries } from './format.js';

const maxSeries = 500;
// maxValues bounds the values listed for one label (a label with a
// million values would otherwise arrive whole).
const maxValues = 10000;

function selectorFor(label, value) {
  return `{${label}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"}`;
}

export function explorePage(main) {
  const p = new URLSearchParams(location.search);
  const st = { label: p.get('label') || '', value: p.get('value') || '' };
  const ctl = new AbortController();
  const opts = { signal: ctl.signal };
  const filterNames = el('input', { id: 'filter-labels', type: 'search', placeholder: 'filter label names' });
  const filterValues = el('input', { id: 'filter-values', type: 'search', placeholder: 'filter values' });
  const namesList = el('ul', { id: 'label-names', class: 'sb-list' });
  const valuesList = el('ul', { id: 'label-values', class: 'sb-list' });
  const seriesList = el('ul', { id: 'series', class: 'sb-list series' });
  const valuesHead = el('h3', {}, 'Values');
  const seriesHead = el('h3', {}, 'Series');
  const err = el('div', { class: 'sb-error', hidden: true });
  main.append(el('section', { class: 'sb-explore' },
    el('h2', {}, 'Explore series and labels'), err,
    el('div', { class: 'cols' },
      el('div', { class: 'col' }, el('h3', {}, 'Label names'), filterNames, namesList),
      el('div', { class: 'col' }, valuesHead, filterValues, valuesList),
      el('div', { class: 'col wide' }, seriesHead, seriesList))));

  let names = [];
  let values = [];
  let valueCounts = new Map(); // label → count of values
  let pairCounts = new Map(); // "label=value" → count of series
  const fail = (e) => { if (e.name === 'AbortError') return; err.hidden = false; err.textContent = e.message; };

  function save() {
    const q = new URLSearchParams();
    if (st.label) q.set('label', st.label);
    if (st.value) q.set('value', st.value);
    history.replaceState(null, '', '/explore' + (q.toString() ? '?' + q : ''));
  }

  function renderNames() {
    const f = filterNames.value.toLowerCase();
    namesList.replaceChildren(...names.filter((n) => n.toLowerCase().includes(f)).map((n) => el('li', {
      class: n === st.label ? 'on' : '', dataset: { name: n }, onclick: () => pickLabel(n),
    }, el('span', {}, n), valueCounts.has(n) ? el('span', { class: 'count', title: 'values' }, valueCounts.get(n)) : null)));
  }

  function renderValues() {
    const f = filterValues.value.toLowerCase();
    const shown = values.filter((v) => v.toLowerCase().includes(f));
    const n = values.length > maxValues ? `more than ${maxValues}` : values.length;
    valuesHead.textContent = st.label ? `Values of ${st.label} (${n})` : 'Values';
    valuesList.replaceChildren(...shown.slice(0, 2000).map((v) => {
      const c = pairCounts.get(st.label + '=' + v);
      return el('li', { class: v === st.value ? 'on' : '', dataset: { value: v }, onclick: () => pickValue(v) },
        el('span', {}, v), c !== undefined ? el('span', { class: 'count', title: 'series' }, c) : null);
    }));
  }

  async function pickLabel(n) {
    st.label = n;
    st.value = '';
    save();
    renderNames();
    seriesList.replaceChildren();
    seriesHead.textContent = 'Series';
    try {
      values = await labelValues(n, undefined, opts, maxValues + 1);
    } catch (e) { fail(e); return; }
    renderValues();
  }

  async function pickValue(v) {
    st.value = v;
    save();
    renderValues();
    const sel = selectorFor(st.label, v);
    seriesHead.textContent = `Series of ${sel}: loading…`;
    try {
      const r = await api('series', { 'match[]': sel, limit: maxSeries + 1 }, opts);
      const all = r.data || [];
      const more = all.length > maxSeries;
      const count = pairCounts.get(st.label + '=' + v);
      seriesHead.textContent = `Series of ${sel}: ${more ? (count !== undefined ? count : `more than ${maxSeries}`) : all.length}`;
      seriesList.replaceChildren(...all.slice(0, maxSeries).map((m) => {
        const s = formatSeries(m);
        return el('li', {}, el('a', { href: '/query?' + new URLSearchParams({ expr: s }) }, s));
      }));
      seriesList.dataset.count = String(all.length);
    } catch (e) { fail(e); }
  }

  filterNames.addEventListener('input', renderNames);
  filterValues.addEventListener('input', renderValues);

  (async () => {
    try {
      names = (await api('labels', {}, opts)).data || [];
    } catch (e) { fail(e); return; }
    renderNames();
    // Counts come from the cardinality statistics; without them the
    // lists still work, only uncounted.
    try {
      const t = (await api('status/tsdb', { limit: 10000 }, opts)).data;
      valueCounts = new Map((t.labelValueCountByLabelName || []).map((x) => [x.name, x.value]));
      pairCounts = new Map((t.seriesCountByLabelValuePair || []).map((x) => [x.name, x.value]));
      renderNames();
    } catch (e) { if (e.name === 'AbortError') return; }
    if (st.label) {
      const v = st.value;
      await pickLabel(st.label);
      if (v) await pickValue(v);
    }
  })();
  return () => ctl.abort();
}
