/**
 * The dashboard's browser script, as text: it polls `/stats` and plots four live uPlot charts (hit
 * ratio, latency, queue depth, change relay lag) on a time axis. Plain ES2020 with no imports: uPlot is the global the
 * page's nonce-tagged `/dashboard/uplot-*.min.js` defines, and the CSP allows fetches to this origin
 * only. (No backtick or dollar-brace below: this is a template literal.)
 */
export const clientScript = `
const WINDOW_S = 120;   // seconds of history on screen, at most
const MIN_SPAN_S = 15;  // the x axis spans at least this much while the history is shorter
const RATIO_S = 10;     // the hit ratio is over this many seconds
const HEIGHT = 240;
const every = Math.max(250, Number(new URLSearchParams(location.search).get('every')) || 1000);
const samples = [];     // { t, stats }, newest last, kept for WINDOW_S + RATIO_S

const fixed = (digits, unit) => (v) => v == null ? '–' : v.toFixed(digits) + ' ' + unit;
const ms = (v) => v == null ? '–' : (v < 10 ? v.toFixed(1) : v.toFixed(0)) + ' ms';
const tickLabel = (unit) => (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)) + (unit ? ' ' + unit : '');
const clock = uPlot.fmtDate('{HH}:{mm}:{ss}');

const specs = {
  hits: {
    label: 'hit ratio (%)', format: tickLabel('%'), legend: fixed(1, '%'),
    range: () => [0, 100],
    series: [
      { label: 'L1', color: '#2f9e44' },
      { label: 'L2', color: '#1971c2' },
      { label: 'L3', color: '#e8590c' },
    ],
    point: (s) => ['l1', 'l2', 'l3'].map((tier) => hitRatio(tier, s)),
  },
  latency: {
    label: 'latency (ms)', format: tickLabel('ms'), legend: ms,
    range: (u, min, max) => [0, Math.max(1, (max || 0) * 1.15)],
    series: [
      { label: 'L2 p50', color: '#74c0fc', dash: [6, 4] },
      { label: 'L2 p99', color: '#1971c2' },
      { label: 'L3 p50', color: '#ffa94d', dash: [6, 4] },
      { label: 'L3 p99', color: '#e8590c' },
    ],
    point: (s) => {
      const at = (tier, key) => s.latency[tier].calls > 0 ? s.latency[tier][key] : null;
      return [at('l2', 'p50Ms'), at('l2', 'p99Ms'), at('l3', 'p50Ms'), at('l3', 'p99Ms')];
    },
  },
  queue: {
    label: 'queued writes', format: tickLabel(''), legend: fixed(0, 'writes'),
    range: (u, min, max) => [0, Math.max(5, Math.ceil((max || 0) * 1.2))],
    incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000],
    series: [{ label: 'queued writes', color: '#7048e8', fill: 'rgba(112, 72, 232, 0.12)' }],
    point: (s) => [s.queueDepth],
  },
  relay: {
    label: 'relay lag (ms)', format: tickLabel('ms'), legend: ms,
    range: (u, min, max) => [0, Math.max(1000, (max || 0) * 1.15)],
    series: [{ label: 'since the log was last read', color: '#0c8599', fill: 'rgba(12, 133, 153, 0.12)' }],
    point: (s) => [relayLag(s)],
  },
};

/** How long ago the change log was last read by any isolate (ms); null with no relay or no read yet. */
function relayLag(stats) {
  const relay = stats.capture && stats.capture.relay;
  return relay && relay.lagMs >= 0 ? relay.lagMs : null;
}

/** The share of lookups reaching a tier that it answered over the last RATIO_S, in %; null without any. */
function hitRatio(tier, stats) {
  const now = samples[samples.length - 1].t;
  const base = samples.find((s) => s.t >= now - RATIO_S && s.stats !== stats);
  if (!base) return null;
  const hits = stats.hits[tier] - base.stats.hits[tier];
  const lookups = hits + stats.misses[tier] - base.stats.misses[tier];
  return lookups > 0 ? (100 * hits) / lookups : null;
}

/** The x axis' span: the history so far (times in seconds), from MIN_SPAN_S up to WINDOW_S. */
function span(times) {
  const history = times.length > 0 ? times[times.length - 1] - times[0] : 0;
  return Math.min(WINDOW_S, Math.max(MIN_SPAN_S, history));
}

function makeChart(name) {
  const spec = specs[name];
  const el = document.getElementById('chart-' + name);
  const data = [[], ...spec.series.map(() => [])];
  const options = {
    width: el.clientWidth,
    height: HEIGHT,
    scales: { x: { time: true, range: (u, min, max) => [max - span(data[0]), max] }, y: { range: spec.range } },
    axes: [
      {
        label: 'local time', labelSize: 16, labelGap: 0, size: 34, stroke: '#5f6b7a', grid: { stroke: '#eef1f5' }, ticks: { stroke: '#dfe3e8' },
        values: (u, splits) => splits.map((t) => clock(new Date(t * 1000))),
      },
      {
        label: spec.label, labelSize: 20, size: 64, stroke: '#5f6b7a',
        grid: { stroke: '#eef1f5' }, ticks: { stroke: '#dfe3e8' },
        values: (u, splits) => splits.map(spec.format),
        ...(spec.incrs ? { incrs: spec.incrs } : {}),
      },
    ],
    series: [
      { label: 'time', value: '{HH}:{mm}:{ss}' },
      ...spec.series.map((s) => ({
        label: s.label, stroke: s.color, width: 2, dash: s.dash, fill: s.fill,
        value: (u, v) => spec.legend(v),
      })),
    ],
    legend: { live: true },
  };
  const chart = new uPlot(options, data, el);
  new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height: HEIGHT })).observe(el);
  return { chart, data, el };
}

const charts = Object.fromEntries(Object.keys(specs).map((name) => [name, makeChart(name)]));
// For the browser test and the console: the uPlot instances.
window.strataDashboard = { charts: Object.fromEntries(Object.entries(charts).map(([k, c]) => [k, c.chart])) };

function plot(t, stats) {
  for (const [name, { chart, data, el }] of Object.entries(charts)) {
    const values = specs[name].point(stats);
    data[0].push(t);
    values.forEach((v, i) => data[i + 1].push(v));
    while (data[0][0] < t - WINDOW_S) for (const column of data) column.shift();
    chart.setData(data);
    // Unless the pointer is on the chart, the legend shows the latest values.
    if (chart.cursor.left == null || chart.cursor.left < 0) chart.setLegend({ idx: data[0].length - 1 });
    el.dataset.points = String(data[0].length);
  }
}

function show(stats) {
  const set = (id, value) => { document.getElementById(id).textContent = String(value); };
  for (const tier of ['l1', 'l2', 'l3']) set('hits-' + tier, stats.hits[tier]);
  set('misses-l3', stats.misses.l3);
  const cached = stats.hits.l1 + stats.hits.l2;
  set('hit-ratio', stats.gets > 0 ? ((100 * cached) / stats.gets).toFixed(1) + ' %' : '–');
  set('stale-hits', stats.staleHits);
  set('refreshes', stats.refreshesLeased > 0 ? stats.refreshes + ' (' + stats.refreshesLeased + ' leased elsewhere)' : stats.refreshes);
  set('grace-hits', stats.graceHits);
  set('tag-invalidations', stats.tagInvalidations);
  set('queue-depth', stats.queueDepth ?? 'n/a');
  set('l2-p99', ms(stats.latency.l2.calls > 0 ? stats.latency.l2.p99Ms : null));
  set('l3-p99', ms(stats.latency.l3.calls > 0 ? stats.latency.l3.p99Ms : null));
  const lag = relayLag(stats);
  set('relay-lag', lag == null ? 'n/a' : ms(lag));
  set('outside-changes', stats.capture ? stats.capture.changesApplied : 'n/a');
  set('errors', stats.errors);
  set('server-errors', stats.responses.serverErrors);
  set('client-errors', stats.responses.clientErrors);
  document.getElementById('errors-box').classList.toggle('bad', stats.errors > 0);
  document.getElementById('server-errors-box').classList.toggle('bad', stats.responses.serverErrors > 0);
  set('updated', new Date().toLocaleTimeString());
}

async function tick() {
  const status = document.getElementById('status');
  try {
    const res = await fetch('stats', { headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error('GET /stats answered ' + res.status);
    const stats = await res.json();
    const t = Date.now() / 1000;
    samples.push({ t, stats });
    while (samples[0].t < t - WINDOW_S - RATIO_S) samples.shift();
    plot(t, stats);
    show(stats);
    status.textContent = 'live';
    status.classList.remove('down');
  } catch (err) {
    status.textContent = 'error: ' + err.message;
    status.classList.add('down');
  } finally {
    setTimeout(tick, every);
  }
}

document.getElementById('traffic').addEventListener('click', async () => {
  const ids = ['seed-ada', 'seed-grace', 'seed-linus', 'nobody-' + Date.now()];
  await Promise.all(Array.from({ length: 40 }, (_, i) => fetch('players/' + ids[i % ids.length])));
  await fetch('leaderboard');
});
tick();
`;
