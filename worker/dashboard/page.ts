/**
 * GET /dashboard and its assets. The page holds no data: the operator pastes
 * a token (kept in sessionStorage) and the client reads the admin API with
 * it, so the page needs no authentication and leaks nothing. Charts are
 * uPlot (MIT, ~51 KB minified, ~23 KB gzipped: small, no dependencies, made
 * for time series); the page's own script and styles are ~20 KB more.
 * Assets are bundled into the Worker as text and served under versioned
 * names with a year's immutable caching; the page itself is `no-store`.
 */
import uplotCss from "uplot/dist/uPlot.min.css";
import uplotJs from "uplot/dist/uPlot.iife.min.js";
import dashboardCss from "./assets/dashboard.css";
import dashboardJs from "./assets/dashboard.client.js";
import { RAMPART_VERSION } from "../version";

/** uPlot's version, from package.json (its files carry none a browser cache could key on). */
const UPLOT_VERSION = "1.6.32";

export interface DashboardAsset {
  body: string;
  type: string;
}

/** Path under /dashboard/assets/ → file. Names carry versions, so a cached copy is never stale. */
export const DASHBOARD_ASSETS: ReadonlyMap<string, DashboardAsset> = new Map([
  [`uplot-${UPLOT_VERSION}.js`, { body: uplotJs, type: "text/javascript; charset=utf-8" }],
  [`uplot-${UPLOT_VERSION}.css`, { body: uplotCss, type: "text/css; charset=utf-8" }],
  [`dashboard-${RAMPART_VERSION}.js`, { body: dashboardJs, type: "text/javascript; charset=utf-8" }],
  [`dashboard-${RAMPART_VERSION}.css`, { body: dashboardCss, type: "text/css; charset=utf-8" }],
]);

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rampart</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/assets/uplot-${UPLOT_VERSION}.css">
<link rel="stylesheet" href="/dashboard/assets/dashboard-${RAMPART_VERSION}.css">
</head>
<body>
<header>
  <h1><a href="#">Rampart</a> — rollouts</h1>
  <span id="role" class="muted"></span>
  <button id="logout" type="button" hidden>Forget token</button>
</header>
<form id="login"><input id="token" type="password" placeholder="admin or read-only token" autocomplete="off" aria-label="token"><button>Show</button></form>
<p id="error" role="alert"></p>
<main id="main"></main>
<p class="muted" id="updated"></p>
<dialog id="confirm">
  <form id="confirm-form" method="dialog">
    <p><b id="confirm-title"></b></p>
    <label>Reason (goes into the decision log)<textarea id="confirm-reason"></textarea></label>
    <div class="buttons"><button type="button" id="confirm-cancel">Cancel</button><button id="confirm-ok" class="danger">Confirm</button></div>
  </form>
</dialog>
<script src="/dashboard/assets/uplot-${UPLOT_VERSION}.js"></script>
<script src="/dashboard/assets/dashboard-${RAMPART_VERSION}.js"></script>
</body>
</html>`;
