import { clientScript } from './client-script.js';

const style = `
body { font: 14px system-ui, sans-serif; margin: 24px; color: #212529; }
h1 { font-size: 20px; margin: 0 0 4px; }
.readouts { display: flex; gap: 16px; flex-wrap: wrap; margin: 12px 0; }
.readouts div { background: #f1f3f5; padding: 8px 12px; border-radius: 6px; }
.readouts b { display: block; font-size: 18px; }
section { margin: 16px 0; }
svg { width: 600px; height: 180px; background: #fcfcfd; border: 1px solid #dee2e6; }
`;

/**
 * The `/dashboard` page for one request: inline CSS and script carry `nonce`, which the response's
 * Content-Security-Policy names, so nothing else can run or load on the page.
 */
export function dashboardPage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Strata demo — dashboard</title>
<style nonce="${nonce}">${style}</style>
</head>
<body>
<h1>Strata demo — this isolate's cache</h1>
<p>Polls <a href="stats">/stats</a>. Status: <span id="status">starting</span>, updated <span id="updated">-</span>.
<button id="traffic" type="button">Send 40 reads</button></p>
<div class="readouts">
  <div>L1 hits<b id="hits-l1">-</b></div><div>L2 hits<b id="hits-l2">-</b></div>
  <div>L3 hits<b id="hits-l3">-</b></div><div>L3 misses<b id="misses-l3">-</b></div>
  <div>L2 p99 ms<b id="l2-p99">-</b></div><div>L3 p99 ms<b id="l3-p99">-</b></div>
  <div>Queue depth<b id="queue-depth">-</b></div><div>Errors<b id="errors">-</b></div>
</div>
<section><h2>Hits per tier (per second)</h2><svg id="chart-hits" viewBox="0 0 600 180" role="img" aria-label="hits per tier"></svg></section>
<section><h2>Latency of remote calls</h2><svg id="chart-latency" viewBox="0 0 600 180" role="img" aria-label="latency"></svg></section>
<section><h2>Write-behind queue depth</h2><svg id="chart-queue" viewBox="0 0 600 180" role="img" aria-label="queue depth"></svg></section>
<script nonce="${nonce}">${clientScript}</script>
</body>
</html>`;
}

/** The policy sent with the page: only its own nonce-tagged script and style, fetches to itself. */
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
