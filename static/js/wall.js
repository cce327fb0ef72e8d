// The command center's wall: fills the layers folium drew with the JSON API, then keeps
// them current from the event stream. Everything it needs to know (API base, area, role,
// strings in the page's language, the names folium gave the map and its layers) is in the
// page's JSON (#wall-config). `window.wall` is its state, for the browser tests.

import {Areas} from "./wall/areas.js";
import {Callouts} from "./wall/callouts.js";
import {Cases} from "./wall/cases.js";
import {Cycle} from "./wall/cycle.js";
import {Dispatch} from "./wall/dispatch.js";
import {Panel} from "./wall/panel.js";
import {Stream} from "./wall/stream.js";
import {pageConfig} from "./wall/util.js";
import {Workers} from "./wall/workers.js";

const cfg = pageConfig();
const map = window[cfg.map];
const layers = Object.fromEntries(Object.entries(cfg.layers).map(([k, v]) => [k, window[v]]));
const panel = new Panel(cfg);
const areas = new Areas(map, layers, cfg);
const cases = new Cases(window[cfg.cases_layer], areas, cfg);
const workers = new Workers(map, layers.workers, layers.offline, cfg);
const callouts = new Callouts(map, areas, cfg);
// Only a dispatcher's (or admin's) page is handed a CSRF token, and only it has controls.
const dispatch = cfg.csrf ? new Dispatch(map, cases, workers, callouts, cfg) : null;
// `?cycle=N`: a tour of the child areas; a dispatcher busy with a case holds it.
const cycle = cfg.cycle ? new Cycle(map, areas, cfg,
  () => Boolean(dispatch?.report || dispatch?.callout)) : null;
const wall = window.wall = {cfg, map, areas, cases, workers, panel, callouts, dispatch, cycle,
  events: 0, ready: false};

let pending = [];  // events that arrive while the first snapshot loads, applied after it
let refreshTimer = null;
function refreshSoon(delay = 800) {  // figures are aggregates: fetch them, a burst at once
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => panel.refresh().catch(lost), delay);
}

function apply(kind, data) {
  wall.events += 1;
  if (kind.startsWith("report.")) {
    cases.upsert(data);
    areas.caseChanged();
    dispatch?.changed(data);
    if (kind === "report.created") panel.countReport();
    const where = areas.gridLayers.get(data.area)?.feature?.properties?.name || data.area;
    panel.note(kind, `${t("class." + data.report_class)} · ${data.subtype} · ${where}`);
    refreshSoon();
  } else if (kind.startsWith("callout.")) {
    callouts.onEvent(kind, data);
    if (kind !== "callout.called") panel.note(kind, data.message || data.worker || data.id.slice(0, 8));
  } else if (kind.startsWith("worker.")) {
    workers.upsert(data);
    callouts.onEvent(kind, data);
    if (kind !== "worker.moved") panel.note(kind, `${data.code} · ${t("worker." + data.status)}`);
    if (kind === "worker.entered") areas.loadUnvisited().catch(lost);
    if (kind === "worker.status") refreshSoon();
  } else if (kind === "reset") {  // missed events were pruned: reload the whole picture
    location.reload();
  } else if (kind === "boundary.published") {
    panel.note(kind, String(data.version));
    setTimeout(() => location.reload(), 2000);  // new geometry: start afresh
  }
}

function t(key) { return cfg.strings[key] ?? key.split(".").pop(); }

function onEvent(kind, data) {
  if (pending) pending.push([kind, data]); else apply(kind, data);
}

// A read that fails means the link is gone even if the stream has not noticed yet.
function lost() { if (stream.up) stream.restart(); }

const url = `${cfg.api}/events${cfg.area ? `?area=${encodeURIComponent(cfg.area)}` : ""}`;
let opened;
const firstOpen = new Promise((resolve) => { opened = resolve; });
const stream = wall.stream = new Stream(url, {
  onEvent,
  onUp: (again) => {
    panel.up();
    opened();
    if (again && !pending) {  // back after an outage: the replay brings events; figures anew
      refreshSoon(200);
      areas.caseChanged();
      if (!stream.lastId) {
        cases.load().catch(lost); workers.load().catch(lost); callouts.load().catch(lost);
      }
    }
  },
  onDown: () => panel.down(),
});

async function start() {
  // Subscribe first, then read the snapshot: nothing between the two is missed.
  await Promise.race([firstOpen, new Promise((r) => setTimeout(r, 3000))]);
  // Every read at once, each drawn as it arrives: cases and workers need no geometry (a
  // grid's count waits in `areas.counts` for its polygon); a call-out on a whole grid
  // draws that grid's outline, so call-outs wait for the areas.
  const drawn = areas.load();
  await Promise.all([drawn, drawn.then(() => callouts.load()), cases.load(), workers.load(),
    panel.refresh(), areas.loadUnvisited()]);
  const early = pending;
  pending = null;
  for (const [kind, data] of early) apply(kind, data);
  wall.ready = true;
  document.body.dataset.ready = "1";
  setInterval(() => panel.refresh().catch(lost), 60_000);
  setInterval(() => areas.loadTotals().catch(lost), 60_000);
  cycle?.start().catch(lost);
  setInterval(() => areas.loadUnvisited().catch(lost), 300_000);
}

// A first picture that failed to load (a read refused or lost) is not left half drawn:
// the wall says it is down and starts afresh.
start().catch((err) => {
  console.error(err);
  document.body.dataset.ready = "error";
  panel.down();
  setTimeout(() => location.reload(), 5000);
});
