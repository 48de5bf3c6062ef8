/// <reference path="./text-modules.d.ts" />
// uPlot's browser build and stylesheet, as text: the root wrangler.toml's [[rules]] make these two
// files Text modules, so the Worker serves them itself and the page loads nothing from elsewhere.

import uplotJs from 'uplot/dist/uPlot.iife.min.js';
import uplotCss from 'uplot/dist/uPlot.min.css';
import uplotPackage from 'uplot/package.json';

/** One file the dashboard loads from the Worker. */
interface DashboardAsset {
  readonly body: string;
  readonly contentType: string;
}

/** The version is in each name, so a browser may keep the file for a year: a new uPlot is a new URL. */
export const UPLOT_SCRIPT = `uplot-${uplotPackage.version}.min.js`;
export const UPLOT_STYLE = `uplot-${uplotPackage.version}.min.css`;

/** The files under /dashboard/, by name. */
export const dashboardAssets: ReadonlyMap<string, DashboardAsset> = new Map([
  [UPLOT_SCRIPT, { body: uplotJs, contentType: 'text/javascript; charset=utf-8' }],
  [UPLOT_STYLE, { body: uplotCss, contentType: 'text/css; charset=utf-8' }],
]);
