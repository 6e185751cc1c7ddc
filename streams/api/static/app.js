// Feedback Loops dashboard: one ES module, no build step, no third-party code.
// Safety rule of this file: text from the API (which includes what receivers and events
// sent) only ever reaches the page through textContent / attributes set by el(); nothing is
// parsed as HTML. The server's Content-Security-Policy forbids inline and foreign script.
"use strict";

const TOKEN_KEY = "fl.token";
const main = document.getElementById("main");
let me = null;

// -- helpers ---------------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
const fmtTime = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "—");
const fmtNum = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("en"));
const may = (role) => me && ["viewer", "editor", "operator"].indexOf(me.role) >= ["viewer", "editor", "operator"].indexOf(role);

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status; this.field = body && body.field;
  }
}

async function api(method, path, body) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { "Authorization": `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                       credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" });
  const text = await response.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch (e) { doc = { error: text }; }
  if (response.status === 401) { signOut("Your token was refused; sign in again."); throw new ApiError(401, doc); }
  if (!response.ok) throw new ApiError(response.status, doc);
  return doc;
}

function problem(err) {
  const where = err.field ? ` (field: ${err.field})` : "";
  return el("div", { class: "error", role: "alert", "data-test": "error" }, `${err.message}${where}`);
}
function page(title, ...content) {
  main.replaceChildren(el("h1", {}, title), ...content);
  main.focus();
}
function busy(button, work) {
  return async (event) => {
    event.preventDefault();
    button.disabled = true;
    try { await work(); } finally { button.disabled = false; }
  };
}

// -- sign in ---------------------------------------------------------------------------------
function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  showSignIn(message);
}

function showSignIn(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("who").textContent = "";
  const input = el("input", { type: "password", id: "token", name: "token", autocomplete: "off", required: true });
  const form = el("form", { class: "signin card", id: "signin" },
    el("h1", {}, "Sign in"),
    el("p", { class: "muted" }, "Your API token. It stays in this tab only (session storage) and is sent to this server only."),
    message ? el("div", { class: "notice", role: "status" }, message) : null,
    el("label", { for: "token" }, "API token"), input,
    el("div", {}, el("button", { type: "submit", id: "signin-button" }, "Sign in")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    try { await start(); } catch (err) { if (err.status !== 401) form.append(problem(err)); }
  });
  main.replaceChildren(form);
  input.focus();
}

async function start() {
  me = await api("GET", "/me");
  document.getElementById("nav").hidden = false;
  document.getElementById("signout").hidden = false;
  document.getElementById("who").textContent = `${me.account} · ${me.role}`;
  for (const a of document.querySelectorAll("#nav a[data-role]")) a.hidden = !may(a.dataset.role);
  if (!location.hash || location.hash === "#/") location.hash = "#/loops"; else route();
}

// -- routing -----------------------------------------------------------------------------------
const routes = [
  [/^#\/loops$/, showLoops], [/^#\/loops\/new$/, () => showLoopForm(null)],
  [/^#\/loop\/([^/]+)$/, (id) => showLoop(decodeURIComponent(id))],
  [/^#\/loop\/([^/]+)\/edit$/, async (id) => showLoopForm(await api("GET", `/loops/${encodeURIComponent(decodeURIComponent(id))}`))],
  [/^#\/stats(?:\?.*)?$/, showStats], [/^#\/dead-letters(?:\?.*)?$/, showDeadLetters], [/^#\/invalid$/, showInvalid],
  [/^#\/accounts$/, showAccounts], [/^#\/partitions$/, showPartitions],
];
async function route() {
  if (!me) return;
  for (const a of document.querySelectorAll("#nav a")) {
    if (location.hash.startsWith(a.getAttribute("href"))) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const [pattern, show] of routes) {
    const m = location.hash.match(pattern);
    if (m) {
      try { await show(...m.slice(1)); } catch (err) { page("Something went wrong", problem(err)); }
      return;
    }
  }
  location.hash = "#/loops";
}

// -- loops ---------------------------------------------------------------------------------
async function showLoops() {
  const [{ loops }, stats] = await Promise.all([api("GET", "/loops"),
    api("GET", "/stats/loops?window=1h&last=1").catch(() => ({ loops: {} }))]);
  const groups = new Map();
  for (const loop of loops) {
    const key = `${loop.database ?? "every database"}${loop.collection ? " / " + loop.collection : ""}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(loop);
  }
  const content = [];
  if (may("editor")) content.push(el("p", {}, el("a", { href: "#/loops/new", id: "add-loop", class: "button" }, "+ Add a loop")));
  if (!loops.length) content.push(el("p", { class: "muted" }, "No loops yet."));
  for (const [group, members] of [...groups].sort()) {
    content.push(el("h2", {}, group));
    content.push(el("table", { "data-test": "loops" },
      el("thead", {}, el("tr", {}, ["Loop", "URL", "Events", "Status", "Ownership", "Rate/s", "Delivered (this hour)",
        "Errors", "Last delivery", "Warnings"].map((h) => el("th", {}, h)))),
      el("tbody", {}, members.map((loop) => {
        const s = stats.loops[loop.id] || {};
        const validated = loop.validation.status === "validated";
        return el("tr", { "data-loop": loop.id },
          el("td", {}, el("a", { href: `#/loop/${encodeURIComponent(loop.id)}` }, loop.id)),
          el("td", { class: "mono" }, loop.url),
          el("td", {}, loop.events.join(", ")),
          el("td", { class: loop.status === "enabled" ? "ok" : "bad" }, loop.status, loop.disabled_reason ? ` (${loop.disabled_reason})` : ""),
          el("td", { class: validated ? "ok" : "warn" }, validated ? "validated" : "pending"),
          el("td", { class: "num" }, loop.rate_per_s),
          el("td", { class: "num" }, fmtNum(s.delivered)),
          el("td", { class: "num" }, fmtNum(s.errors)),
          el("td", {}, fmtTime(s.last_delivery_ms)),
          el("td", { class: "warn" }, (s.warnings || []).map((w) => w.message).join(" ")));
      }))));
  }
  page("Loops", ...content);
}

const EVENT_TYPES = ["open", "click", "bounce", "failure", "delivery", "create", "update", "delete", "unsubscribe", "complaint"];

function showLoopForm(loop) {
  const field = (name, label, input, help) => el("div", {}, el("label", { for: `f-${name}` }, label), input, help ? el("div", { class: "muted" }, help) : null);
  const text = (name, value, type = "text") => el("input", { type, id: `f-${name}`, name, value: value ?? "" });
  const url = text("url", loop?.url, "url");
  const boxes = EVENT_TYPES.map((t) => el("label", { class: "check" },
    el("input", { type: "checkbox", name: "events", value: t, checked: loop ? loop.events.includes(t) : false }), ` ${t}`));
  const database = text("database", loop?.database);
  const collection = text("collection", loop?.collection);
  const encoding = el("select", { id: "f-encoding", name: "encoding" },
    ["json", "form", "json-batch"].map((e) => el("option", { value: e, selected: (loop?.encoding ?? "json") === e }, e)));
  const delivery = el("select", { id: "f-delivery", name: "delivery" },
    ["events", "summary"].map((d) => el("option", { value: d, selected: (loop?.delivery ?? "events") === d }, d)));
  const rate = text("rate_per_s", loop?.rate_per_s ?? "", "number");
  const inflight = text("max_in_flight", loop?.max_in_flight ?? "", "number");
  const timeout = text("timeout_s", loop?.timeout_s ?? "", "number");
  const result = el("div", { "aria-live": "polite" });
  const save = el("button", { type: "submit", id: "save-loop" }, loop ? "Save changes" : "Create loop");
  const form = el("form", { class: "card", id: "loop-form" },
    field("url", "URL", url, "Where events are POSTed (http or https)."),
    el("fieldset", {}, el("legend", {}, "Events"), boxes),
    field("database", "Database", database, "Empty: every database (operators only)."),
    field("collection", "Collection", collection, "Empty: the whole database."),
    field("encoding", "Encoding", encoding), field("delivery", "Delivery", delivery,
      "events: a call per event (or batch); summary: one call per window with the counts."),
    field("rate_per_s", "Calls per second", rate, "Empty: the default (50)."),
    field("max_in_flight", "Calls in flight", inflight, "Empty: the default (10)."),
    field("timeout_s", "Timeout (s)", timeout, "Empty: the default (10)."),
    save, result);
  form.addEventListener("submit", busy(save, async () => {
    const body = { url: url.value.trim(), events: boxes.map((b) => b.firstChild).filter((c) => c.checked).map((c) => c.value),
                   database: database.value.trim() || null, collection: collection.value.trim() || null,
                   encoding: encoding.value };
    if (delivery.value !== (loop?.delivery ?? "events")) body.delivery = delivery.value;
    for (const [key, input] of [["rate_per_s", rate], ["max_in_flight", inflight], ["timeout_s", timeout]]) {
      if (input.value.trim() !== "" && String(loop?.[key]) !== input.value.trim()) body[key] = Number(input.value);
    }
    try {
      if (loop) {
        await api("PATCH", `/loops/${encodeURIComponent(loop.id)}`, body);
        location.hash = `#/loop/${encodeURIComponent(loop.id)}`;
      } else {
        const made = await api("POST", "/loops", body);
        sessionStorage.setItem(`fl.secret.${made.id}`, made.secrets[0].secret);
        location.hash = `#/loop/${encodeURIComponent(made.id)}`;
      }
    } catch (err) { result.replaceChildren(problem(err)); }
  }));
  page(loop ? `Edit ${loop.id}` : "Add a loop", form);
  url.focus();
}

async function showLoop(id) {
  const path = `/loops/${encodeURIComponent(id)}`;
  const loop = await api("GET", path);
  const secretShown = sessionStorage.getItem(`fl.secret.${id}`);
  sessionStorage.removeItem(`fl.secret.${id}`);
  const sections = [];
  sections.push(el("section", { class: "card" },
    el("dl", { class: "kv" },
      el("dt", {}, "URL"), el("dd", { class: "mono" }, loop.url),
      el("dt", {}, "Events"), el("dd", {}, loop.events.join(", ")),
      el("dt", {}, "Database / collection"), el("dd", {}, `${loop.database ?? "every database"} / ${loop.collection ?? "all"}`),
      el("dt", {}, "Encoding"), el("dd", {}, `${loop.encoding}${loop.delivery === "summary" ? `, summary every ${loop.summary_every}` : ""}`),
      el("dt", {}, "Limits"), el("dd", {}, `${loop.rate_per_s}/s, ${loop.max_in_flight} in flight, ${loop.timeout_s} s timeout`),
      el("dt", {}, "Status"), el("dd", { id: "loop-status" }, loop.status, loop.disabled_reason ? ` — ${loop.disabled_reason}` : "")),
    secretShown ? el("div", { class: "success", id: "new-secret" }, "Signing secret (shown once, copy it now): ",
      el("code", {}, secretShown)) : null,
    may("editor") ? el("p", {}, el("a", { href: `#/loop/${encodeURIComponent(id)}/edit` }, "Edit settings")) : null));
  sections.push(ownershipSection(loop, path));
  if (may("editor")) sections.push(testSection(loop, path));
  sections.push(await loopStatsSection(path));
  sections.push(await attemptsSection(path));
  if (may("editor")) sections.push(secretSection(loop, path));
  if (may("editor")) {
    const del = el("button", { type: "button", class: "danger", id: "delete-loop" }, "Delete this loop");
    del.addEventListener("click", busy(del, async () => {
      if (!confirm(`Delete loop ${id}? Its events stop at once.`)) return;
      await api("DELETE", path);
      location.hash = "#/loops";
    }));
    sections.push(el("section", { class: "card" }, el("h2", {}, "Delete"), del));
  }
  page(`Loop ${loop.id}`, ...sections);
}

function ownershipSection(loop, path) {
  const v = loop.validation;
  const out = el("div", { id: "validation-result", "aria-live": "polite" });
  const status = el("p", { id: "validation-status", class: v.status === "validated" ? "ok" : "warn" },
    v.status === "validated" ? `Validated (${v.method}) at ${fmtTime(v.validated_at * 1000)}` : "Not validated yet: no event from a profile is sent to this URL.");
  const run = (method) => async () => {
    try {
      const r = await api("POST", `${path}/validate?method=${method}`);
      status.textContent = r.validated ? `Validated (${method})` : "Not validated";
      status.className = r.validated ? "ok" : "bad";
      out.replaceChildren(el("table", { "data-test": "checks" },
        el("thead", {}, el("tr", {}, el("th", {}, "Checked"), el("th", {}, "Result"))),
        el("tbody", {}, r.checks.map((c) => el("tr", {}, el("td", { class: "mono" }, c.url ?? c.name ?? method),
          el("td", { class: c.ok ? "ok" : "bad" }, c.ok ? "ok" : (c.problem ?? "failed")))))));
    } catch (err) { out.replaceChildren(problem(err)); }
  };
  const file = el("button", { type: "button", id: "validate-now" }, "Validate now");
  file.addEventListener("click", busy(file, run("file")));
  const dns = el("button", { type: "button", class: "secondary", id: "validate-dns" }, "Check DNS instead");
  dns.addEventListener("click", busy(dns, run("dns")));
  return el("section", { class: "card", id: "ownership" }, el("h2", {}, "Ownership of the URL"), status,
    el("p", {}, "Put a file named ", el("code", { id: "challenge-file" }, v.file_name ?? ""), " holding exactly ",
      el("code", { id: "challenge-content" }, v.content ?? ""), " at one of:"),
    el("ul", {}, (v.urls || []).map((u) => el("li", { class: "mono" }, u))),
    el("p", {}, "It must be served directly (a redirect is not followed). Or publish a DNS TXT record on the host: ",
      el("code", {}, v.dns_txt)),
    may("editor") ? el("div", {}, file, dns) : null, out);
}

const SAMPLES = {
  open: { type: "open", id: "sample-0001", timestamp: "2026-01-01 12:00:00", time: 1767268800, recipient: "anna@example.com", ip: "192.0.2.10", useragent: "Mozilla/5.0", referer: "", tags: ["newsletter"] },
  click: { type: "click", id: "sample-0002", timestamp: "2026-01-01 12:00:05", time: 1767268805, recipient: "anna@example.com", original: "https://shop.example.com/item/1", link: "l1", tags: ["newsletter"] },
  unsubscribe: { type: "unsubscribe", id: "sample-0003", timestamp: "2026-01-01 12:01:00", time: 1767268860, database: "newsletter", profile: "p1" },
};

function testSection(loop, path) {
  const kind = el("select", { id: "test-kind" }, el("option", { value: "json" }, "JSON"), el("option", { value: "form" }, "Form fields (one name=value per line)"));
  const sample = el("select", { id: "test-sample" }, el("option", { value: "" }, "— pick a sample event —"),
    Object.keys(SAMPLES).map((k) => el("option", { value: k }, k)));
  const payload = el("textarea", { id: "test-payload", "aria-label": "Payload" }, JSON.stringify({ hello: "world" }, null, 2));
  sample.addEventListener("change", () => {
    if (!sample.value) return;
    const s = SAMPLES[sample.value];
    payload.value = kind.value === "json" ? JSON.stringify(s, null, 2)
      : Object.entries(s).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : v}`).join("\n");
  });
  const out = el("div", { id: "test-result", "aria-live": "polite" });
  const send = el("button", { type: "button", id: "send-test" }, "Send test call");
  send.addEventListener("click", busy(send, async () => {
    let body;
    try {
      if (kind.value === "json") body = { json: JSON.parse(payload.value) };
      else body = { form: Object.fromEntries(payload.value.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")).trim(), l.slice(l.indexOf("=") + 1)])) };
    } catch (err) { out.replaceChildren(problem(new ApiError(400, { error: `not JSON: ${err.message}`, field: "json" }))); return; }
    try {
      const r = await api("POST", `${path}/test`, body);
      out.replaceChildren(
        el("dl", { class: "kv" },
          el("dt", {}, "Status"), el("dd", { id: "test-status", class: r.ok ? "ok" : "bad" }, r.status ?? r.error_class ?? "—"),
          el("dt", {}, "Latency"), el("dd", { id: "test-latency" }, r.latency_ms !== undefined ? `${r.latency_ms} ms` : "—"),
          r.error ? el("dt", {}, "Error") : null, r.error ? el("dd", {}, r.error) : null,
          el("dt", {}, "webhook-id"), el("dd", { class: "mono" }, r.webhook_id)),
        el("h3", {}, "Headers"),
        el("table", { id: "test-headers" }, el("tbody", {}, Object.entries(r.headers || {}).map(([k, v]) => el("tr", {}, el("td", { class: "mono" }, k), el("td", { class: "mono" }, v))))),
        el("h3", {}, "Answer (first KiB)"), el("pre", { id: "test-body" }, r.body ?? ""));
    } catch (err) { out.replaceChildren(problem(err)); }
  }));
  return el("section", { class: "card", id: "test-tool" }, el("h2", {}, "Test tool"),
    el("p", { class: "muted" }, "Sends your own data now, signed, even before validation (nothing from a profile)."),
    el("div", { class: "row" }, el("div", {}, el("label", { for: "test-kind" }, "Payload"), kind), el("div", {}, el("label", { for: "test-sample" }, "Sample"), sample)),
    payload, el("div", {}, send), out);
}

async function attemptsSection(path) {
  const { attempts } = await api("GET", `${path}/attempts?limit=50`);
  return el("section", { class: "card", id: "attempts" }, el("h2", {}, "Recent attempts"),
    attempts.length ? el("table", { "data-test": "attempts" },
      el("thead", {}, el("tr", {}, ["When", "Event", "Type", "Attempt", "Outcome", "Status", "Latency", "Answer / reason"].map((h) => el("th", {}, h)))),
      el("tbody", {}, attempts.map((a) => el("tr", {},
        el("td", {}, fmtTime(a.at_ms)), el("td", { class: "mono" }, a.event_id), el("td", {}, a.event_type ?? ""),
        el("td", { class: "num" }, a.attempt), el("td", { class: a.outcome === "delivered" ? "ok" : "bad" }, a.outcome),
        el("td", { class: "num" }, a.status ?? a.error_class ?? ""), el("td", { class: "num" }, `${a.latency_ms} ms`),
        el("td", {}, el("pre", {}, a.response || a.reason || "")))))) : el("p", { class: "muted" }, "No attempts yet."));
}

function secretSection(loop, path) {
  const grace = el("input", { type: "number", id: "grace-s", value: 86400, min: 0 });
  const kind = el("select", { id: "rotate-signature" },
    [["", `same kind (${loop.signature || "v1"})`], ["v1", "v1: shared whsec_ secret (HMAC)"], ["v1a", "v1a: ed25519 key (receivers hold a public key)"]]
      .map(([v, label]) => el("option", { value: v }, label)));
  const out = el("div", { id: "rotate-result", "aria-live": "polite" });
  const rotate = el("button", { type: "button", id: "rotate" }, "Rotate the signing secret");
  rotate.addEventListener("click", busy(rotate, async () => {
    try {
      const body = { grace_s: Number(grace.value) };
      if (kind.value) body.signature = kind.value;
      const r = await api("POST", `${path}/secret/rotate`, body);
      out.replaceChildren(el("div", { class: "success" }, "Shown once, copy now:",
        el("dl", { class: "kv", id: "rotated" }, Object.entries(r).filter(([k]) => k !== "loop")
          .flatMap(([k, v]) => [el("dt", {}, k), el("dd", { class: "mono" }, String(v))]))),
        el("p", {}, `The previous secret keeps signing for ${grace.value} s.`));
    } catch (err) { out.replaceChildren(problem(err)); }
  }));
  const key = el("div", { id: "public-key" });
  if (loop.signature === "v1a") {
    api("GET", `${path}/public-key`).then((r) => key.replaceChildren(el("p", {}, "Public keys for your receiver (v1a):"),
      el("ul", {}, r.public_keys.map((k) => el("li", { class: "mono" }, k.public_key, k.expires_at ? ` (until ${fmtTime(k.expires_at * 1000)})` : ""))))).catch(() => {});
  }
  return el("section", { class: "card", id: "secrets" }, el("h2", {}, "Signing secrets"),
    el("ul", {}, loop.secrets.map((s) => el("li", { class: "mono" }, s.secret, s.expires_at ? ` (until ${fmtTime(s.expires_at * 1000)})` : " (current)"))),
    key, el("label", { for: "rotate-signature" }, "New secret"), kind,
    el("label", { for: "grace-s" }, "Old secret keeps signing for (seconds)"), grace, el("div", {}, rotate), out);
}

// -- statistics ------------------------------------------------------------------------------
function barChart(series, keys) {
  const w = 720, h = 200, pad = 28;
  const max = Math.max(1, ...series.flatMap((s) => keys.map((k) => s[k] || 0)));
  const slot = (w - pad) / Math.max(series.length, 1);
  const bar = Math.max(1, slot / (keys.length + 1));
  const nodes = [svg("line", { x1: pad, y1: h - 16, x2: w, y2: h - 16, stroke: "#aeb6c4" }),
    svg("text", { x: 2, y: 12 }, fmtNum(max)), svg("text", { x: 2, y: h - 18 }, "0")];
  series.forEach((s, i) => {
    keys.forEach((k, j) => {
      const v = s[k] || 0, bh = (h - 30) * v / max;
      nodes.push(svg("rect", { x: pad + i * slot + j * bar, y: h - 16 - bh, width: bar, height: bh, class: `c-${k}` },
        svg("title", {}, `${fmtTime(s.start_ms)} ${k}: ${v}`)));
    });
  });
  const step = Math.ceil(series.length / 8);
  series.forEach((s, i) => { if (i % step === 0) nodes.push(svg("text", { x: pad + i * slot, y: h - 3 }, new Date(s.start_ms).toISOString().slice(11, 16))); });
  return el("figure", {}, svg("svg", { class: "chart", viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": `Chart of ${keys.join(", ")}` }, nodes),
    el("figcaption", { class: "legend" }, keys.map((k) => el("span", {}, el("i", { class: `c-${k}` }), k))));
}

function totalsTable(total) {
  const keys = ["in", "invalid", "routed", "delivered", "retried", "errors", "dead"];
  return el("table", { "data-test": "totals" },
    el("thead", {}, el("tr", {}, [...keys, "p50 ms", "p95 ms", "p99 ms"].map((k) => el("th", { class: "num" }, k)))),
    el("tbody", {}, el("tr", {}, keys.map((k) => el("td", { class: "num", "data-metric": k }, fmtNum(total[k]))),
      ["p50", "p95", "p99"].map((p) => el("td", { class: "num" }, fmtNum(total.latency_ms[p]))))));
}

async function loopStatsSection(path) {
  const s = await api("GET", `${path}/stats?window=1m&last=60`).catch((err) => ({ error: err }));
  if (s.error) return el("section", { class: "card" }, el("h2", {}, "Statistics"), problem(s.error));
  return el("section", { class: "card", id: "loop-stats" }, el("h2", {}, "Statistics (last hour, per minute)"),
    s.warnings.map((w) => el("div", { class: "notice", "data-test": "warning" }, w.message)),
    totalsTable(s.total), barChart(s.series, ["routed", "delivered", "errors"]));
}

async function showStats() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const level = params.get("window") || "1m";
  const database = params.get("database") || "";
  const select = el("select", { id: "stats-window" }, [["1m", "per minute, last hour"], ["1h", "per hour, last day"], ["1d", "per day, last 30 days"]]
    .map(([v, label]) => el("option", { value: v, selected: v === level }, label)));
  const db = el("input", { type: "text", id: "stats-database", value: database, placeholder: "every database of this account" });
  const show = el("button", { type: "button", id: "stats-show" }, "Show");
  show.addEventListener("click", () => { location.hash = `#/stats?window=${select.value}&database=${encodeURIComponent(db.value.trim())}`; });
  const last = { "1m": 60, "1h": 24, "1d": 30 }[level] || 60;
  const query = `window=${level}&last=${last}${database ? `&database=${encodeURIComponent(database)}` : ""}`;
  let content;
  try {
    const s = await api("GET", `/stats?${query}`);
    content = [totalsTable(s.total), barChart(s.series, ["in", "routed", "delivered", "errors"])];
    if (s.mailings) {
      content.push(el("h2", {}, "Opens and clicks per mailing, today (UTC)"), el("table", { "data-test": "mailings" },
        el("thead", {}, el("tr", {}, ["Mailing / link", "Opens", "Unique opens", "Clicks", "Unique clicks"].map((h, i) => el("th", { class: i ? "num" : null }, h)))),
        el("tbody", {}, s.mailings.flatMap((m) => [
          el("tr", {}, el("td", {}, m.mailing), ...["opens", "unique_opens", "clicks", "unique_clicks"].map((k) => el("td", { class: "num" }, fmtNum(m[k])))),
          ...m.links.map((l) => el("tr", {}, el("td", { class: "mono" }, `↳ ${l.link}`), el("td", {}), el("td", {}),
            el("td", { class: "num" }, fmtNum(l.clicks)), el("td", { class: "num" }, fmtNum(l.unique_clicks))))]))));
    }
  } catch (err) { content = [problem(err)]; }
  page("Statistics", el("div", { class: "row" }, el("div", {}, el("label", { for: "stats-window" }, "Windows"), select),
    el("div", {}, el("label", { for: "stats-database" }, "Database"), db), el("div", {}, show)), el("section", { class: "card", id: "stats" }, content));
}

// -- dead letters and refused input ------------------------------------------------------------
function dryRunThenDo(label, path, bodyOf, describe) {
  const out = el("div", { "aria-live": "polite" });
  const count = el("button", { type: "button", id: `${label}-dry-run` }, "Count first (dry run)");
  count.addEventListener("click", busy(count, async () => {
    try {
      const r = await api("POST", path, { ...bodyOf(), dry_run: true });
      const go = el("button", { type: "button", class: "danger", id: `${label}-confirm`, disabled: r.matched === 0 }, `${label === "redrive" ? "Re-drive" : "Replay"} ${r.matched} now`);
      go.addEventListener("click", busy(go, async () => {
        try { out.replaceChildren(el("div", { class: "success", id: `${label}-done` }, describe(await api("POST", path, { ...bodyOf(), dry_run: false })))); }
        catch (err) { out.replaceChildren(problem(err)); }
      }));
      out.replaceChildren(el("p", { id: `${label}-counted` }, `${r.matched} matched of ${r.scanned} scanned.`), go);
    } catch (err) { out.replaceChildren(problem(err)); }
  }));
  return [count, out];
}

async function showDeadLetters() {
  if (!may("editor")) { page("Dead letters", el("p", { class: "muted" }, "Dead letters hold profile data: editors and operators only.")); return; }
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const loop = params.get("loop") || "";
  const filter = el("input", { type: "text", id: "dead-loop", value: loop, placeholder: "every loop" });
  const apply = el("button", { type: "button", class: "secondary" }, "Filter");
  apply.addEventListener("click", () => { location.hash = `#/dead-letters?loop=${encodeURIComponent(filter.value.trim())}`; });
  const { dead_letters } = await api("GET", `/dead-letters?limit=100${loop ? `&loop=${encodeURIComponent(loop)}` : ""}`);
  const [count, out] = dryRunThenDo("redrive", "/dead-letters/redrive", () => (loop ? { loop } : {}),
    (r) => `Re-driven: ${r.written} (same webhook-id, a fresh retry schedule).`);
  page("Dead letters", el("div", { class: "row" }, el("div", {}, el("label", { for: "dead-loop" }, "Loop"), filter), el("div", {}, apply)),
    el("section", { class: "card" }, el("h2", {}, "Re-drive"), el("p", { class: "muted" }, "Puts these dead letters back on the delivery queue."), count, out),
    el("table", { "data-test": "dead-letters" },
      el("thead", {}, el("tr", {}, ["Died", "Loop", "Event", "Type", "Attempts", "Reason"].map((h) => el("th", {}, h)))),
      el("tbody", {}, dead_letters.map((d) => el("tr", {}, el("td", {}, fmtTime(d.dead_ms)), el("td", {}, d.loop_id),
        el("td", { class: "mono" }, d.event_id), el("td", {}, d.event_type), el("td", { class: "num" }, (d.attempts || []).length),
        el("td", {}, el("pre", {}, d.final_reason)))))));
}

async function showInvalid() {
  const { invalid } = await api("GET", "/invalid?limit=100");
  const reason = el("input", { type: "text", id: "invalid-reason", placeholder: "reason contains…" });
  const [count, out] = dryRunThenDo("replay", "/invalid/replay", () => (reason.value.trim() ? { reason: reason.value.trim() } : {}),
    (r) => `Replayed: ${r.written} to their source topics.`);
  page("Refused input (fl.invalid)",
    el("section", { class: "card" }, el("h2", {}, "Replay after a fix"), el("label", { for: "invalid-reason" }, "Only records whose reason contains"), reason, el("div", {}, count), out),
    el("table", { "data-test": "invalid" },
      el("thead", {}, el("tr", {}, ["Source", "Reason", "Field", "Key", "Value"].map((h) => el("th", {}, h)))),
      el("tbody", {}, invalid.map((r) => el("tr", {}, el("td", { class: "mono" }, `${r.source.topic}[${r.source.partition}]@${r.source.offset}`),
        el("td", {}, r.reason), el("td", {}, r.field ?? ""), el("td", { class: "mono" }, r.key ?? ""), el("td", {}, el("pre", {}, r.value)))))));
}

async function showAccounts() {
  const { accounts } = await api("GET", "/accounts");
  page("Accounts", el("table", { "data-test": "accounts" },
    el("thead", {}, el("tr", {}, ["Account", "Databases", "Collections", "Tokens", "Source"].map((h) => el("th", {}, h)))),
    el("tbody", {}, accounts.map((a) => el("tr", {}, el("td", {}, a.id), el("td", {}, a.databases.join(", ")),
      el("td", {}, Object.entries(a.collections).map(([d, cs]) => `${d}: ${cs.join(", ")}`).join("; ")),
      el("td", {}, a.tokens.map((t) => `${t.id} (${t.role}${t.label ? ", " + t.label : ""})`).join(", ")), el("td", {}, a.source))))),
    el("p", { class: "muted" }, "Issue and revoke tokens with POST /accounts/{id}/tokens and DELETE /accounts/{id}/tokens/{token} (docs/openapi.yaml)."));
}

// -- partitions (repartition mode: `partitions scale N`) ------------------------------------
let partitionsTimer = null;
async function showPartitions() {
  clearTimeout(partitionsTimer);
  const state = await api("GET", "/partitions");
  const scaling = state.scaling;
  const summary = el("dl", { class: "facts", "data-test": "partitions" },
    el("dt", {}, "Mode"), el("dd", {}, state.mode),
    el("dt", {}, "Partitions"), el("dd", { "data-test": "partition-count" }, fmtNum(state.partitions)),
    state.mode === "repartition" ? [el("dt", {}, "Generation"), el("dd", {}, fmtNum(state.generation))] : null);
  const out = el("div", { "data-test": "scale-result" });
  const count = el("input", { type: "number", id: "scale-to", min: 1, max: 1024, value: (state.partitions || 1) * 2 });
  const scale = el("button", { type: "submit", "data-test": "scale" }, "Scale");
  const form = el("form", { class: "card" }, el("h2", {}, "Scale partitions"),
    el("label", { for: "scale-to" }, "New partition count"), count, scale,
    el("p", { class: "muted" }, "A new generation is built while the current one serves, then the stream is cut over; the workers restart into it. Scale the workers to the new count afterwards."),
    out);
  form.addEventListener("submit", busy(scale, async () => {
    try {
      await api("POST", "/partitions/scale", { partitions: Number(count.value) });
      await showPartitions();
    } catch (err) { out.replaceChildren(problem(err)); }
  }));
  let running = null;
  if (scaling) {
    const cancel = el("button", { type: "button", "data-test": "cancel-scale", disabled: !scaling.cancellable }, "Cancel");
    cancel.addEventListener("click", busy(cancel, async () => {
      try { await api("POST", "/partitions/cancel"); await showPartitions(); } catch (err) { running.append(problem(err)); }
    }));
    running = el("section", { class: "card", "data-test": "scaling" },
      el("h2", {}, `Scaling to ${scaling.partitions} partitions`),
      el("progress", { max: 1, value: scaling.progress, "aria-label": "progress" }),
      el("p", {}, `${scaling.phase}: ${Math.round(scaling.progress * 100)} % (${fmtNum(scaling.copied)} of ${fmtNum(scaling.to_copy)} table records copied)`),
      cancel);
    partitionsTimer = setTimeout(() => { if (location.hash === "#/partitions") showPartitions().catch(() => {}); }, 1000);
  }
  const last = state.last ? el("p", { "data-test": "last-scale" },
    `Last scale: ${state.last.outcome}` + (state.last.cut_over_s !== undefined ? `, cut-over ${state.last.cut_over_s} s` : "")) : null;
  page("Partitions", ...[summary, running || form, last].filter(Boolean));
}

// -- start -------------------------------------------------------------------------------------
document.getElementById("signout").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", route);
if (sessionStorage.getItem(TOKEN_KEY)) start().catch(() => {}); else showSignIn();
