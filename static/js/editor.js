// The boundary editor: one township's or village's grids and ten-household groups from the
// draft API, edited with Leaflet-Geoman; every change is one edit of the draft and the
// server's answer is drawn (changed areas, neighbours that followed, the problems in red).
// The History panel compares two versions on the map and rolls back to an earlier one.
// Configuration and strings come from the page's JSON (#editor-config); `window.editor` is
// its state, for the browser tests.

import {api, ApiError, pageConfig} from "./editor/api.js";
import {Areas} from "./editor/areas.js";
import {History} from "./editor/history.js";
import {Panel} from "./editor/panel.js";
import {Tools} from "./editor/tools.js";
import {t} from "./wall/util.js";

const cfg = pageConfig();
const map = window[cfg.map];
const layers = Object.fromEntries(Object.entries(cfg.layers).map(([k, v]) => [k, window[v]]));
const areas = new Areas(map, window[cfg.grids_layer], layers, cfg);
const panel = new Panel(cfg, areas);
const area = encodeURIComponent(cfg.area);

const editor = window.editor = {cfg, map, areas, panel, draft: null, impact: null,
  edits: 0, sent: 0, busy: 0, ready: false, draftId: () => editor.draft?.id ?? null};
let queue = Promise.resolve();  // edits go one after another, in the order they were made

function refused(message) { panel.status(t(cfg, "refused", {message}), "bad"); }

function mark() {
  document.body.dataset.busy = String(editor.busy);
  document.body.dataset.edits = String(editor.edits);
}

// An answer of /edits, /undo, /redo: draw it, list and draw the problems.
function apply(answer) {
  areas.apply(answer.changed, answer.removed);
  areas.drawProblems(answer.problems);
  panel.problems(answer.problems);
  panel.undoRedo(answer.can_undo, answer.can_redo);
  clearImpact();
}

function clearImpact() {
  editor.impact = null;
  panel.impact(null);
  areas.drawImpact(null);
}

// One operation on the open draft; resolves true when the server took it.
function send(path, body) {
  editor.sent += 1;
  editor.busy += 1;
  mark();
  panel.status(t(cfg, "saving"));
  const run = queue.then(async () => {
    try {
      const answer = await api(cfg, "POST", `/drafts/${editor.draft.id}${path}`, body);
      apply(answer);
      editor.edits += 1;
      panel.status(t(cfg, "saved", {n: answer.edit ?? editor.edits}), "ok");
      return true;
    } catch (err) {
      refused(err.message);
      await reload();  // what the client drew but the server refused goes away
      return false;
    } finally {
      editor.busy -= 1;
      mark();
    }
  });
  queue = run.catch(() => false);
  return run;
}

const tools = editor.tools = new Tools(map, areas, cfg, {
  draft: () => editor.draft, refused, reload: () => reload(),
  hold: (n) => { editor.busy += n; mark(); },
  edit: (op) => send("/edits", op),
});

// The History panel: versions, a diff of two on the map, rolling back to an earlier one;
// after a rollback the live grids are drawn again (a draft open is now based on a
// replaced version: it is closed, as after publishing).
const versions = editor.history = new History(cfg, areas, {
  confirm: (text) => panel.confirm(text),
  status: (text, kind) => panel.status(text, kind),
  rolledBack: async (answer, text) => {
    await queue;
    cfg.live_version = answer.version;
    await loadDrafts(null);
    await open(null);
    panel.status(text, "ok");
  },
  // the live version as listed: published elsewhere since the page was opened, the live
  // grids shown read only are drawn again
  live: async (id) => {
    if (id === cfg.live_version) return;
    cfg.live_version = id;
    if (!editor.draft) await queue.then(reload);
  },
});

async function loadContext() {
  const [outline, villages] = await Promise.all([
    api(cfg, "GET", `/areas/${area}`),
    api(cfg, "GET", `/areas?level=village&within=${area}`)]);
  areas.setContext(outline, villages);
}

// A read of a version just published (or rolled back to): a process whose index has not
// switched yet answers 503 version_warming while it builds that version; ask again.
async function readVersion(path, tries = 60) {
  for (let i = 1; ; i++) {
    try {
      return await api(cfg, "GET", path);
    } catch (err) {
      if (i >= tries || !(err instanceof ApiError) || err.code !== "version_warming") throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

// The grids and groups drawn: the open draft's, or the live version's (read only; the one
// the page knows is live, so a publish or rollback made here is drawn at once). A draft
// of an area narrower than the page's (a village's draft on its township's page) is shown
// for its own area.
async function reload() {
  const d = editor.draft;
  const live = cfg.live_version ? `&version=${cfg.live_version}` : "";
  const read = async (where) => {
    const path = (level) => d ? `/drafts/${d.id}/areas?level=${level}&area=${where}`
      : `/areas?level=${level}&within=${where}${live}`;
    return Promise.all([readVersion(path("grid")), readVersion(path("group"))]);
  };
  let grids, groups;
  try {
    [grids, groups] = await read(area);
  } catch (err) {
    if (!d?.area || d.area === cfg.area || !(err instanceof ApiError)) throw err;
    [grids, groups] = await read(encodeURIComponent(d.area));
  }
  for (const collection of [grids, groups]) {
    for (const f of collection.features) f.properties.code ??= f.id;
  }
  areas.setLevel("grid", grids);
  areas.setLevel("group", groups);
  if (d) {
    const problems = await api(cfg, "GET", `/drafts/${d.id}/problems`);
    areas.drawProblems(problems.problems);
    panel.problems(problems.problems);
  } else {
    areas.drawProblems([]);
    panel.problems([]);
  }
}

async function loadDrafts(current) {
  let answer = [];
  try {
    answer = await api(cfg, "GET", "/drafts");
  } catch (err) {
    refused(err.message);  // no draft API (or not allowed): the live grids, read only
  }
  const list = (Array.isArray(answer) ? answer : answer.drafts || answer.items || [])
    .filter((d) => (d.state ?? "draft") === "draft");
  panel.drafts(list, current);
  return list;
}

function remember() {
  const params = new URLSearchParams({area: cfg.area, lang: cfg.lang});
  if (editor.draft) params.set("draft", editor.draft.id);
  history.replaceState(null, "", `?${params}`);
  const other = cfg.lang === "zh" ? "en" : "zh";
  params.set("lang", other);
  document.getElementById("ed-lang").setAttribute("href", `?${params}`);
}

async function open(id) {
  panel.status(t(cfg, "loading"));
  clearImpact();
  panel.clearPublish();
  tools.cancel();
  editor.draft = id ? await api(cfg, "GET", `/drafts/${id}`) : null;
  panel.drafting(Boolean(editor.draft));
  panel.undoRedo(editor.draft?.can_undo, editor.draft?.can_redo);
  panel.picker.value = id ? String(id) : "";
  remember();
  await reload();
  const d = editor.draft;
  if (!d) panel.status(t(cfg, "no_draft"));
  else if (d.live_version != null && d.base_version !== d.live_version) {
    panel.status(t(cfg, "draft_stale", {base: d.base_version, live: d.live_version}), "bad");
  } else panel.status(t(cfg, "draft_label", {id: d.id, author: d.author ?? "",
    note: d.note ?? ""}));
}

async function create() {
  const note = document.getElementById("ed-note").value.trim();
  try {
    const draft = await api(cfg, "POST", "/drafts", {note, area: cfg.area});
    await loadDrafts(draft.id);
    await open(draft.id);
    panel.status(t(cfg, "draft_created", {id: draft.id}), "ok");
  } catch (err) { refused(err.message); }
}

async function showImpact() {
  if (!editor.draft) return null;
  panel.status(t(cfg, "loading"));
  try {
    const impact = editor.impact = await api(cfg, "GET", `/drafts/${editor.draft.id}/impact`);
    panel.impact(impact);
    areas.drawImpact(impact.features);
    panel.status(panel.summary(impact), "ok");
    return impact;
  } catch (err) {
    refused(err.message);
    return null;
  }
}

async function publish() {
  if (!editor.draft) return;
  await queue;
  const impact = editor.impact || await showImpact();
  const ok = await panel.confirm(t(cfg, "publish_confirm", {id: editor.draft.id,
    summary: impact ? panel.summary(impact) : ""}));
  if (!ok) return;
  const note = document.getElementById("ed-publish-note").value.trim();
  try {
    const answer = await api(cfg, "POST", `/drafts/${editor.draft.id}/publish`,
      note ? {note} : {});
    cfg.live_version = answer.version;
    await loadDrafts(null);
    await open(null);
    await versions.refresh();
    panel.published(answer);
    panel.status(t(cfg, "published", {version: answer.version,
      households: answer.households_moved ?? 0, cases: answer.cases_moved ?? 0}), "ok");
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      panel.stale(err.message, err.detail?.changed ?? err.detail);
      panel.status(err.message, "bad");
    } else refused(err.message);
  }
}

function wire() {
  panel.picker.addEventListener("change", () => open(Number(panel.picker.value) || null)
    .catch(fail));
  document.getElementById("ed-new").addEventListener("click", create);
  document.getElementById("ed-undo").addEventListener("click", () => send("/undo"));
  document.getElementById("ed-redo").addEventListener("click", () => send("/redo"));
  document.getElementById("ed-impact-load").addEventListener("click", showImpact);
  document.getElementById("ed-publish-open").addEventListener("click", publish);
}

function fail(err) {
  console.error(err);
  refused(err.message);
}

async function start() {
  wire();
  await loadContext();
  await loadDrafts(cfg.draft);
  try {
    await open(cfg.draft);
  } catch (err) {
    refused(err.message);  // a draft that is gone or not the caller's: start without one
    await open(null);
  }
  areas.fit();
  editor.ready = true;
  document.body.dataset.ready = "1";
  mark();
}

start().catch((err) => { fail(err); document.body.dataset.ready = "error"; });
