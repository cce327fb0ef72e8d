// Emergency call-outs on every wall: the circle (or the grid) called, and who was called,
// who acknowledged, who is on the way. Drawn from GET /callouts/{id}; callout.* events
// (and fixes of called workers) re-read it, a burst at once. Closed ones go away; a
// dispatcher's wall (the one with a CSRF token) can stand one down.

import {el, getJSON, postJSON, t, toMap} from "./util.js";

const MAX_LISTED = 20;  // workers listed per call-out (the counts cover all of them)

export class Callouts {
  constructor(map, areas, cfg) {
    this.map = map;
    this.areas = areas;
    this.cfg = cfg;
    this.layer = L.layerGroup().addTo(map);
    this.shown = new Map();   // id -> {shapes: [L.Layer], li, view}
    this.timers = new Map();  // id -> pending re-read
    this.section = document.getElementById("wall-callouts");
    this.list = document.getElementById("wall-callout-list");
  }

  // A call-out of this wall's area (codes nest: a grid's code starts with its area's).
  mine(code) { return !this.cfg.area || code.startsWith(this.cfg.area); }

  async load() {
    const body = await getJSON(this.cfg, "/callouts?open=true&limit=50");
    await Promise.all(body.callouts.filter((c) => this.mine(c.area.code))
      .map((c) => this.refresh(c.id)));
  }

  async refresh(id) {
    const view = await getJSON(this.cfg, `/callouts/${encodeURIComponent(id)}`);
    this.show(view);
    return view;
  }

  // Re-read a call-out soon: acknowledgements and fixes arrive in bursts.
  soon(id, delay = 300) {
    if (this.timers.has(id)) return;
    this.timers.set(id, setTimeout(() => {
      this.timers.delete(id);
      this.refresh(id).catch(() => {});
    }, delay));
  }

  onEvent(kind, data) {
    if (kind === "callout.closed") this.remove(data.id);
    else if (kind.startsWith("callout.")) this.soon(data.id);
    else if (kind === "worker.moved") {
      for (const [id, shown] of this.shown) {
        if (shown.codes.has(data.code)) this.soon(id, 1000);
      }
    }
  }

  show(view) {
    if (!view.open) { this.remove(view.id); return; }
    let shown = this.shown.get(view.id);
    if (!shown) {
      const centre = toMap(this.cfg, view.lon, view.lat);
      const style = {color: "#ff3b30", weight: 3, dashArray: "8 6", fillColor: "#ff3b30",
        fillOpacity: 0.12, interactive: false};
      const grid = view.radius_m == null ? this.areas.gridLayers.get(view.area.code) : null;
      const shapes = [L.circleMarker(centre, {radius: 9, color: "#fff", weight: 2,
        fillColor: "#ff3b30", fillOpacity: 1, interactive: false})];
      if (view.radius_m != null) shapes.push(L.circle(centre, {radius: view.radius_m, ...style}));
      else if (grid) shapes.push(L.polygon(grid.getLatLngs(), style));
      for (const shape of shapes) this.layer.addLayer(shape);
      const li = el("li", {"data-callout": view.id});
      this.list.prepend(li);
      li.addEventListener("click", (e) => {
        if (e.target.dataset.close) this.close(e.target.dataset.close);
      });
      shown = {shapes, li};
      this.shown.set(view.id, shown);
    }
    shown.view = view;
    shown.codes = new Set(view.targets.map((w) => w.code));
    const c = view.counts;
    const who = view.targets.slice(0, MAX_LISTED).map((w) => {
      const state = w.acked ? "acked" : w.moving_towards ? "moving" : "waiting";
      const label = w.acked ? t(this.cfg, "event.callout.acked")
        : w.moving_towards ? t(this.cfg, "callout.on_the_way") : t(this.cfg, "callout.waiting");
      return el("li", {"data-worker": w.code, "data-state": state}, `${w.code} · ${label}`);
    });
    shown.li.replaceChildren(
      el("strong", {}, view.message),
      el("span", {class: "callout-counts"}, [t(this.cfg, "callout.called", {n: c.called}),
        t(this.cfg, "callout.acked", {n: c.acked}),
        t(this.cfg, "callout.moving", {n: c.moving_towards})].join(" · ")),
      el("ul", {class: "callout-workers"}, ...who),
      ...(this.cfg.csrf ? [el("button", {type: "button", "data-close": view.id},
        t(this.cfg, "callout.close"))] : []));
    this.changed();
  }

  async close(id) {
    this.show(await postJSON(this.cfg, `/callouts/${encodeURIComponent(id)}/close`, {}));
  }

  remove(id) {
    const shown = this.shown.get(id);
    if (!shown) return;
    for (const shape of shown.shapes) this.layer.removeLayer(shape);
    shown.li.remove();
    this.shown.delete(id);
    this.changed();
  }

  changed() {
    this.section.hidden = this.shown.size === 0;
    document.body.dataset.callouts = String(this.shown.size);
  }
}
