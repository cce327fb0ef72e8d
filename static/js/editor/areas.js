// What the editor draws: the draft's grids (Geoman edits these), its ten-household groups,
// the area's outline and villages, the draft's problems in red, the impact's moved points
// and a diff of two versions (History).
// Every feature comes from the server; an answer to an edit replaces the areas it names.

import {t, toMap} from "../wall/util.js";

export class Areas {
  constructor(map, grids, layers, cfg) {
    this.map = map;
    this.grids = grids;        // L.FeatureGroup: Geoman's editable group
    this.layers = layers;      // context, groups, problems, impact
    this.cfg = cfg;
    this.svg = L.svg({padding: 0.5});  // the page prefers canvas; edited shapes are SVG
    this.gridLayers = new Map();   // code -> L.Polygon
    this.groupLayers = new Map();  // code -> L.Polygon
    this.villages = [];            // GeoJSON features of the area's villages
    this.problems = [];
    this.onGrid = () => {};        // set by the tools: (layer) -> wire its events
  }

  toLatLng(c) { return toMap(this.cfg, c[0], c[1]); }

  shape(feature, options) {
    const layer = L.GeoJSON.geometryToLayer(feature, {
      coordsToLatLng: (c) => this.toLatLng(c), ...options});
    layer.feature = feature;
    layer.code = feature.properties.code ?? feature.id;
    return layer;
  }

  gridStyle(feature, selected = false) {
    const c = this.cfg.colours;
    return {color: selected ? c.selected : feature.properties.changed ? c.grid_changed : c.grid,
      weight: selected ? 5 : 2.5, fillColor: selected ? c.selected : c.grid,
      fillOpacity: selected ? 0.35 : 0.12, renderer: this.svg};
  }

  // Grids and groups of one level, replacing what is drawn (a draft opened, a reload).
  setLevel(level, collection) {
    const known = level === "grid" ? this.gridLayers : this.groupLayers;
    for (const code of [...known.keys()]) this.remove(code, level);
    for (const feature of collection.features) this.put(feature, level);
    this.count();
  }

  put(feature, level = feature.properties.level) {
    if (level !== "grid" && level !== "group") return;
    const code = feature.properties.code ?? feature.id;
    feature.properties.code = code;
    this.remove(code, level);
    if (level === "grid") {
      const layer = this.shape(feature, this.gridStyle(feature));
      layer.bindTooltip(() => `${feature.properties.name} · ${code}` +
        (feature.properties.changed ? ` · ${t(this.cfg, "changed")}` : ""), {sticky: true});
      this.gridLayers.set(code, layer);
      this.grids.addLayer(layer);
      layer.getElement?.()?.setAttribute("data-grid", code);
      this.onGrid(layer);
      // Geoman's edit mode covers the grids it found when it was switched on: a grid
      // drawn again from an answer joins it
      if (this.map.pm.globalEditModeEnabled()) layer.pm.enable(this.map.pm.getGlobalOptions());
    } else {
      const layer = this.shape(feature, {pane: "groups", color: this.cfg.colours.group,
        weight: 1.2, dashArray: "5 5", fill: false, interactive: false, pmIgnore: true,
        snapIgnore: true, renderer: this.svgIn("groups")});
      this.groupLayers.set(code, layer);
      this.layers.groups.addLayer(layer);
    }
  }

  svgIn(pane) {
    this.renderers = this.renderers || {};
    return this.renderers[pane] ||= L.svg({pane, padding: 0.5});
  }

  remove(code, level) {
    for (const [lvl, known, group] of [["grid", this.gridLayers, this.grids],
      ["group", this.groupLayers, this.layers.groups]]) {
      if (level && level !== lvl) continue;
      const layer = known.get(code);
      if (!layer) continue;
      layer.pm?.disable?.();
      group.removeLayer(layer);
      known.delete(code);
    }
  }

  // An edit's answer: the areas that changed (neighbours and regrouped groups too) and the
  // codes that are gone.
  apply(changed, removed) {
    for (const feature of changed?.features || []) this.put(feature);
    for (const code of removed || []) this.remove(code);
    this.count();
  }

  count() {
    document.body.dataset.grids = String(this.gridLayers.size);
    document.body.dataset.groups = String(this.groupLayers.size);
  }

  setContext(outline, villages) {
    const layer = this.layers.context;
    layer.clearLayers();
    this.villages = villages.features;
    const style = {pane: "context", color: this.cfg.colours.context, fill: false,
      interactive: false, pmIgnore: true, renderer: this.svgIn("context")};
    for (const feature of villages.features) {
      layer.addLayer(this.shape(feature, {...style, weight: 2, dashArray: "10 6"}));
    }
    if (outline) layer.addLayer(this.shape(outline, {...style, weight: 4}));
  }

  fit() {
    const bounds = L.latLngBounds([]);
    for (const g of [this.layers.context, this.grids]) {
      const b = g.getBounds();
      if (b.isValid()) bounds.extend(b);
    }
    if (bounds.isValid()) this.map.fitBounds(bounds, {padding: [20, 20]});
  }

  // The draft's problems in red: a problem's own geometry (the overlap, the gap, the
  // invalid spot), or else the outline of the area it names.
  drawProblems(problems) {
    this.problems = problems || [];
    const layer = this.layers.problems;
    layer.clearLayers();
    const colour = this.cfg.colours.problem;
    const style = {pane: "problems", color: colour, weight: 4, fillColor: colour,
      fillOpacity: 0.45, interactive: false, pmIgnore: true, snapIgnore: true,
      renderer: this.svgIn("problems")};
    this.problems.forEach((problem, i) => {
      let shape = null;
      if (problem.geometry) {
        shape = problem.geometry.type === "Point"
          ? L.circleMarker(this.toLatLng(problem.geometry.coordinates), {...style, radius: 10})
          : L.GeoJSON.geometryToLayer({type: "Feature", geometry: problem.geometry},
            {coordsToLatLng: (c) => this.toLatLng(c), ...style});
      } else {
        const area = this.gridLayers.get(problem.code) || this.groupLayers.get(problem.code);
        if (area) shape = L.polygon(area.getLatLngs(), {...style, fillOpacity: 0.2});
      }
      if (shape) {
        shape.problem = i;
        layer.addLayer(shape);
      }
    });
    document.body.dataset.problems = String(this.problems.length);
  }

  problemBounds(i) {
    let bounds = null;
    this.layers.problems.eachLayer((l) => { if (l.problem === i) bounds = l.getBounds?.(); });
    return bounds;
  }

  // A diff of two versions (History): each added (green), removed (red, its old outline)
  // and reshaped (orange, its new outline) area; the layers keep their feature.
  drawDiff(features) {
    const layer = this.layers.history;
    layer.clearLayers();
    for (const feature of features?.features || []) {
      const change = feature.properties?.change;
      const colour = this.cfg.colours[change];
      if (!colour || !feature.geometry) continue;
      feature.properties.code ??= feature.id;
      layer.addLayer(this.shape(feature, {pane: "history", color: colour, weight: 4,
        dashArray: change === "removed" ? "8 6" : null, fillColor: colour, fillOpacity: 0.12,
        interactive: false, pmIgnore: true, snapIgnore: true,
        renderer: this.svgIn("history")}));
    }
    document.body.dataset.diff = String(layer.getLayers().length);
  }

  diffBounds(code) {
    let bounds = null;
    this.layers.history.eachLayer((l) => {
      if (l.code === code) bounds = bounds ? bounds.extend(l.getBounds()) : l.getBounds();
    });
    return bounds;
  }

  // The impact preview's moved points (households by code, cases by id, ...).
  drawImpact(features) {
    const layer = this.layers.impact;
    layer.clearLayers();
    const colours = this.cfg.colours;
    for (const feature of features?.features || []) {
      if (feature.geometry?.type !== "Point") continue;
      const p = feature.properties || {};
      const kind = p.kind || p.type || "household";
      const colour = colours[kind] || colours[kind + "_point"] || colours.household;
      const marker = L.circleMarker(this.toLatLng(feature.geometry.coordinates), {
        pane: "impact", radius: 6, color: "#fff", weight: 1.5, fillColor: colour,
        fillOpacity: 0.95, pmIgnore: true, snapIgnore: true, renderer: this.svgIn("impact")});
      const label = p.code ?? p.id ?? feature.id ?? "";
      marker.bindTooltip(`${t(this.cfg, kind)} ${label}: ${p.from ?? "–"} → ${p.to ?? "–"}`);
      layer.addLayer(marker);
    }
    document.body.dataset.moved = String(layer.getLayers().length);
  }
}
