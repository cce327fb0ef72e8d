// Areas shaded by open caseload: grids close up; zoomed out, townships and then counties
// with their totals from /stats/caseload (each level its own legend scale); a click on an
// area zooms into it (drill-down). Township and county outlines with labels; the grids
// nobody walked today. Geometry simplified for the zoom in use (fetched once per tier).

import {areaQuery, getJSON, t, toMap} from "./util.js";

const EARTH = 40075016.686;  // metres round the equator: Web Mercator's metres per pixel

// The simplification tolerance (metres) of the geometry drawn at a zoom (`cfg.tiers`:
// [zoom below, metres], as geo_service.wall.TIERS).
function tier(cfg, zoom) { return cfg.tiers.find(([below]) => zoom < below)[1]; }

// The typical size (metres) of a level's areas: the median of sqrt(width x height) of
// their outlines' bounds.
function typicalSize(layers) {
  const sizes = layers.map((layer) => {
    const b = layer.getBounds();
    const w = (b.getEast() - b.getWest()) * 111320 * Math.cos(b.getCenter().lat * Math.PI / 180);
    return Math.sqrt(w * (b.getNorth() - b.getSouth()) * 110574);
  }).sort((a, b) => a - b);
  if (!sizes.length) return 0;
  const mid = sizes.length >> 1;
  return sizes.length % 2 ? sizes[mid] : (sizes[mid - 1] + sizes[mid]) / 2;
}

export class Areas {
  constructor(map, layers, cfg) {
    this.map = map;
    this.layers = layers;
    this.cfg = cfg;
    this.load_ = new Map();       // tolerance -> Promise of {grids, townships, counties}
    this.gridLayers = new Map();  // grid code -> L.Polygon
    this.fills = {township: new Map(), county: new Map()};  // code -> filled L.GeoJSON
    this.counts = new Map();      // grid code -> open cases (from the case markers)
    this.totals = new Map();      // township or county code -> open cases (from the API)
    this.labels = new Map();      // township or county code -> its name's marker
    this.sizes = {};              // level -> typical size in metres
    this.level = "grid";          // the level shaded now
    this.unvisited = new Set();
    this.tolerance = null;
    this.home = null;             // the bounds of the wall's whole area
    this.totalsTimer = null;
    this.style = (code) => ({pane: "grids", weight: 0.6, color: "#3a4d6b", fillOpacity: 0.75,
      fillColor: this.colour(this.counts.get(code) || 0)});
    this.settled = Promise.resolve();  // the redraw after the last zoom
    map.on("zoomend", () => {
      this.settled = this.draw(tier(cfg, map.getZoom())).then(() => this.shade());
    });
  }

  colour(n, level = "grid") {
    const bins = this.cfg.caseload[level];
    let colour = bins[0].colour;
    for (const bin of bins) if (n >= bin.min) colour = bin.colour;
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
    const first = tier(this.cfg, this.map.getZoom());
    const data = await this.fetch(first);
    this.tolerance = null;
    await this.draw(first, data);
    this.sizes = {grid: typicalSize([...this.gridLayers.values()]),
      township: typicalSize([...this.fills.township.values()]),
      county: typicalSize([...this.fills.county.values()])};
    const bounds = L.latLngBounds([]);
    for (const layer of this.gridLayers.values()) bounds.extend(layer.getBounds());
    if (bounds.isValid()) {
      this.home = bounds;
      // The page opens fitted to its grids (the server knows their extent): fitting it
      // again to the same view would only redraw every layer.
      const zoom = this.map.getBoundsZoom(bounds, false, L.point(40, 40));
      if (zoom !== this.map.getZoom() || !this.map.getBounds().contains(bounds)) {
        this.map.fitBounds(bounds, {padding: [20, 20]});
      }
    }
    await this.draw(tier(this.cfg, this.map.getZoom()));
    await this.shade();
  }

  geoJSON(collection, options) {
    return L.geoJSON(collection, {
      coordsToLatLng: (c) => toMap(this.cfg, c[0], c[1]), ...options});
  }

  async draw(tolerance, data) {
    if (tolerance === this.tolerance) return;
    data = data || await this.fetch(tolerance);
    this.tolerance = tolerance;
    const {boundaries} = this.layers;
    boundaries.clearLayers();
    this.gridLayers.clear();
    this.labels.clear();
    this.geoJSON(data.grids, {
      style: (f) => this.style(f.id),
      onEachFeature: (f, layer) => {
        this.gridLayers.set(f.id, layer);
        layer.bindTooltip(() => `${f.properties.name} · ${t(this.cfg, "open_cases",
          {n: this.counts.get(f.id) || 0})}`, {sticky: true});
      },
    });
    for (const [collection, weight, level] of [[data.townships, 2, "township"],
      [data.counties, 4, "county"]]) {
      this.fills[level].clear();
      for (const f of collection.features) {
        const fill = this.geoJSON(f, {style: () => this.aggregateStyle(f.id, level)});
        fill.feature = f;
        fill.bindTooltip(() => `${f.properties.name} · ${t(this.cfg, "open_cases",
          {n: this.totals.get(f.id) || 0})}`, {sticky: true});
        fill.on("click", (e) => {  // drill down; not a dispatcher's call-out centre
          L.DomEvent.stopPropagation(e);
          this.map.fitBounds(fill.getBounds());
        });
        this.fills[level].set(f.id, fill);
      }
      this.geoJSON(collection, {
        style: () => ({pane: "boundaries", weight, color: "#d7e3f4", fill: false, opacity: 0.9,
          interactive: false}),  // the grids below take the pointer
        onEachFeature: (f, layer) => {
          boundaries.addLayer(layer);
          const label = L.marker(layer.getBounds().getCenter(), {pane: "labels",
            icon: L.divIcon({className: `area-label ${level}`, html: "", iconSize: null})});
          label.areaLevel = level;
          label.areaName = f.properties.name;
          this.labels.set(f.id, label);
          label.on("add", () => this.label(f.id));
          label.on("click", () => this.map.fitBounds(layer.getBounds()));  // drill down
          boundaries.addLayer(label);
        },
      });
    }
    this.fill();
    document.body.dataset.grids = String(this.gridLayers.size);
  }

  // An area's name; on the level shaded now, with its open cases (read from 5 m).
  label(code) {
    const label = this.labels.get(code);
    const node = label?.getElement();
    if (!node) return;
    const shaded = label.areaLevel === this.level;
    node.textContent = shaded ? `${label.areaName} ${this.totals.get(code) || 0}` : label.areaName;
    node.classList.toggle("shaded", shaded);
  }

  aggregateStyle(code, level) {
    return {pane: "grids", weight: 1, color: "#3a4d6b", fillOpacity: 0.75,
      fillColor: this.colour(this.totals.get(code) || 0, level)};
  }

  // The finest level whose areas are still `aggregate_px` across at this zoom.
  pickLevel() {
    const metresPerPx = EARTH * Math.cos(this.map.getCenter().lat * Math.PI / 180)
      / (256 * 2 ** this.map.getZoom());
    const levels = this.cfg.levels.filter((level) => this.sizes[level] > 0);
    return levels.find((level) => this.sizes[level] / metresPerPx >= this.cfg.aggregate_px)
      || levels[levels.length - 1] || "grid";
  }

  // Shade the level this zoom calls for (and fetch its totals when it aggregates).
  async shade() {
    const level = this.pickLevel();
    if (level !== this.level) {
      this.level = level;
      if (level !== "grid") await this.loadTotals();
      this.fill();
      for (const node of document.querySelectorAll("#wall-legend .legend-level")) {
        node.hidden = node.dataset.level !== level;
      }
    }
    document.body.dataset.level = level;
  }

  // Put the current level's polygons into the caseload layer.
  fill() {
    const {grids} = this.layers;
    grids.clearLayers();
    const shown = this.level === "grid" ? this.gridLayers : this.fills[this.level];
    for (const layer of shown.values()) grids.addLayer(layer);
    for (const code of this.labels.keys()) this.label(code);
    this.drawUnvisited();
  }

  // Open cases per township or county, as the database counts them (every open case,
  // not only the markers this page keeps).
  async loadTotals() {
    const level = this.level;
    if (level === "grid") return;
    const body = await getJSON(this.cfg, `/stats/caseload?level=${level}`
      + areaQuery(this.cfg, "&"));
    if (level !== this.level) return;
    this.totals = new Map(body.areas.map((a) => [a.code, a.open]));
    for (const [code, fill] of this.fills[level]) {
      fill.setStyle(this.aggregateStyle(code, level));
      this.label(code);
    }
  }

  // A case changed: zoomed out, read the totals again (a burst at once).
  caseChanged() {
    if (this.level === "grid") return;
    clearTimeout(this.totalsTimer);
    this.totalsTimer = setTimeout(() => this.loadTotals().catch(() => {}), 500);
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

  drawUnvisited() {  // grids only: zoomed out, the hatch of hundreds of grids is noise
    const layer = this.layers.unvisited;
    layer.clearLayers();
    if (this.level !== "grid") return;
    for (const code of this.unvisited) {
      const grid = this.gridLayers.get(code);
      if (!grid) continue;
      layer.addLayer(L.polygon(grid.getLatLngs(), {pane: "unvisited", color: "#ffd166",
        weight: 1.5, dashArray: "4 6", fill: false, interactive: false}));
    }
  }
}
