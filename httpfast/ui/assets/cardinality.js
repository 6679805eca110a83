// The cardinality page: /api/v1/status/tsdb (head statistics, top metric
// names, label names and label pairs) and the growth of the series count
// from the server's own tsdb_head_series (needs the self-scrape).

import { api } from './api.js';
import { Chart } from './chart.js';
import { el, formatTime } from './format.js';

function topTable(id, title, rows, total, link) {
  const max = rows.reduce((m, r) => Math.max(m, r.value), 0) || 1;
  return el('div', { class: 'card' }, el('h3', {}, title),
    rows.length ? el('table', { id, class: 'sb-table top' }, el('tbody', {}, rows.map((r) => el('tr', {},
      el('td', { class: 'name' }, link ? el('a', { href: link(r.name) }, r.name) : r.name),
      el('td', { class: 'num' }, r.value.toLocaleString()),
      el('td', { class: 'share' }, total ? ((100 * r.value) / total).toFixed(1) + '%' : ''),
      el('td', { class: 'bar' }, el('span', { style: `width:${((100 * r.value) / max).toFixed(1)}%` })))))) : el('p', { class: 'muted' }, 'none'));
}

export function cardinalityPage(main) {
  const ctl = new AbortController();
  const opts = { signal: ctl.signal };
  const p = new URLSearchParams(location.search);
  const limit = Math.min(10000, Math.max(1, Number(p.get('limit')) || 10));
  const body = el('div', { id: 'cardinality', class: 'cards' });
  const growth = el('div', { class: 'card growth' }, el('h3', {}, 'Series growth (tsdb_head_series, last 24h)'));
  const limitSel = el('select', { id: 'limit' }, [10, 20, 50, 100].map((n) => el('option', { value: n, selected: n === limit }, `top ${n}`)));
  limitSel.addEventListener('change', () => { history.replaceState(null, '', '/cardinality?limit=' + limitSel.value); main.replaceChildren(); cleanup(); cleanup = cardinalityPage(main); });
  main.append(el('section', { class: 'sb-card' }, el('h2', {}, 'Cardinality ', limitSel), body, growth));
  let chart = null;
  let cleanup = () => { ctl.abort(); if (chart) chart.destroy(); };

  (async () => {
    let d;
    try {
      d = (await api('status/tsdb', { limit }, opts)).data;
    } catch (e) {
      if (e.name !== 'AbortError') body.append(el('div', { class: 'sb-error' }, e.message));
      return;
    }
    const h = d.headStats || {};
    const explore = (pair) => { const i = pair.indexOf('='); return '/explore?' + new URLSearchParams({ label: pair.slice(0, i), value: pair.slice(i + 1) }); };
    body.append(
      el('div', { class: 'card stats', id: 'head-stats' }, el('h3', {}, 'Head'),
        el('dl', {},
          el('dt', {}, 'Series'), el('dd', { id: 'num-series' }, (h.numSeries ?? 0).toLocaleString()),
          el('dt', {}, 'Label pairs'), el('dd', {}, (h.numLabelPairs ?? 0).toLocaleString()),
          el('dt', {}, 'Chunks'), el('dd', {}, h.chunkCount >= 0 ? h.chunkCount.toLocaleString() : '—'),
          el('dt', {}, 'Time range'), el('dd', {}, h.minTime && h.maxTime && h.minTime <= h.maxTime ? `${formatTime(h.minTime)} – ${formatTime(h.maxTime)}` : '—'))),
      topTable('top-metrics', 'Series by metric name', d.seriesCountByMetricName || [], h.numSeries,
        (n) => '/query?' + new URLSearchParams({ expr: n })),
      topTable('top-labels', 'Values by label name', d.labelValueCountByLabelName || [], 0,
        (n) => '/explore?' + new URLSearchParams({ label: n })),
      topTable('top-pairs', 'Series by label pair', d.seriesCountByLabelValuePair || [], h.numSeries, explore),
      topTable('top-memory', 'Bytes of label values by label name', (d.memoryInBytesByLabelName || []), 0, null),
    );
    const end = Date.now();
    const start = end - 86400000;
    const step = 300;
    try {
      const r = await api('query_range', { query: 'sum(tsdb_head_series)', start: start / 1000, end: end / 1000, step }, opts);
      chart = new Chart(growth);
      chart.setData(r.data.result.map((s) => ({ label: 'series in the head', ts: s.values.map((v) => v[0] * 1000), vs: s.values.map((v) => Number(v[1])) })),
        { start, end, step: step * 1000, unit: 'si' });
      if (!r.data.result.length) growth.append(el('p', { class: 'muted' }, 'no samples of tsdb_head_series: the self-scrape (--self-scrape-interval) records them'));
    } catch (e) {
      if (e.name !== 'AbortError') growth.append(el('p', { class: 'muted' }, 'series growth needs the query API: ' + e.message));
    }
  })();
  return () => cleanup();
}

