// Rampart's dashboard: a page that reads the admin API with the operator's
// token (kept in sessionStorage, sent as a bearer header, never in a URL).
// Everything that comes from a spec or a log is put in the page as text
// (textContent), never as markup. Charts are uPlot (window.uPlot).
"use strict";

const $ = (selector) => document.querySelector(selector);
const TOKEN_KEY = "rampart-token";
const ACTIONS = [
  { action: "promote", label: "Promote", danger: false },
  { action: "rollback", label: "Roll back", danger: true },
  { action: "pause", label: "Pause", danger: false },
  { action: "resume", label: "Resume", danger: false },
  { action: "kill", label: "Kill", danger: true },
  { action: "unkill", label: "Unkill", danger: false },
  { action: "force", label: "Force baseline", variant: "baseline", danger: true },
  { action: "force", label: "Force candidate", variant: "candidate", danger: true },
  { action: "unforce", label: "Unforce", danger: false },
  // Releases a sample-ratio-mismatch hold; the API refuses it without a reason.
  { action: "clear_srm", label: "Clear SRM hold", danger: true },
  // Approvals name the generation and stage they cover: the ones on screen.
  { action: "approve", label: "Approve stage", danger: false, approval: "approve" },
  { action: "reject", label: "Reject stage", danger: true, approval: "reject" },
];
const ARM_COLOURS = { baseline: "#5f6368", candidate: "#0b57d0" };
const state = { role: null, permissions: new Set(), prefixed: [], charts: [], timer: null };

/** Whether the signed-in identity holds a permission on a flag: everywhere, or by a grant on a prefix of its key. */
function may(permission, key) {
  return state.permissions.has(permission) || state.prefixed.some((g) => g.permissions.includes(permission) && g.prefixes.some((p) => key.startsWith(p.slice(0, -1))));
}

/** Builds an element; strings become text nodes, so nothing is ever parsed as HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "className") el.className = value;
    // Through the CSSOM: the page's CSP refuses style attributes parsed from markup.
    else if (name === "style") el.style.cssText = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? `${status} ${body.error}: ${body.message}` : `the admin API answered ${status}`);
    this.status = status;
  }
}

async function api(path, init = {}) {
  const response = await fetch(path, {
    ...init,
    // With a pasted token, it is the credential; behind Cloudflare Access there is none to paste: Access adds its signed identity to every request.
    headers: { ...(sessionStorage.getItem(TOKEN_KEY) ? { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`, "x-rampart-actor": "dashboard" } : {}), ...(init.body ? { "content-type": "application/json" } : {}) },
  });
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

const when = (ms) => new Date(ms).toLocaleString();
const pct = (x) => (x === null || x === undefined ? "n/a" : `${x >= 0 ? "+" : ""}${(x * 100).toFixed(2)}%`);
const level = (x) => (x === null || x === undefined ? "n/a" : Number(x).toPrecision(4));
const shownDelta = (gate, x) => (gate.compare === "relative" || gate.compare === "absolute" ? pct(x) : level(x));

function showError(message) {
  $("#error").textContent = message;
}

function disposeCharts() {
  for (const chart of state.charts) chart.destroy();
  state.charts = [];
}

function chartWidth(container) {
  return Math.max(240, Math.min(container.clientWidth || 600, 900));
}

/** One uPlot chart in `container`; series: [{ label, values, colour, dash, fill }]. */
function lineChart(container, title, xs, series, options = {}) {
  const width = chartWidth(container);
  const chart = new window.uPlot(
    {
      title,
      width,
      height: options.height ?? 180,
      legend: { show: options.legend !== false },
      cursor: { show: options.cursor !== false },
      axes: options.axes === false ? [{ show: false }, { show: false }] : [{}, { size: 60, values: options.format ? (u, ticks) => ticks.map(options.format) : undefined }],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.colour, dash: s.dash, width: s.width ?? 1.5, fill: s.fill, spanGaps: false, points: { show: false } }))],
    },
    [xs, ...series.map((s) => s.values)],
    container,
  );
  state.charts.push(chart);
  return chart;
}

// ---------- the flag list ----------

async function renderList() {
  disposeCharts();
  const main = $("#main");
  const { flags } = await api("/admin/flags");
  const table = h("table", { className: "flags", "aria-label": "flags" },
    h("thead", null, h("tr", null, ["flag", "status", "stage", "health", "exposures (1 h)"].map((t) => h("th", null, t)))),
    h("tbody"));
  const body = table.querySelector("tbody");
  for (const flag of flags) {
    const spark = h("div", { className: "spark" });
    const health = flag.judgement ? h("span", { className: `health ${healthClass(flag)}`, title: flag.judgement.reason }, flag.judgement.action, ": ", flag.judgement.reason) : h("span", { className: "muted" }, healthText(flag));
    body.append(h("tr", { "data-flag": flag.key },
      h("td", { "data-label": "flag" }, h("a", { href: `#flag=${encodeURIComponent(flag.key)}` }, flag.key), flag.description ? h("div", { className: "muted" }, flag.description) : null),
      h("td", { "data-label": "status", className: `status ${flag.status}` }, flag.status, flag.forced ? ` (forced ${flag.forced})` : "", flag.kind && flag.kind !== "rollout" ? h("div", { className: "muted" }, flag.kind.replace("_", " ")) : null),
      h("td", { "data-label": "stage" }, h("span", { className: "bar" }, h("span", { style: `width:${Number(flag.weight)}%` })), ` ${Number(flag.weight)}% · stage ${Number(flag.stage)} · gen ${Number(flag.generation)}`),
      h("td", { "data-label": "health" }, health),
      h("td", { "data-label": "exposures" }, spark)));
  }
  main.replaceChildren(h("h2", null, `${flags.length} flags`), table);
  $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  // Sparklines after the table is on the page (they need its width); one series read per flag.
  await Promise.all(flags.slice(0, 50).map(async (flag) => {
    const series = await api(`/admin/flags/${encodeURIComponent(flag.key)}/series?points=30`).catch(() => null);
    const cell = body.querySelector(`tr[data-flag="${CSS.escape(flag.key)}"] .spark`);
    if (!series || !cell) return;
    const xs = series.points.map((p) => p.t / 1000);
    const chart = new window.uPlot({ width: 120, height: 28, legend: { show: false }, cursor: { show: false }, axes: [{ show: false }, { show: false }], scales: { x: { time: false } },
      series: [{}, { stroke: ARM_COLOURS.baseline, points: { show: false } }, { stroke: ARM_COLOURS.candidate, points: { show: false } }] },
      [xs, series.points.map((p) => p.exposures.baseline), series.points.map((p) => p.exposures.candidate)], cell);
    state.charts.push(chart);
    cell.setAttribute("aria-label", `exposures in the last hour: baseline ${sum(series.points, "baseline")}, candidate ${sum(series.points, "candidate")}`);
  }));
}

const sum = (points, arm) => points.reduce((n, p) => n + p.exposures[arm], 0);

function healthClass(flag) {
  if (["killed", "rolled_back"].includes(flag.status)) return "bad";
  const rule = flag.judgement?.rule ?? "";
  if (rule.startsWith("abort") || rule.endsWith(":rollback") || rule === "srm" || rule.endsWith(":warn")) return "bad";
  return flag.judgement?.action === "hold" ? "waiting" : "good";
}

function healthText(flag) {
  if (flag.status === "completed") return "completed";
  if (["killed", "rolled_back", "paused"].includes(flag.status)) return flag.status.replace("_", " ");
  return "not judged since the last change";
}

// ---------- one flag ----------

async function renderFlag(key) {
  disposeCharts();
  const enc = encodeURIComponent(key);
  const [record, list, series, report, decisions, audit, schedules] = await Promise.all([
    api(`/admin/flags/${enc}`),
    api("/admin/flags"),
    api(`/admin/flags/${enc}/series?points=60`),
    api(`/admin/flags/${enc}/report`),
    api(`/admin/flags/${enc}/decisions?limit=50`),
    api(`/admin/audit?flag=${enc}&limit=50`),
    api(`/admin/flags/${enc}/schedules`).catch(() => ({ schedules: [] })),
  ]);
  const summary = list.flags.find((f) => f.key === key);
  const st = record.state;
  // Each experiment rule's report (a split with a control), for its section.
  const experimentRules = (record.spec?.rules ?? []).map((r, i) => ({ name: r.name ?? `rule-${i + 1}`, serve: r.serve })).filter((r) => r.serve?.split && r.serve.experiment);
  const experiments = await Promise.all(experimentRules.map((r) => api(`/admin/flags/${enc}/experiments/${encodeURIComponent(r.name)}`).catch(() => null)));
  const main = $("#main");
  const actions = h("div", { className: "actions", role: "group", "aria-label": "actions" },
    ACTIONS.map((a) => h("button", {
      type: "button",
      className: a.danger ? "danger" : "",
      "data-action": a.action,
      "data-variant": a.variant,
      // What the identity may not do is not offered (and the API refuses it anyway).
      disabled: !may(a.approval ? "approve" : "act", key),
      title: may(a.approval ? "approve" : "act", key) ? null : `needs the "${a.approval ? "approve" : "act"}" permission on ${key}`,
      onclick: () => confirmAction(key, a, st),
    }, a.label)));
  const charts = h("section", { className: "charts", "aria-label": "charts" });
  // replaceChildren would print a null (no description, no waves) as the text "null": leave those out.
  main.replaceChildren(...[
    h("p", null, h("a", { href: "#" }, "← all flags")),
    h("h2", { id: "flag-title" }, key),
    summary?.description ? h("p", { className: "muted" }, summary.description) : null,
    h("p", { id: "flag-state" }, h("span", { className: `status ${st.status}` }, st.status), ` · stage ${st.stageIndex} · ${Number(summary?.weight ?? 0)}% · generation ${st.generation}`, st.forced ? ` · forced ${st.forced}` : "", ` · spec v${record.specVersion} ${record.specHash}`),
    h("p", { id: "judgement", className: summary?.judgement ? `health ${healthClass(summary)}` : "muted" },
      summary?.judgement ? `${summary.judgement.action} (${summary.judgement.rule}) at ${when(summary.judgement.at)}: ${summary.judgement.reason}` : "The cron has not judged the current state yet."),
    actions,
    record.waves ? waveTable(record.waves) : null,
    Array.isArray(record.spec?.rules) && record.spec.rules.length > 0 ? ruleTable(record.spec) : null,
    ...experiments.filter((x) => x !== null).map(experimentSection),
    record.spec?.flagd ? flagdSection(record.spec) : null,
    scheduleList(schedules.schedules),
    h("h3", null, "Gates"),
    gateTable(report),
    h("h3", null, "Over the last hour"),
    charts,
    h("h3", null, "Decisions"),
    decisionList(key, decisions.decisions),
    h("h3", null, "Audit trail"),
    h("ul", { className: "log" }, audit.entries.map((e) => h("li", null, h("time", null, when(e.at)), " ", h("b", null, e.actor), ` ${e.action}: ${e.summary}`, e.specHash ? h("span", { className: "muted" }, ` spec ${e.specHash}`) : null))),
  ].filter((node) => node !== null));
  drawCharts(charts, series);
  $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

/** A condition as one line: clauses as "attribute op value", nested all / any / not in brackets. */
function conditionText(c) {
  if (!c) return "every context";
  if (Array.isArray(c.all)) return c.all.map((p) => `(${conditionText(p)})`).join(" and ");
  if (Array.isArray(c.any)) return c.any.map((p) => `(${conditionText(p)})`).join(" or ");
  if (c.not) return `not (${conditionText(c.not)})`;
  const operand = Array.isArray(c.values) ? `[${c.values.slice(0, 5).join(", ")}${c.values.length > 5 ? `, … ${c.values.length} values` : ""}]` : c.value === undefined ? "" : JSON.stringify(c.value);
  return `${c.attribute} ${c.op.replaceAll("_", " ")} ${operand}`.trim();
}

function serveText(serve) {
  if (serve === "rollout") return "the rollout";
  if (serve.variant) return serve.variant;
  return serve.split.map((p) => `${p.variant} ${p.weight}%`).join(" / ");
}

/** Targeting rules in order (first match wins), as written; the rest go to the rollout or the default. */
function ruleTable(spec) {
  const rest = spec.kind === "targeting" ? `everyone else: ${spec.defaultVariant}` : "everyone else: the rollout";
  return h("section", { id: "rules", "aria-label": "targeting rules" },
    h("h3", null, "Targeting rules"),
    h("table", null,
      h("thead", null, h("tr", null, ["#", "rule", "when", "serves"].map((t) => h("th", null, t)))),
      h("tbody", null, spec.rules.map((r, i) => h("tr", null,
        h("td", { "data-label": "#" }, String(i + 1)),
        h("td", { "data-label": "rule" }, r.name ?? `rule-${i + 1}`),
        h("td", { "data-label": "when" }, conditionText(r.when)),
        h("td", { "data-label": "serves" }, serveText(r.serve)),
      )))),
    h("p", { className: "muted" }, rest));
}

/** An experiment: exposures per variant, then each treatment against the control, intervals corrected for the arms. */
function experimentSection(report) {
  const pct = (x) => (x === null ? "—" : `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`);
  const level = (x) => (x === null ? "—" : Number(x).toPrecision(3));
  const exposures = Object.entries(report.variants).map(([v, m]) => `${v}${v === report.control ? " (control)" : ""} ${m.exposures}`).join(" · ");
  return h("section", { className: "experiment", "aria-label": `experiment ${report.rule}` },
    h("h3", null, `Experiment: ${report.rule}`),
    h("p", null, `exposures ${exposures} · since ${when(report.from)}`),
    h("table", null,
      h("thead", null, h("tr", null, ["variant", "metric", "control", "variant's", "change", "interval", "verdict"].map((t) => h("th", null, t)))),
      h("tbody", null, report.comparisons.map((c) => h("tr", null,
        h("td", { "data-label": "variant" }, c.variant),
        h("td", { "data-label": "metric" }, c.metric),
        h("td", { "data-label": "control" }, level(c.control)),
        h("td", { "data-label": "variant's" }, level(c.treatment)),
        h("td", { "data-label": "change" }, pct(c.delta)),
        h("td", { "data-label": "interval" }, c.interval ? `${pct(c.interval[0])} … ${pct(c.interval[1])}` : "—"),
        h("td", { "data-label": "verdict", className: `verdict ${c.verdict}` }, c.verdict.replaceAll("_", " ")),
      )))),
    h("p", { className: "muted" }, `${report.correction.comparisons} comparisons, each interval at α = ${report.correction.alphaEach.toPrecision(2)} (Bonferroni over treatments × metrics; always valid, so look as often as you like).`));
}

/** A flagd definition as stored: its state, default and JsonLogic targeting, evaluated as flagd does. */
function flagdSection(spec) {
  const { state = "ENABLED", targeting } = spec.flagd;
  const hasTargeting = targeting && Object.keys(targeting).length > 0;
  return h("section", { id: "flagd", "aria-label": "flagd definition" },
    h("h3", null, "flagd definition"),
    h("p", null, `state ${state} · default ${spec.defaultVariant ?? "none (the caller's default)"} · variants ${Object.keys(spec.variants).join(", ")}`),
    hasTargeting ? h("pre", { className: "logic" }, JSON.stringify(targeting, null, 2)) : h("p", { className: "muted" }, "No targeting: everyone gets the default (STATIC)."));
}

/** Pending scheduled changes, soonest first (`rampart schedules`). */
function scheduleList(schedules) {
  return h("section", { id: "schedules", "aria-label": "scheduled changes" },
    h("h3", null, "Scheduled changes"),
    schedules.length === 0
      ? h("p", { className: "muted" }, "None pending.")
      : h("ul", { className: "log" }, schedules.map((s) => h("li", null, h("time", null, when(s.at)), " ", h("b", null, `${s.action}${s.variant ? `:${s.variant}` : ""}`), s.wave > 1 ? ` wave ${s.wave}` : "", ` by ${s.createdBy}`, s.reason ? ` — ${s.reason}` : ""))));
}

/** Region waves: where each stands and the spec hash it serves (actions and charts above are wave 1's). */
function waveTable(waves) {
  return h("section", { id: "waves", "aria-label": "region waves" },
    h("h3", null, "Region waves"),
    h("table", null,
      h("thead", null, h("tr", null, ["wave", "regions", "status", "stage", "weight", "generation", "spec hash"].map((t) => h("th", null, t)))),
      h("tbody", null, waves.map((w) => h("tr", null,
        h("td", { "data-label": "wave" }, String(w.wave)),
        h("td", { "data-label": "regions" }, w.regions.join(", ")),
        h("td", { "data-label": "status", className: `status ${w.status}` }, w.status),
        h("td", { "data-label": "stage" }, String(w.stage)),
        h("td", { "data-label": "weight" }, `${w.weight}%`),
        h("td", { "data-label": "generation" }, String(w.generation)),
        h("td", { "data-label": "spec hash", className: "muted" }, w.specHash.slice(0, 12)),
      )))));
}

function gateTable(report) {
  if (report.gates.length === 0) return h("p", { className: "muted" }, "This flag has no gates.");
  return h("table", { className: "gates" },
    h("thead", null, h("tr", null, ["gate", "baseline", "candidate", "delta", "interval", "rollback at", "verdict"].map((t) => h("th", null, t)))),
    h("tbody", null, report.gates.map((g) => h("tr", { "data-gate": g.metric },
      h("td", { "data-label": "gate" }, `${g.metric} (${g.compare})`),
      h("td", { "data-label": "baseline" }, level(g.baseline)),
      h("td", { "data-label": "candidate" }, level(g.candidate)),
      h("td", { "data-label": "delta" }, shownDelta(g, g.delta)),
      h("td", { "data-label": "interval" }, g.interval ? `[${shownDelta(g, g.interval[0])}, ${shownDelta(g, g.interval[1])}]` : "n/a"),
      h("td", { "data-label": "rollback at" }, g.thresholds.rollback === undefined ? "—" : shownDelta(g, thresholdOnAxis(g, g.thresholds.rollback))),
      h("td", { "data-label": "verdict", className: `verdict ${g.verdict}`, title: g.note ?? null }, g.note ? `${g.verdict}: ${g.note}` : g.verdict)))));
}

/** A threshold on the delta axis: relative and absolute gates store magnitudes, bad on `bad`'s side. */
function thresholdOnAxis(gate, value) {
  if (value === undefined) return undefined;
  const sided = gate.compare === "relative" || gate.compare === "absolute";
  return sided && gate.bad === "decrease" ? -value : value;
}

function drawCharts(container, series) {
  const xs = series.points.map((p) => p.t / 1000);
  const plans = [];
  plans.push({ name: "exposures", title: "Exposures per step", lines: ["baseline", "candidate"].map((arm) => ({ label: arm, values: series.points.map((p) => p.exposures[arm]), colour: ARM_COLOURS[arm] })) });
  series.gates.forEach((gate, i) => {
    const scaled = gate.compare === "relative" || gate.compare === "absolute";
    const constant = (v) => series.points.map(() => (v === undefined ? null : v));
    const lines = [
      { label: "delta", values: series.points.map((p) => p.gates[i]?.delta ?? null), colour: ARM_COLOURS.candidate, width: 2 },
      { label: "interval low", values: series.points.map((p) => p.gates[i]?.interval?.[0] ?? null), colour: "#8ab4f8" },
      { label: "interval high", values: series.points.map((p) => p.gates[i]?.interval?.[1] ?? null), colour: "#8ab4f8" },
    ];
    const warn = thresholdOnAxis(gate, gate.thresholds.warn);
    const rollback = thresholdOnAxis(gate, gate.thresholds.rollback);
    if (warn !== undefined) lines.push({ label: "warn", values: constant(warn), colour: "#c58a00", dash: [6, 4] });
    if (rollback !== undefined) lines.push({ label: "rollback", values: constant(rollback), colour: "#b3261e", dash: [6, 4] });
    plans.push({ name: `gate-${gate.metric}`, title: `${gate.metric} ${gate.compare} (cumulative, with interval and thresholds)`, lines, format: scaled ? (v) => `${(v * 100).toFixed(1)}%` : undefined });
  });
  const quantiles = ["latency_p50", "latency_p95", "latency_p99"].filter((m) => series.points.some((p) => p.levels[m] && (p.levels[m].baseline !== null || p.levels[m].candidate !== null)));
  if (quantiles.length > 0) {
    const lines = [];
    for (const m of quantiles) for (const arm of ["baseline", "candidate"]) lines.push({ label: `${m.replace("latency_", "")} ${arm}`, values: series.points.map((p) => p.levels[m]?.[arm] ?? null), colour: ARM_COLOURS[arm], dash: m === "latency_p50" ? undefined : m === "latency_p95" ? [4, 3] : [1, 3] });
    plans.push({ name: "latency", title: "Latency quantiles per step (ms)", lines });
  }
  // Every figure first, so the grid has its final columns before a chart measures its width.
  const boxes = plans.map((plan) => {
    const el = h("figure", { className: "chart", "data-chart": plan.name });
    container.append(el);
    return el;
  });
  plans.forEach((plan, i) => lineChart(boxes[i], plan.title, xs, plan.lines, { format: plan.format }));
}

function decisionList(key, decisions) {
  if (decisions.length === 0) return h("p", { className: "muted" }, "No decisions yet.");
  return h("ul", { className: "log decisions" }, decisions.map((d) => {
    const result = h("span", { className: "replay-result" });
    return h("li", { "data-decision": d.id },
      h("b", null, `#${d.id} ${d.action}`), " ", h("time", null, when(d.at)),
      ` ${d.from.status}/${d.from.stage} → ${d.to.status}/${d.to.stage} by ${d.actor}`,
      d.reason ? h("div", { className: "reason" }, d.reason) : null,
      d.replayable ? h("button", { type: "button", className: "small", onclick: async () => {
        try {
          const r = await api(`/admin/flags/${encodeURIComponent(key)}/decisions/${d.id}/replay`);
          result.textContent = ` replayed: ${r.replayed.action} (${r.replayed.rule}) — ${r.matches ? "matches" : "DIFFERS"}`;
        } catch (e) {
          result.textContent = ` ${e.message}`;
        }
      } }, "Replay") : null,
      result);
  }));
}

// ---------- actions, with a confirmation ----------

function confirmAction(key, a, state) {
  const dialog = $("#confirm");
  $("#confirm-title").textContent = a.approval ? `${a.label} ${state.stageIndex} of ${key} (generation ${state.generation})?` : `${a.label} ${key}?`;
  $("#confirm-reason").value = "";
  dialog.dataset.action = a.action;
  dialog.dataset.variant = a.variant ?? "";
  dialog.dataset.flag = key;
  dialog.dataset.approval = a.approval ?? "";
  dialog.dataset.generation = String(state.generation);
  dialog.dataset.stage = String(state.stageIndex);
  dialog.showModal();
}

async function submitAction(event) {
  event.preventDefault();
  const dialog = $("#confirm");
  const { action, variant, flag, approval, generation, stage } = dialog.dataset;
  const reason = $("#confirm-reason").value.trim();
  dialog.close();
  try {
    if (approval) {
      await api(`/admin/flags/${encodeURIComponent(flag)}/approve`, { method: "POST", body: JSON.stringify({ decision: approval, generation: Number(generation), stage: Number(stage), ...(reason ? { note: reason } : {}) }) });
    } else {
      await api(`/admin/flags/${encodeURIComponent(flag)}/actions`, { method: "POST", body: JSON.stringify({ action, ...(variant ? { variant } : {}), ...(reason ? { reason } : {}) }) });
    }
    showError("");
    await route();
  } catch (e) {
    showError(e.message);
  }
}

// ---------- routing and login ----------

async function route() {
  const pasted = Boolean(sessionStorage.getItem(TOKEN_KEY));
  // Without a token, only a deployment with Access or OIDC in front can know the visitor.
  if (!pasted && document.body.dataset.signIn !== "identity") return;
  try {
    if (state.role === null) {
      const me = await api("/admin/whoami");
      state.role = me.role;
      state.permissions = new Set(me.permissions ?? (me.role === "admin" ? ["read", "act", "approve", "write"] : ["read"]));
      state.prefixed = me.prefixed ?? [];
      $("#role").textContent = me.identity && me.identity.kind !== "bootstrap"
        ? `signed in as ${me.identity.subject} (${me.identity.kind === "access" ? "Cloudflare Access" : me.identity.kind}): ${[[...state.permissions].join(", "), ...state.prefixed.map((g) => `${g.permissions.join(", ")} on ${g.prefixes.join(", ")}`)].filter(Boolean).join("; ")}`
        : state.role === "admin" ? "admin token: actions enabled" : "read-only token: actions disabled";
    }
    const match = /^#flag=(.+)$/.exec(location.hash);
    if (match) await renderFlag(decodeURIComponent(match[1]));
    else await renderList();
    showError("");
    $("#login").hidden = true;
    $("#logout").hidden = false;
  } catch (e) {
    if (e.status === 401 || (e.status === 403 && !pasted)) {
      sessionStorage.removeItem(TOKEN_KEY);
      state.role = null;
      $("#login").hidden = false;
      $("#logout").hidden = true;
      // Without a token the first look only asks whether Access signed the visitor in.
      showError(pasted ? "That token is not accepted." : e.status === 403 ? e.message : "");
    } else showError(e.message);
  }
}

$("#login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token").value);
  $("#token").value = "";
  state.role = null;
  void route();
});
$("#logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  state.role = null;
  disposeCharts();
  $("#main").replaceChildren();
  $("#role").textContent = "";
  $("#login").hidden = false;
  $("#logout").hidden = true;
});
$("#confirm-form").addEventListener("submit", submitAction);
$("#confirm-cancel").addEventListener("click", () => $("#confirm").close());
window.addEventListener("hashchange", () => void route());
state.timer = setInterval(() => {
  // Refresh unless a dialog is open (the operator is deciding something).
  if (!$("#confirm").open) void route();
}, 15000);
void route();
