// The status page: build info, runtime info, flags, WAL replay, head and
// blocks, and the ingest and storage counters from /metrics.

import { api, fetchText } from './api.js';
import { el, formatDuration, formatTime, formatValue } from './format.js';

function kv(id, rows) {
  return el('table', { id, class: 'sb-table kv' }, el('tbody', {}, rows.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v)))));
}

function card(title, id) {
  const body = el('div', { class: 'body' }, el('p', { class: 'muted' }, 'loading…'));
  return { node: el('div', { class: 'card', id }, el('h3', {}, title), body), body };
}

// parseMetrics reads the Prometheus text format into [{name, labels, value}].
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m) out.push({ name: m[1], labels: m[2] || '', value: Number(m[3]) });
  }
  return out;
}

const counterSections = [
  ['Ingest', /^tsdb_(ingest|http_requests|append)_/],
  ['Head', /^tsdb_head_/],
  ['WAL', /^tsdb_wal_/],
  ['Blocks and compaction', /^tsdb_(blocks|compactions|background|deletions)/],
];

export function statusPage(main) {
  const ctl = new AbortController();
  const opts = { signal: ctl.signal };
  const build = card('Build', 'build');
  const runtime = card('Runtime', 'runtime');
  const wal = card('WAL replay', 'walreplay');
  const head = card('Head', 'head');
  const blocks = card('Blocks', 'blocks');
  const counters = card('Counters', 'counters');
  const flags = card('Flags', 'flags');
  main.append(el('section', { class: 'sb-status' }, el('h2', {}, 'Status'),
    el('div', { class: 'cards' }, build.node, runtime.node, wal.node, head.node), blocks.node, counters.node, flags.node));
  const fail = (c) => (e) => { if (e.name !== 'AbortError') c.body.replaceChildren(el('div', { class: 'sb-error' }, e.message)); };
  const metricsP = fetchText('/metrics', opts).then(parseMetrics);
  metricsP.catch(() => {});
  const metric = async (name) => {
    const ms = await metricsP;
    const xs = ms.filter((m) => m.name === name);
    return xs.length ? xs.reduce((a, m) => a + m.value, 0) : undefined;
  };

  api('status/buildinfo', {}, opts).then((r) => {
    const b = r.data;
    build.body.replaceChildren(kv('build-table', [['Version', b.version], ['Revision', b.revision], ['Branch', b.branch],
      ['Build user', b.buildUser], ['Build date', b.buildDate], ['Go version', b.goVersion]]));
  }).catch(fail(build));

  const blocksP = api('status/tsdb/blocks', {}, opts);
  blocksP.catch(() => {});
  api('status/runtimeinfo', {}, opts).then(async (r) => {
    const x = r.data;
    const rss = await metric('process_resident_memory_bytes').catch(() => undefined);
    const dir = await blocksP.then((b) => b.data.dataDirBytes, () => undefined);
    const up = (Date.parse(x.serverTime) - Date.parse(x.startTime)) / 1000;
    runtime.body.replaceChildren(kv('runtime-table', [
      ['Start time', x.startTime], ['Uptime', Number.isFinite(up) ? formatDuration(Math.round(up)) : '—'],
      ['Hostname', x.hostname], ['Working directory', x.CWD],
      ['Resident memory', rss !== undefined ? formatValue(rss, 'bin') + 'B' : '—'],
      ['Goroutines', x.goroutineCount], ['GOMAXPROCS', x.GOMAXPROCS],
      ['GOMEMLIMIT', x.GOMEMLIMIT >= 9e18 ? 'none' : formatValue(x.GOMEMLIMIT, 'bin') + 'B'], ['GOGC', x.GOGC || '100'], ['GODEBUG', x.GODEBUG || ''],
      ['Storage retention', x.storageRetention], ['Corruptions', x.corruptionCount],
      ['Data directory size', dir !== undefined ? formatValue(dir, 'bin') + 'B' : '—'],
    ]));
  }).catch(fail(runtime));

  api('status/walreplay', {}, opts).then((r) => {
    const w = r.data;
    const span = w.max - w.min;
    const done = span <= 0 || w.current >= w.max;
    const pct = span > 0 ? Math.min(100, (100 * (w.current - w.min)) / span) : 100;
    wal.body.replaceChildren(el('p', { id: 'walreplay-state' }, done ? 'replay finished' : `replaying segment ${w.current} of ${w.min}–${w.max}`),
      el('div', { class: 'progress' }, el('span', { style: `width:${pct.toFixed(0)}%` })),
      kv('walreplay-table', [['First segment', w.min], ['Last segment', w.max], ['Current', w.current]]));
  }).catch(fail(wal));

  api('status/tsdb', { limit: 1 }, opts).then(async (r) => {
    const h = r.data.headStats || {};
    const appended = await metric('tsdb_head_samples_appended_total').catch(() => undefined);
    head.body.replaceChildren(kv('head-table', [
      ['Series', (h.numSeries ?? 0).toLocaleString()], ['Chunks', h.chunkCount >= 0 ? h.chunkCount.toLocaleString() : '—'], // negative: not counted
      ['Label pairs', (h.numLabelPairs ?? 0).toLocaleString()],
      ['Min time', h.minTime && h.minTime <= h.maxTime ? formatTime(h.minTime) : '—'],
      ['Max time', h.maxTime && h.minTime <= h.maxTime ? formatTime(h.maxTime) : '—'],
      ['Samples appended', appended !== undefined ? appended.toLocaleString() : '—'],
    ]));
  }).catch(fail(head));

  blocksP.then((r) => {
    const bs = (r.data.blocks || []).slice().sort((a, b) => a.minTime - b.minTime);
    if (!bs.length) { blocks.body.replaceChildren(el('p', { class: 'muted', id: 'no-blocks' }, 'no blocks yet: every sample is still in the head')); return; }
    const tot = bs.reduce((t, b) => ({ s: t.s + (b.stats?.numSamples || 0), z: t.z + (b.sizeBytes || 0) }), { s: 0, z: 0 });
    blocks.body.replaceChildren(el('table', { id: 'blocks-table', class: 'sb-table' },
      el('thead', {}, el('tr', {}, ['ULID', 'Shard', 'Min time', 'Max time', 'Span', 'Level', 'Series', 'Samples', 'Chunks', 'Size', 'Bytes/sample'].map((h) => el('th', {}, h)))),
      el('tbody', {}, bs.map((b) => {
        const s = b.stats || {};
        return el('tr', {}, el('td', { class: 'mono' }, b.ulid), el('td', { class: 'num' }, b.shard ?? ''), el('td', {}, formatTime(b.minTime)), el('td', {}, formatTime(b.maxTime)),
          el('td', {}, formatDuration((b.maxTime - b.minTime) / 1000)), el('td', { class: 'num' }, b.compaction?.level ?? ''),
          el('td', { class: 'num' }, (s.numSeries || 0).toLocaleString()), el('td', { class: 'num' }, (s.numSamples || 0).toLocaleString()),
          el('td', { class: 'num' }, (s.numChunks || 0).toLocaleString()),
          el('td', { class: 'num' }, b.sizeBytes !== undefined ? formatValue(b.sizeBytes, 'bin') + 'B' : '—'),
          el('td', { class: 'num' }, b.sizeBytes !== undefined && s.numSamples ? (b.sizeBytes / s.numSamples).toFixed(2) : '—'));
      })),
      el('tfoot', {}, el('tr', {}, el('td', { colspan: 7 }, `${bs.length} blocks`), el('td', { class: 'num' }, tot.s.toLocaleString()), el('td', {}),
        el('td', { class: 'num' }, tot.z ? formatValue(tot.z, 'bin') + 'B' : '—'), el('td', { class: 'num' }, tot.z && tot.s ? (tot.z / tot.s).toFixed(2) : '—')))));
  }).catch(fail(blocks));

  metricsP.then((ms) => {
    // Per family: the sum, and each series when there are only a few
    // (the ingest counters by protocol, rejects by reason).
    const fams = new Map();
    for (const m of ms) {
      if (!m.name.startsWith('tsdb_') || /_bucket$/.test(m.name)) continue;
      if (!fams.has(m.name)) fams.set(m.name, []);
      fams.get(m.name).push(m);
    }
    const secs = counterSections.map(([title, re]) => {
      const names = [...fams.keys()].filter((n) => re.test(n)).sort();
      if (!names.length) return null;
      const rows = [];
      for (const n of names) {
        const xs = fams.get(n);
        rows.push([n, xs.reduce((a, m) => a + m.value, 0).toLocaleString()]);
        if (xs.length > 1 && xs.length <= 12) {
          for (const m of xs) if (m.value) rows.push([el('span', { class: 'sub' }, m.labels), m.value.toLocaleString()]);
        }
      }
      return el('div', { class: 'counter-group' }, el('h4', {}, title), kv('', rows));
    }).filter(Boolean);
    counters.body.replaceChildren(el('div', { id: 'counters-list', class: 'counter-groups' }, secs.length ? secs : el('p', { class: 'muted' }, 'no tsdb_* metrics on /metrics')));
  }).catch(fail(counters));

  api('status/flags', {}, opts).then((r) => {
    const f = el('input', { type: 'search', placeholder: 'filter flags', id: 'filter-flags' });
    const tbl = el('div');
    const draw = () => tbl.replaceChildren(kv('flags-table', Object.entries(r.data).filter(([k]) => k.includes(f.value)).sort()));
    f.addEventListener('input', draw);
    draw();
    flags.body.replaceChildren(f, tbl);
  }).catch(fail(flags));

  return () => ctl.abort();
}
