// The dispatcher's controls on the wall (only a dispatcher's or an admin's page has them):
// a click on a case shows who can be sent (lines to their markers, a list with distances)
// and assigns, auto-assigns, escalates or merges it into its suggested original; a click
// on the map sets a call-out's centre (and the grid under it), the form sends it. Results
// reach every wall through the event stream; this page only says what the server answered.

import {el, fromMap, getJSON, postJSON, t, toMap} from "./util.js";

export class Dispatch {
  constructor(map, cases, workers, callouts, cfg) {
    Object.assign(this, {map, cases, workers, callouts, cfg});
    this.lines = L.layerGroup().addTo(map);  // candidate lines and distances
    this.draft = L.layerGroup().addTo(map);  // the call-out being drawn
    this.report = null;       // the selected case as GET /reports/{id} gave it
    this.highlighted = [];    // worker codes marked as candidates
    const $ = (id) => document.getElementById(id);
    this.caseLine = $("wall-dispatch-case");
    this.actions = $("wall-dispatch-actions");
    this.list = $("wall-candidates");
    this.result = $("wall-dispatch-result");
    this.form = $("wall-callout-form");
    this.where = $("wall-callout-where");
    this.actions.addEventListener("click", (e) => this.onAction(e.target.dataset.do));
    this.list.addEventListener("click", (e) => {
      if (e.target.dataset.worker) this.assign({worker: e.target.dataset.worker});
    });
    cases.onSelect = (id) => this.select(id).catch((err) => this.say("dispatch.failed",
      {message: err.message}));
    this.callout = null;      // the call-out being drawn: {lon, lat, area}
    map.on("click", (e) => this.place(e));
    // A grid's own click (its SVG path takes it: the map hears only clicks beside the grids)
    cases.areas.layers.grids.on("click", (e) => this.place(e));
    this.form.addEventListener("input", () => this.preview());
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.callOut(); });
    this.form.querySelector("[data-do=cancel]").addEventListener("click", () => this.clearCallout());
  }

  say(key, values) {
    this.result.textContent = t(this.cfg, key, values);
    this.result.dataset.state = key;
  }

  // Show a case and who can be sent to it (on a click on its marker).
  async select(id) {
    const path = `/reports/${encodeURIComponent(id)}`;
    const [report, found] = await Promise.all([getJSON(this.cfg, path),
      getJSON(this.cfg, `${path}/candidates?limit=10`)]);
    this.report = report;
    this.caseLine.textContent = `${t(this.cfg, `class.${report.class}`)} · ${report.subtype} · `
      + `${report.owner.name} · ${t(this.cfg, `status.${report.status}`)}`;
    this.caseLine.dataset.report = id;
    this.actions.hidden = false;
    const may = new Set(report.allowed_actions);
    const canAssign = may.has("assign") || may.has("accept");
    this.actions.querySelector("[data-do=auto]").hidden = !canAssign;
    this.actions.querySelector("[data-do=escalate]").hidden = !may.has("escalate");
    const merge = this.actions.querySelector("[data-do=merge]");
    merge.hidden = !report.suggested_duplicate_of || !may.has("merge");
    merge.textContent = t(this.cfg, "dispatch.merge",
      {id: (report.suggested_duplicate_of || "").slice(0, 8)});
    this.drawCandidates(report, found.candidates);
  }

  // A report event: the selected case changed (here or on another desk), read it again
  // so the next action sends the version it now has.
  changed(r) {
    if (!this.report || r.id !== this.report.id || r.version <= this.report.version) return;
    if (this.cfg.open_statuses.includes(r.status)) this.select(r.id).catch(() => {});
    else this.clearCase();
  }

  drawCandidates(report, candidates) {
    this.lines.clearLayers();
    this.unhighlight();
    const from = toMap(this.cfg, report.lon, report.lat);
    const rows = candidates.map((c) => {
      const km = t(this.cfg, "dispatch.km", {km: (c.distance_m / 1000).toFixed(1)});
      const at = this.workers.known.get(c.code)?.marker.getLatLng();
      if (at) {
        this.lines.addLayer(L.polyline([from, at], {color: c.own_team ? "#4ade80" : "#8fb4ff",
          weight: 3, dashArray: "6 6", interactive: false}));
        this.lines.addLayer(L.tooltip({permanent: true, direction: "center",
          className: "candidate-distance"}).setLatLng(L.latLngBounds(from, at).getCenter())
          .setContent(km));
        this.workers.mark(c.code, true);
        this.highlighted.push(c.code);
      }
      const team = c.own_team ? ` · ${t(this.cfg, "dispatch.own_team")}` : "";
      return el("li", {"data-candidate": c.code},
        el("button", {type: "button", "data-worker": c.code}, t(this.cfg, "dispatch.assign")),
        ` ${c.name || c.code} · ${t(this.cfg, `role.${c.role}`)} · ${km}${team} · `
        + t(this.cfg, "open_cases", {n: c.open_cases}));
    });
    if (!rows.length) rows.push(el("li", {}, t(this.cfg, "dispatch.none")));
    this.list.replaceChildren(...rows);
    document.body.dataset.candidates = String(candidates.length);
  }

  unhighlight() {
    for (const code of this.highlighted) this.workers.mark(code, false);
    this.highlighted = [];
  }

  onAction(what) {
    if (!this.report || !what) return;
    if (what === "auto") this.assign({auto: true});
    else if (what === "escalate") this.act({action: "escalate"});
    else if (what === "merge") this.act({action: "merge", into: this.report.suggested_duplicate_of});
  }

  // A case nobody has taken on yet (reported, escalated, returned, reopened) is accepted
  // first: the workflow assigns only accepted cases; both steps go into its history.
  async assign(body) {
    if (!this.report.allowed_actions.includes("assign")) {
      const ok = await this.act({action: "accept"});
      if (!ok || !this.report?.allowed_actions.includes("assign")) return;
    }
    await this.send(`/reports/${encodeURIComponent(this.report.id)}/assign`, body,
      (answer) => answer.report);
  }

  act(body) {
    return this.send(`/reports/${encodeURIComponent(this.report.id)}/actions`, body,
      (answer) => answer);
  }

  // One write at the version this page saw; true when the server took it.
  async send(path, body, reportOf) {
    const id = this.report.id;
    try {
      const report = reportOf(await postJSON(this.cfg, path, {...body, version: this.report.version}));
      this.say("dispatch.done", {status: t(this.cfg, `status.${report.status}`)});
      if (this.cfg.open_statuses.includes(report.status)) await this.select(id);
      else this.clearCase();
      return true;
    } catch (err) {
      this.say("dispatch.failed", {message: err.message});
      return false;
    }
  }

  clearCase() {
    this.report = null;
    this.lines.clearLayers();
    this.unhighlight();
    this.list.replaceChildren();
    this.actions.hidden = true;
    this.caseLine.textContent = t(this.cfg, "dispatch.pick");
    delete this.caseLine.dataset.report;
  }

  // A click on the map: the call-out's centre, and the grid under it for a whole-grid one.
  place(e) {
    if (e.originalEvent?._stopped) return;  // a township's or county's drill-down
    const [lon, lat] = fromMap(this.cfg, e.latlng);
    const area = e.sourceTarget?.feature?.id ?? null;  // a grid polygon (the grids pane)
    this.callout = {lon, lat, area};
    this.where.textContent = `${lon.toFixed(5)}, ${lat.toFixed(5)}${area ? ` · ${area}` : ""}`;
    this.form.querySelector("[type=submit]").disabled = false;
    this.preview();
  }

  fields() {
    const f = this.form.elements;
    return {radius: Number(f.radius_m.value), whole: f.whole_area.checked,
      message: f.message.value.trim()};
  }

  preview() {
    if (!this.callout) return;
    const {radius, whole} = this.fields();
    const centre = toMap(this.cfg, this.callout.lon, this.callout.lat);
    this.draft.clearLayers();
    const grid = whole && this.callout.area ? this.cases.areas.gridLayers.get(this.callout.area) : null;
    const style = {color: "#ffb020", weight: 2, dashArray: "2 6", fill: false, interactive: false};
    this.callout.preview = grid ? L.polygon(grid.getLatLngs(), style)
      : L.circle(centre, {radius: radius || 0, ...style});
    this.draft.addLayer(this.callout.preview);
  }

  async callOut() {
    if (!this.callout) return;
    const {radius, whole, message} = this.fields();
    const {lon, lat, area} = this.callout;
    const body = whole && area ? {area, lon, lat, message} : {lon, lat, radius_m: radius, message};
    try {
      const view = await postJSON(this.cfg, "/callouts", body);
      this.callouts.show(view);  // the stream brings it to the other walls (and again here)
      this.say("dispatch.done", {status: t(this.cfg, "callout.called", {n: view.counts.called})});
      this.clearCallout();
    } catch (err) {
      this.say("dispatch.failed", {message: err.message});
    }
  }

  clearCallout() {
    this.draft.clearLayers();
    this.callout = null;
    this.where.textContent = t(this.cfg, "callout.click");
    this.form.querySelector("[type=submit]").disabled = true;
  }
}
