// Workers as dots tagged by role; stale ones grey with "last seen N min ago" beneath;
// offline ones in their own layer (behind the layer switch); off duty ones not shown.
// They are drawn on one canvas (the `workers` pane, above the case markers): a thousand
// DOM markers, each its own compositing layer, cost a 4K wall about a second to draw. The
// pane lets every pointer event through to the map below; a dot under the mouse shows its
// tooltip all the same.

import {areaQuery, getJSON, t, toMap} from "./util.js";

const ROLE_TAGS = {grid_worker: "GW", grid_leader: "GL", grid_guide: "GG", militia: "MB",
  liaison_head: "LH"};
// fill, border, tag (the legend's swatches in wall.css show the first two)
const LOOKS = {online: ["#4f8cff", "#cfe0ff", "#ffffff"], stale: ["#6b7280", "#9ca3af", "#d1d5db"],
  offline: ["#374151", "#4b5563", "#9ca3af"]};
const CANDIDATE = "#4ade80";  // the ring round a worker the dispatcher may send

// A worker's dot: options `look` (online, stale, offline), `tag`, `seen` (the "last seen"
// line, or ""), `candidate`, and `rem` / `font` (the page's type) for its size.
const Dot = L.CircleMarker.extend({
  restyle(options) {
    L.setOptions(this, options);
    if (this._map) this.redraw();  // its old and new extent both
  },

  _updateBounds() {  // the ring and the "last seen" line lie outside the circle
    const p = this._point;
    const r = this._radius + 6;
    this._pxBounds = L.bounds(p.subtract([r, r]), p.add([r, r]));
    const seen = this.options.seen && this._renderer?._ctx;
    if (seen) {
      const {rem, font} = this.options;
      seen.font = `400 ${Math.round(0.75 * rem)}px ${font}`;
      const half = seen.measureText(this.options.seen).width / 2 + 0.3 * rem;
      this._pxBounds.extend(L.point(p.x - half, p.y + this._radius + 1.4 * rem));
      this._pxBounds.extend(L.point(p.x + half, p.y));
    }
  },

  _updatePath() {
    const renderer = this._renderer;
    if (!renderer._drawing || this._empty()) return;
    const ctx = renderer._ctx;
    const {x, y} = this._point;
    const r = this._radius;
    const {look, tag, seen, candidate, rem, font} = this.options;
    const [fill, border, text] = LOOKS[look] || LOOKS.online;
    ctx.beginPath();
    ctx.arc(x, y, r, 0, Math.PI * 2);
    ctx.fillStyle = fill;
    ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = border;
    ctx.stroke();
    if (candidate) {
      ctx.beginPath();
      ctx.arc(x, y, r + 4, 0, Math.PI * 2);
      ctx.lineWidth = 3;
      ctx.strokeStyle = CANDIDATE;
      ctx.stroke();
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillStyle = text;
    ctx.font = `700 ${Math.round(r * 0.95)}px ${font}`;
    ctx.fillText(tag, x, y + 1);
    if (seen) {
      const size = Math.round(0.75 * rem);
      ctx.font = `400 ${size}px ${font}`;
      const w = ctx.measureText(seen).width + 0.6 * rem;
      const top = y + r + 0.1 * rem;
      ctx.fillStyle = "rgba(11, 16, 24, 0.8)";
      ctx.fillRect(x - w / 2, top, w, 1.2 * rem);
      ctx.fillStyle = "#cbd5e1";
      ctx.fillText(seen, x, top + 0.6 * rem);
    }
  },
});

export class Workers {
  constructor(map, layer, offlineLayer, cfg) {
    this.map = map;
    this.layer = layer;
    this.offlineLayer = offlineLayer;
    this.cfg = cfg;
    this.known = new Map();  // code -> {marker, status, at (ms of the fix), role}
    this.renderer = L.canvas({pane: "workers"});
    const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    this.style = {renderer: this.renderer, pane: "workers", interactive: false,
      radius: Math.max(13, rem / 2), rem, font: getComputedStyle(document.body).fontFamily};
    this.hovered = null;  // the dot whose tooltip is open
    const box = map.getContainer();
    box.addEventListener("mousemove", (e) => this.hover(e));
    box.addEventListener("mouseleave", () => this.hover(null));
    setInterval(() => this.refreshAges(), 30_000);
  }

  async load() {
    const body = await getJSON(this.cfg, `/workers?located=true${areaQuery(this.cfg, "&")}`);
    for (const w of body.workers) {
      const p = w.position;
      this.upsert({code: w.code, role: w.role, status: w.status, lon: p?.lon, lat: p?.lat,
        recorded_at: p?.recorded_at});
    }
  }

  // A worker as the list or an event (`WorkerEvent` payload) describes it.
  upsert(w) {
    let known = this.known.get(w.code);
    const at = w.recorded_at ? Date.parse(w.recorded_at) : null;
    if (known && at && known.at && at < known.at) return;  // a late fix never moves it back
    if (w.status === "off_duty" || w.lon == null) { this.remove(w.code); return; }
    if (!known) {
      const marker = new Dot(toMap(this.cfg, w.lon, w.lat), {...this.style});
      marker.workerCode = w.code;
      marker.bindTooltip(() => [w.code, t(this.cfg, `role.${known.role}`),
        t(this.cfg, `worker.${known.look}`), known.seen].filter(Boolean).join(" · "),
      {className: "worker-tip"});
      known = {marker, role: w.role};
      this.known.set(w.code, known);
    } else {
      known.marker.setLatLng(toMap(this.cfg, w.lon, w.lat));
    }
    Object.assign(known, {status: w.status, at: at ?? known.at, role: w.role || known.role});
    this.place(known);
  }

  place(known) {
    const age = known.at ? (Date.now() - known.at) / 60000 : null;
    const stale = known.status === "stale" || (known.status === "online" && age > this.cfg.stale_min);
    const offline = known.status === "offline";
    known.look = offline ? "offline" : stale ? "stale" : "online";
    known.seen = stale && age != null ? t(this.cfg, "last_seen", {n: Math.floor(age)}) : "";
    const key = `${known.look}|${known.seen}|${known.role}`;
    if (known.key !== key) {
      known.key = key;
      known.marker.restyle({look: known.look, seen: known.seen,
        tag: ROLE_TAGS[known.role] || "W"});
    }
    const want = offline ? this.offlineLayer : this.layer;
    const other = offline ? this.layer : this.offlineLayer;
    if (other.hasLayer(known.marker)) other.removeLayer(known.marker);
    if (!want.hasLayer(known.marker)) want.addLayer(known.marker);
  }

  // Highlight a worker the dispatcher may send (kept through changes of its look).
  mark(code, on) {
    this.known.get(code)?.marker.restyle({candidate: on});
  }

  // The tooltip of the dot under the mouse (the nearest one), if any.
  hover(e) {
    let found = null;
    if (e) {
      const at = this.map.mouseEventToLayerPoint(e);
      let best = Infinity;
      for (const {marker} of this.known.values()) {
        if (!marker._map || !marker._point) continue;  // its layer is switched off
        const d = marker._point.distanceTo(at);
        if (d <= marker._radius + 2 && d < best) { best = d; found = marker; }
      }
    }
    if (found === this.hovered) return;
    this.hovered?.closeTooltip();
    this.hovered = found;
    found?.openTooltip();
    // the dot is on top: the tooltip of the grid beneath it (which has the pointer) waits
    this.map.getContainer().classList.toggle("worker-hovered", Boolean(found));
  }

  remove(code) {
    const known = this.known.get(code);
    if (!known) return;
    if (this.hovered === known.marker) this.hover(null);
    this.layer.removeLayer(known.marker);
    this.offlineLayer.removeLayer(known.marker);
    this.known.delete(code);
  }

  refreshAges() { for (const known of this.known.values()) this.place(known); }
}
