import { UPLOT_SCRIPT, UPLOT_STYLE } from './assets.js';
import { clientScript } from './client-script.js';

const style = `
:root { color-scheme: light; --ink: #1f2933; --muted: #5f6b7a; --line: #e3e8ef; --card: #fff; --bg: #f5f7fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; padding: 20px 24px 32px; color: var(--ink); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 20px; margin-bottom: 16px; }
h1 { font-size: 20px; margin: 0; }
header p { margin: 0; color: var(--muted); }
#status { font-weight: 600; color: #2b8a3e; }
#status.down { color: #c92a2a; }
button { font: inherit; padding: 6px 14px; border-radius: 6px; border: 1px solid #1971c2; background: #1971c2; color: #fff; cursor: pointer; }
button:hover { background: #1864ab; }
.readouts { display: flex; flex-wrap: wrap; gap: 8px; margin: 0 0 18px; }
.readouts div { flex: 1 0 auto; min-width: 88px; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 7px 12px; color: var(--muted); font-size: 12px; white-space: nowrap; }
.readouts b { display: block; font-size: 19px; color: var(--ink); font-variant-numeric: tabular-nums; }
.readouts .bad b { color: #c92a2a; }
.charts { display: grid; grid-template-columns: 1fr; gap: 16px; }
@media (min-width: 960px) { .charts { grid-template-columns: 1fr 1fr; } }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 14px 8px; min-width: 0; }
h2 { font-size: 15px; margin: 0; }
section p { margin: 2px 0 8px; color: var(--muted); font-size: 12px; }
.chart { width: 100%; }
.chart .uplot { width: 100%; }
.u-legend { font-size: 12px; }
`;

/**
 * The `/dashboard` page for one request: its stylesheets and scripts carry `nonce`, which the
 * response's Content-Security-Policy names, so nothing else can run or load on the page. uPlot's
 * files come from this Worker (`/dashboard/uplot-*`), not from elsewhere.
 */
export function dashboardPage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Strata demo — dashboard</title>
<link rel="stylesheet" href="dashboard/${UPLOT_STYLE}" nonce="${nonce}">
<style nonce="${nonce}">${style}</style>
</head>
<body>
<header>
<h1>Strata demo — this isolate's cache</h1>
<p>Polls <a href="stats">/stats</a>: <span id="status">starting</span>, updated <span id="updated">-</span></p>
<button id="traffic" type="button">Send 40 reads</button>
</header>
<div class="readouts">
  <div>L1 hits<b id="hits-l1">-</b></div><div>L2 hits<b id="hits-l2">-</b></div>
  <div>L3 hits<b id="hits-l3">-</b></div><div>L3 misses<b id="misses-l3">-</b></div>
  <div>Cache hit ratio<b id="hit-ratio">-</b></div>
  <div title="Reads answered past the row's TTL at once, refreshed in the background (the schema's stale window)">Stale serves<b id="stale-hits">-</b></div>
  <div title="Background refreshes this isolate started (and those another instance's lease took)">Refreshes<b id="refreshes">-</b></div>
  <div title="Reads answered from the last copy while Postgres failed (the schema's grace window)">Grace serves<b id="grace-hits">-</b></div>
  <div title="Tags invalidated (invalidateTags): each drops every cached search list with it">Tag invalidations<b id="tag-invalidations">-</b></div>
  <div>L2 p99<b id="l2-p99">-</b></div><div>L3 p99<b id="l3-p99">-</b></div>
  <div>Queue depth<b id="queue-depth">-</b></div>
  <div title="Since any isolate last read the change log (writes made outside the demo)">Relay lag<b id="relay-lag">-</b></div>
  <div title="Captured changes (writes made outside the demo) this isolate applied">Outside changes<b id="outside-changes">-</b></div>
  <div id="errors-box">Tier errors<b id="errors">-</b></div>
  <div id="server-errors-box">5xx responses<b id="server-errors">-</b></div>
  <div title="Refused input, missing rows, taken ids: the client's to fix, not errors">4xx (client)<b id="client-errors">-</b></div>
</div>
<div class="charts">
<section><h2>Hit ratio per tier</h2><p>Share of the lookups reaching each tier that it answered, over the last 10 s</p><div id="chart-hits" class="chart"></div></section>
<section><h2>Latency of remote calls</h2><p>p50 and p99 over each tier's latest 1,024 calls</p><div id="chart-latency" class="chart"></div></section>
<section><h2>Write-behind queue depth</h2><p>Score writes on the queue, not yet in Postgres</p><div id="chart-queue" class="chart"></div></section>
<section><h2>Change relay lag</h2><p>Since the change log was last read: writes made outside the demo (psql) are served after at most this, plus one request</p><div id="chart-relay" class="chart"></div></section>
</div>
<script src="dashboard/${UPLOT_SCRIPT}" nonce="${nonce}"></script>
<script nonce="${nonce}">${clientScript}</script>
</body>
</html>`;
}

/** The policy sent with the page: only its own nonce-tagged scripts and styles, fetches to itself. */
export function dashboardCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
