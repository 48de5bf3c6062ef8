/**
 * The dashboard's browser script, as text: it polls `/stats` and redraws three SVG line charts.
 * Plain ES2020 with no imports, because the page loads nothing from outside the Worker (its CSP
 * allows only this inline script, by nonce, and fetches to the same origin).
 */
export const clientScript = `
const HISTORY = 120;
const every = Math.max(250, Number(new URLSearchParams(location.search).get('every')) || 1000);
const samples = [];
let previous;

const charts = {
  hits: { series: [['l1', '#2b8a3e'], ['l2', '#1971c2'], ['l3', '#c92a2a']], unit: 'hits/s' },
  latency: { series: [['l2 p50', '#74c0fc'], ['l2 p99', '#1971c2'], ['l3 p50', '#ffa8a8'], ['l3 p99', '#c92a2a']], unit: 'ms' },
  queue: { series: [['depth', '#5f3dc4']], unit: 'writes' },
};

function point(stats, seconds) {
  const rate = (tier) => previous ? Math.max(0, stats.hits[tier] - previous.hits[tier]) / seconds : 0;
  return {
    hits: [rate('l1'), rate('l2'), rate('l3')],
    latency: [stats.latency.l2.p50Ms, stats.latency.l2.p99Ms, stats.latency.l3.p50Ms, stats.latency.l3.p99Ms],
    queue: [stats.queueDepth ?? 0],
  };
}

function draw(name) {
  const svg = document.getElementById('chart-' + name);
  const { series, unit } = charts[name];
  const width = 600, height = 180, pad = 30;
  const values = samples.flatMap((s) => s[name]);
  const max = Math.max(1, ...values);
  const x = (i) => pad + (i * (width - 2 * pad)) / Math.max(1, HISTORY - 1);
  const y = (v) => height - pad - (v / max) * (height - 2 * pad);
  const lines = series.map(([label, color], k) => {
    const pts = samples.map((s, i) => x(i).toFixed(1) + ',' + y(s[name][k]).toFixed(1)).join(' ');
    return '<polyline class="series" data-series="' + label + '" fill="none" stroke="' + color +
      '" stroke-width="2" points="' + pts + '"/>';
  });
  svg.innerHTML =
    '<line x1="' + pad + '" y1="' + (height - pad) + '" x2="' + (width - pad) + '" y2="' + (height - pad) + '" stroke="#999"/>' +
    '<text x="2" y="' + (pad - 8) + '" font-size="11">' + max.toFixed(max < 10 ? 2 : 0) + ' ' + unit + '</text>' +
    lines.join('') +
    series.map(([label, color], k) => '<text x="' + (pad + k * 110) + '" y="' + (height - 6) + '" font-size="11" fill="' + color + '">' + label + '</text>').join('');
  svg.dataset.points = String(samples.length);
}

function show(stats) {
  const set = (id, value) => { document.getElementById(id).textContent = String(value); };
  for (const tier of ['l1', 'l2', 'l3']) set('hits-' + tier, stats.hits[tier]);
  set('misses-l3', stats.misses.l3);
  set('queue-depth', stats.queueDepth ?? 'n/a');
  set('l2-p99', stats.latency.l2.p99Ms);
  set('l3-p99', stats.latency.l3.p99Ms);
  set('errors', stats.errors);
  set('updated', new Date().toISOString());
}

async function tick() {
  try {
    const res = await fetch('stats', { headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error('GET /stats answered ' + res.status);
    const stats = await res.json();
    samples.push(point(stats, every / 1000));
    if (samples.length > HISTORY) samples.shift();
    previous = stats;
    show(stats);
    for (const name of Object.keys(charts)) draw(name);
    document.getElementById('status').textContent = 'live';
  } catch (err) {
    document.getElementById('status').textContent = 'error: ' + err.message;
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
