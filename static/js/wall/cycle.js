// `?cycle=N`: the wall visits each child area of its own area in turn, zoomed to fit, for
// N seconds each, then the whole area again, and so on. It only moves the map (and names
// the area in the title): what the wall loads and receives stays its own area's, and the
// children are read through /areas, which the token's scope guards like any other read.
// Someone at the wall (a click, the wheel, a key, an open popup, a dispatcher's selected
// case) holds it for one more period.

import {getJSON} from "./util.js";

export class Cycle {
  constructor(map, areas, cfg, busy = () => false) {
    Object.assign(this, {map, areas, cfg, busy});
    this.stops = [];
    this.index = 0;        // the stop shown now (the last one is the whole area)
    this.touched = 0;      // when someone last used the wall (ms)
    this.title = document.getElementById("wall-title");
    this.baseTitle = this.title.textContent;
    this.popup = false;
    map.on("popupopen", () => { this.popup = true; });
    map.on("popupclose", () => { this.popup = false; });
    for (const kind of ["pointerdown", "wheel", "keydown"]) {
      map.getContainer().addEventListener(kind, () => { this.touched = Date.now(); });
    }
  }

  async start() {
    const {level, parent} = this.cfg.cycle;
    const body = await getJSON(this.cfg, `/areas?level=${level}&simplify=300`
      + (parent ? `&parent=${encodeURIComponent(parent)}` : ""));
    this.stops = body.features.map((f) => ({code: f.id, name: f.properties.name,
      bounds: this.areas.geoJSON(f).getBounds()}));
    this.stops.push({code: this.cfg.area, name: null, bounds: this.areas.home});
    this.index = this.stops.length - 1;
    document.body.dataset.cycle = this.cfg.area || "";
    this.timer = setInterval(() => this.step(), this.cfg.cycle.seconds * 1000);
  }

  step() {
    const held = Date.now() - this.touched < this.cfg.cycle.seconds * 1000;
    if (held || this.popup || this.busy()) return;
    this.index = (this.index + 1) % this.stops.length;
    const stop = this.stops[this.index];
    if (stop.bounds?.isValid()) this.map.fitBounds(stop.bounds, {padding: [20, 20]});
    this.title.textContent = stop.name ? `${this.baseTitle} › ${stop.name}` : this.baseTitle;
    document.body.dataset.cycle = stop.code || "";
  }
}
