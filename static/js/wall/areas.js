// Grids shaded by open caseload, township and county outlines with labels, the grids
// nobody walked today; geometry simplified for the zoom in use (fetched once per tier).

import {areaQuery, getJSON, t, toMap} from "./util.js";

// zoom below -> simplification tolerance (metres) of the geometry drawn
const TIERS = [[9, 300], [12, 50], [99, 5]];

function tier(zoom) { return TIERS.find(([below]) => zoom < below)[1]; }

export class Areas {
  constructor(map, layers, cfg) {
    this.map = map;
    this.layers = layers;
    this.cfg = cfg;
    this.load_ = new Map();       // tolerance -> Promise of {grids, townships, counties}
    this.gridLayers = new Map();  // grid code -> L.Polygon
    this.counts = new Map();      // grid code -> open cases
    this.unvisited = new Set();
    this.tolerance = null;
    this.style = (code) => ({pane: "grids", weight: 0.6, color: "#3a4d6b", fillOpacity: 0.75,
      fillColor: this.colour(this.counts.get(code) || 0)});
    map.on("zoomend", () => this.draw(tier(map.getZoom())));
  }

  colour(n) {
    let colour = this.cfg.caseload[0].colour;
    for (const bin of this.cfg.caseload) if (n >= bin.min) colour = bin.colour;
    return colour;
  }

  fetch(tolerance) {
    if (!this.load_.has(tolerance)) {
      const within = this.cfg.area ? `&within=${encodeURIComponent(this.cfg.area)}` : "";
      const level = (name) => getJSON(this.cfg,
        `/areas?level=${name}&simplify=${tolerance}${within}`);
      this.load_.set(tolerance, Promise.all([level("grid"), level("township"), level("county")])
        .then(([grids, townships, counties]) => ({grids, townships, counties})));
    }
    return this.load_.get(tolerance);
  }

  async load() {
    const first = tier(this.map.getZoom());
    const data = await this.fetch(first);
    this.tolerance = null;
    await this.draw(first, data);
    const bounds = this.layers.grids.getBounds();
    if (bounds.isValid()) this.map.fitBounds(bounds, {padding: [20, 20]});
    await this.draw(tier(this.map.getZoom()));
  }

  geoJSON(collection, options) {
    return L.geoJSON(collection, {
      coordsToLatLng: (c) => toMap(this.cfg, c[0], c[1]), ...options});
  }

  async draw(tolerance, data) {
    if (tolerance === this.tolerance) return;
    data = data || await this.fetch(tolerance);
    this.tolerance = tolerance;
    const {grids, boundaries} = this.layers;
    grids.clearLayers();
    boundaries.clearLayers();
    this.gridLayers.clear();
    this.geoJSON(data.grids, {
      style: (f) => this.style(f.id),
      onEachFeature: (f, layer) => {
        this.gridLayers.set(f.id, layer);
        layer.bindTooltip(() => `${f.properties.name} · ${t(this.cfg, "open_cases",
          {n: this.counts.get(f.id) || 0})}`, {sticky: true});
        grids.addLayer(layer);
      },
    });
    for (const [collection, weight, level] of [[data.townships, 2, "township"],
      [data.counties, 4, "county"]]) {
      this.geoJSON(collection, {
        style: () => ({pane: "boundaries", weight, color: "#d7e3f4", fill: false, opacity: 0.9}),
        onEachFeature: (f, layer) => {
          boundaries.addLayer(layer);
          const label = L.marker(layer.getBounds().getCenter(), {pane: "labels",
            icon: L.divIcon({className: `area-label ${level}`, html: "", iconSize: null})});
          label.on("add", () => { label.getElement().textContent = f.properties.name; });
          label.on("click", () => this.map.fitBounds(layer.getBounds()));  // drill down
          boundaries.addLayer(label);
        },
      });
    }
    this.drawUnvisited();
    document.body.dataset.grids = String(this.gridLayers.size);
  }

  setCount(code, n) {
    if (n) this.counts.set(code, n); else this.counts.delete(code);
    this.gridLayers.get(code)?.setStyle(this.style(code));
  }

  async loadUnvisited() {
    const patrol = await getJSON(this.cfg, `/patrol${areaQuery(this.cfg)}`);
    this.unvisited = new Set(patrol.grids.filter((g) => !g.visited_by_team).map((g) => g.code));
    this.visited = patrol.grids_visited;
    this.drawUnvisited();
    return patrol;
  }

  drawUnvisited() {
    const layer = this.layers.unvisited;
    layer.clearLayers();
    for (const code of this.unvisited) {
      const grid = this.gridLayers.get(code);
      if (!grid) continue;
      layer.addLayer(L.polygon(grid.getLatLngs(), {pane: "unvisited", color: "#ffd166",
        weight: 1.5, dashArray: "4 6", fill: false, interactive: false}));
    }
  }
}
