/**
 * GET /dashboard: one static page. It holds no data: the operator pastes a
 * token (kept in sessionStorage) and the page reads the admin API with it,
 * so the page itself needs no authentication and leaks nothing.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rampart</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #1d1d1f; }
  h1 { font-size: 1.3rem; } table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
  th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e5e5e5; vertical-align: top; }
  th { font-weight: 600; color: #555; } .status { font-weight: 600; }
  .killed, .rolled_back { color: #b3261e; } .completed { color: #1b6e3a; } .ramping, .shadow { color: #0b57d0; } .paused { color: #8a6d00; }
  .muted { color: #777; } #error { color: #b3261e; } input { width: 22rem; } button { margin-left: .4rem; }
  td:nth-child(3) { white-space: nowrap; }
  .bar { background: #e8eefc; height: .6rem; width: 8rem; display: inline-block; position: relative; vertical-align: middle; }
  .bar span { background: #0b57d0; position: absolute; left: 0; top: 0; bottom: 0; }
</style>
</head>
<body>
<h1>Rampart — rollouts</h1>
<form id="login"><input id="token" type="password" placeholder="admin or read-only token" autocomplete="off"><button>Show</button></form>
<p id="error" role="alert"></p>
<table id="flags" hidden>
  <thead><tr><th>flag</th><th>status</th><th>weight</th><th>generation</th><th>last decision</th></tr></thead>
  <tbody></tbody>
</table>
<p class="muted" id="updated"></p>
<script>
const $ = (s) => document.querySelector(s);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
async function api(path) {
  const r = await fetch(path, { headers: { authorization: "Bearer " + sessionStorage.getItem("rampart-token") } });
  if (!r.ok) throw new Error(r.status === 401 ? "That token is not accepted." : "The admin API answered " + r.status + ".");
  return r.json();
}
async function refresh() {
  try {
    const { flags } = await api("/admin/flags");
    const rows = await Promise.all(flags.map(async (f) => {
      const { decisions } = await api("/admin/flags/" + encodeURIComponent(f.key) + "/decisions?limit=1");
      const d = decisions[0];
      const last = d ? esc(d.action) + " <span class=muted>" + esc(new Date(d.at).toLocaleString()) + (d.reason ? " — " + esc(d.reason) : "") + "</span>" : "";
      return "<tr><td>" + esc(f.key) + (f.description ? "<br><span class=muted>" + esc(f.description) + "</span>" : "") + "</td>" +
        "<td class='status " + esc(f.status) + "'>" + esc(f.status) + (f.forced ? " (forced " + esc(f.forced) + ")" : "") + "</td>" +
        "<td><span class=bar><span style='width:" + Number(f.weight) + "%'></span></span> " + Number(f.weight) + "%</td>" +
        "<td>" + Number(f.generation) + "</td><td>" + last + "</td></tr>";
    }));
    $("#flags tbody").innerHTML = rows.join("");
    $("#flags").hidden = false;
    $("#error").textContent = "";
    $("#updated").textContent = flags.length + " flags, updated " + new Date().toLocaleTimeString();
  } catch (e) {
    $("#error").textContent = e.message;
  }
}
$("#login").addEventListener("submit", (e) => { e.preventDefault(); sessionStorage.setItem("rampart-token", $("#token").value); refresh(); });
if (sessionStorage.getItem("rampart-token")) refresh();
setInterval(() => { if (sessionStorage.getItem("rampart-token")) refresh(); }, 10000);
</script>
</body>
</html>`;
