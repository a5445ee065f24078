/**
 * GET /dashboard. The page holds no data: the operator pastes a token (kept
 * in sessionStorage) and the client reads the admin API with it, so the page
 * needs no authentication and leaks nothing. Charts are uPlot (MIT, ~51 KB
 * minified, ~23 KB gzipped: small, no dependencies, made for time series);
 * the page's own script and styles are ~20 KB more. Assets are bundled into
 * the Worker as text and served under content-hashed names with a year's
 * immutable caching (`assets.ts`); the page itself is `no-store`.
 */
import { dashboardAssets, type DashboardAssets } from "./assets";

const bundledPages = new Map<boolean, string>();

/**
 * The page for the assets bundled into this Worker, rendered once per
 * isolate. `signIn`: Cloudflare Access or OIDC is configured, so the page
 * first asks who the visitor is before offering the token form.
 */
export function dashboardHtml(signIn = false): string {
  let page = bundledPages.get(signIn);
  if (page === undefined) bundledPages.set(signIn, (page = renderDashboardHtml(dashboardAssets(), signIn)));
  return page;
}

/** The page, naming each asset by its content-hashed name. */
export const renderDashboardHtml = (assets: DashboardAssets, signIn = false): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rampart</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/assets/${assets.uplotCss.name}">
<link rel="stylesheet" href="/dashboard/assets/${assets.dashboardCss.name}">
</head>
<body${signIn ? ' data-sign-in="identity"' : ""}>
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
<script src="/dashboard/assets/${assets.uplotJs.name}"></script>
<script src="/dashboard/assets/${assets.dashboardJs.name}"></script>
</body>
</html>`;
