// Geoman's toolbar turned into draft edits. The client draws; the server decides: every
// change is sent as one operation of the draft API and what it answers is drawn again
// (a shared vertex moved for every grid that has it, neighbours that lost or gained).
//   draw a polygon    -> {"op": "add", ...} after the planner names it
//   drag a vertex     -> {"op": "move_vertex", "at", "to"} (a vertex added or removed:
//                        {"op": "reshape", "geometry"})
//   cut (a line)      -> {"op": "split", "code", "line", "new_code", "new_name"}
//   merge (2 clicks)  -> {"op": "merge", "codes", "into"}
//   removal mode      -> {"op": "delete", "code"}

import {el, fromMap, t} from "../wall/util.js";
import {covers, mapCoords} from "./api.js";

export class Tools {
  constructor(map, areas, cfg, editor) {
    this.map = map;
    this.areas = areas;
    this.cfg = cfg;
    this.editor = editor;      // {edit(op), status(text, kind), draft()}
    this.selected = [];        // grids picked for a merge
    this.pending = null;       // a drawn shape waiting for its form: {kind, layer, ...}
    this.form = document.getElementById("ed-form");
    this.mergeBox = document.getElementById("ed-merge");
    this.toWgs = (latlng) => fromMap(cfg, latlng);
    areas.onGrid = (layer) => this.wire(layer);
    this.toolbar();
    map.on("pm:create", (e) => this.created(e));
    map.on("pm:remove", (e) => this.removed(e));
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.submit(); });
    this.form.querySelector("[data-do=cancel]").addEventListener("click", () => this.cancel());
    this.mergeBox.querySelector("[data-do=merge]").addEventListener("click", () => this.merge());
    this.mergeBox.querySelector("[data-do=cancel]").addEventListener("click",
      () => this.endMerge(true));
  }

  toolbar() {
    const pm = this.map.pm;
    pm.setLang(this.cfg.lang === "zh" ? "zh" : "en");
    pm.setGlobalOptions({snappable: true, snapDistance: this.cfg.snap_px, snapSegment: true,
      allowSelfIntersection: false, continueDrawing: false,
      pathOptions: {color: this.cfg.colours.grid_changed, weight: 3}});
    pm.Toolbar.copyDrawControl("Line", {name: "split", block: "edit",
      title: t(this.cfg, "tool.split"), className: "ed-split-icon"});
    pm.Toolbar.createCustomControl({name: "merge", block: "edit",
      title: t(this.cfg, "tool.merge"), className: "ed-merge-icon", toggle: true,
      afterClick: () => this.mergeToggled()});
  }

  mergeOn() { return Boolean(this.map.pm.Toolbar.buttons.merge?.toggled()); }

  // Each grid drawn: its edits become operations; a click picks it for a merge.
  wire(layer) {
    layer.on("pm:edit", () => this.edited(layer));
    layer.on("click", () => this.clicked(layer));
  }

  // After Geoman's edit events of one gesture settle: one vertex moved (the server moves
  // it for every grid that shares it) or a new outline (vertices added or removed).
  edited(layer) {
    if (layer.editTimer) clearTimeout(layer.editTimer);
    else this.editor.hold(1);  // busy from the gesture on, for whoever waits for answers
    layer.editTimer = setTimeout(() => {
      layer.editTimer = null;
      this.editor.hold(-1);
      this.flush(layer);
    }, 30);
  }

  flush(layer) {
    if (this.areas.gridLayers.get(layer.code) !== layer) return null;  // redrawn since
    if (!this.editor.draft()) return this.editor.refused(t(this.cfg, "no_draft"));
    const geometry = this.geometry(layer);
    const moved = movedVertex(layer.feature.geometry.coordinates, geometry.coordinates);
    if (moved === null) return null;  // nothing changed
    if (moved) return this.editor.edit({op: "move_vertex", level: "grid", ...moved});
    return this.editor.edit({op: "reshape", code: layer.code, geometry});
  }

  geometry(layer) {
    const g = layer.toGeoJSON(15).geometry;
    return {type: g.type, coordinates: mapCoords(g.coordinates, this.toWgs)};
  }

  created(e) {
    const layer = e.layer;
    if (!this.editor.draft()) {
      layer.remove();
      return this.editor.refused(t(this.cfg, "no_draft"));
    }
    if (e.shape === "split") return this.startSplit(layer);
    if (e.shape !== "Polygon") return layer.remove();
    const geometry = this.geometry(layer);
    this.pending = {kind: "add", layer, geometry};
    const centre = this.toWgs(layer.getBounds().getCenter());
    const village = this.areas.villages.find((v) => covers(v.geometry, centre));
    const parent = village?.properties.code ?? village?.id ??
      (this.cfg.area_level === "village" ? this.cfg.area : this.areas.villages[0]?.id);
    this.openForm("add", t(this.cfg, "new_grid"), t(this.cfg, "new_grid_hint"),
      this.nextCode(parent), parent);
    return null;
  }

  // The grid a cutting line crosses: the one holding most of it (sampled along the line).
  startSplit(layer) {
    const line = this.geometry(layer);
    const votes = new Map();
    const points = line.coordinates;
    for (let i = 1; i < points.length; i++) {
      for (let s = 0; s <= 20; s++) {
        const f = s / 20;
        const p = [points[i - 1][0] + f * (points[i][0] - points[i - 1][0]),
          points[i - 1][1] + f * (points[i][1] - points[i - 1][1])];
        for (const [code, grid] of this.areas.gridLayers) {
          if (covers(grid.feature.geometry, p)) votes.set(code, (votes.get(code) || 0) + 1);
        }
      }
    }
    const best = [...votes].sort((a, b) => b[1] - a[1])[0];
    if (!best) {
      layer.remove();
      return this.editor.refused(t(this.cfg, "split_none"));
    }
    const code = best[0];
    const parent = this.areas.gridLayers.get(code).feature.properties.parent_code;
    this.pending = {kind: "split", layer, line, code};
    this.openForm("split", `${t(this.cfg, "tool.split")}: ${code}`, t(this.cfg, "split_name"),
      this.nextCode(parent), parent);
    return null;
  }

  // The next free grid code under a village: village code + 3 digits.
  nextCode(parent) {
    if (!parent) return "";
    let n = 1;
    for (const code of this.areas.gridLayers.keys()) {
      if (code.startsWith(parent) && code.length === parent.length + 3) {
        n = Math.max(n, Number(code.slice(parent.length)) + 1);
      }
    }
    return parent + String(n).padStart(3, "0");
  }

  openForm(kind, title, hint, code, parent) {
    const f = this.form;
    f.dataset.kind = kind;
    document.getElementById("ed-form-title").textContent = title;
    document.getElementById("ed-form-hint").textContent = hint;
    f.elements.code.value = code;
    f.elements.name.value = "";
    const select = f.elements.parent_code;
    select.replaceChildren(...this.areas.villages.map((v) => {
      const vcode = v.properties.code ?? v.id;
      return el("option", {value: vcode}, `${v.properties.name} · ${vcode}`);
    }));
    if (parent) select.value = parent;
    f.querySelector("[data-for=add]").hidden = kind !== "add";
    f.hidden = false;
    f.elements.name.focus();
  }

  async submit() {
    const p = this.pending;
    if (!p) return;
    const f = this.form.elements;
    const op = p.kind === "add"
      ? {op: "add", level: "grid", code: f.code.value.trim(), name: f.name.value.trim(),
        parent_code: f.parent_code.value, geometry: p.geometry}
      : {op: "split", code: p.code, line: p.line, new_code: f.code.value.trim(),
        new_name: f.name.value.trim()};
    const ok = await this.editor.edit(op);
    if (ok) this.cancel();
  }

  cancel() {
    this.pending?.layer.remove();
    this.pending = null;
    this.form.hidden = true;
  }

  removed(e) {
    const layer = e.layer;
    if (!layer?.code || this.areas.gridLayers.get(layer.code) !== layer) return;
    this.areas.gridLayers.delete(layer.code);  // the server's answer confirms or restores
    if (!this.editor.draft()) {
      this.editor.refused(t(this.cfg, "no_draft"));
      this.editor.reload();
      return;
    }
    this.editor.edit({op: "delete", code: layer.code});
  }

  mergeToggled() {
    if (this.mergeOn()) {
      this.selected = [];
      this.mergeBox.hidden = false;
      this.showMerge();
    } else {
      this.endMerge(false);
    }
  }

  clicked(layer) {
    if (!this.mergeOn()) return;
    const i = this.selected.indexOf(layer.code);
    if (i >= 0) this.selected.splice(i, 1);
    else this.selected = [...this.selected, layer.code].slice(-2);
    this.showMerge();
  }

  showMerge() {
    for (const [code, layer] of this.areas.gridLayers) {
      layer.setStyle(this.areas.gridStyle(layer.feature, this.selected.includes(code)));
    }
    const [into, other] = this.selected;
    const name = (code) => this.areas.gridLayers.get(code)?.feature.properties.name ?? code;
    document.getElementById("ed-merge-text").textContent = other
      ? t(this.cfg, "merge_ready", {a: name(other), b: name(into)}) : t(this.cfg, "merge_pick");
    this.mergeBox.querySelector("[data-do=merge]").disabled = !other;
  }

  async merge() {
    const [into, other] = this.selected;
    if (!other) return;
    const ok = await this.editor.edit({op: "merge", codes: [into, other], into});
    if (ok) this.endMerge(true);
  }

  endMerge(untoggle) {
    this.selected = [];
    this.showMerge();
    this.mergeBox.hidden = true;
    if (untoggle && this.mergeOn()) this.map.pm.Toolbar.toggleButton("merge", false);
  }
}

// How a drawn outline differs from the server's: null (not at all), {at, to} (one vertex
// moved, perhaps the first and last of a ring), or false (anything else).
function movedVertex(before, after) {
  const flat = (c) => (typeof c[0] === "number" ? [c] : c.flatMap(flat));
  const a = flat(before), b = flat(after);
  if (a.length !== b.length) return false;
  const same = (p, q) => Math.abs(p[0] - q[0]) < 1e-7 && Math.abs(p[1] - q[1]) < 1e-7;
  let moved = null;
  for (let i = 0; i < a.length; i++) {
    if (same(a[i], b[i])) continue;
    if (moved && !(same(moved.at, a[i]) && same(moved.to, b[i]))) return false;
    moved = {at: a[i], to: b[i]};
  }
  return moved;
}
