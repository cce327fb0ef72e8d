// The side panel: KPIs from /stats, a ticker of the latest events (a fixed number of
// lines, reused), a 24-hour trend of reports (SVG, from the hours /stats counts), the
// clock and the offline banner.

import {areaQuery, clock, el, getJSON, t, today} from "./util.js";

const NS = "http://www.w3.org/2000/svg";

export class Panel {
  constructor(cfg) {
    this.cfg = cfg;
    this.ticker = document.getElementById("wall-ticker-list");
    this.banner = document.getElementById("wall-banner");
    this.live = document.getElementById("wall-live");
    this.hourly = new Array(24).fill(0);  // reports per hour, the last 24, oldest first
    this.downSince = null;
    this.tick();
    setInterval(() => this.tick(), 1000);
  }

  tick() {
    document.getElementById("wall-clock").textContent = clock(this.cfg);
  }

  async refresh() {
    const s = await getJSON(this.cfg, `/stats${areaQuery(this.cfg)}`);
    const day = s.daily.find((d) => d.day === today(this.cfg)) || {reports: 0, closed: 0};
    const share = s.resolved_in_grid == null ? "–" : `${Math.round(s.resolved_in_grid * 100)}%`;
    const set = (key, value) => {
      document.querySelector(`[data-kpi="${key}"]`).textContent = String(value);
    };
    set("reports_today", day.reports);
    set("open", s.open);
    set("overdue", s.overdue);
    set("closed_today", day.closed);
    set("resolved_in_grid", share);
    set("workers", `${s.workers_on_duty} / ${s.workers_total}`);
    set("grids_visited", `${s.grids_visited_today} / ${s.grids_total}`);
    this.hourly = s.hourly.reports;
    this.drawTrend();
    return s;
  }

  // A line on top of the ticker; the oldest line is taken down and reused.
  note(kind, text, at = new Date()) {
    let li = this.ticker.children.length >= this.cfg.ticker_lines
      ? this.ticker.lastElementChild : el("li");
    li.className = "";
    li.replaceChildren(el("time", {}, clock(this.cfg, at)),
      `${t(this.cfg, `event.${kind}`)} · ${text}`);
    li.dataset.kind = kind;
    void li.offsetWidth;  // restart the highlight animation on a reused line
    li.className = "fresh";
    this.ticker.prepend(li);
  }

  down() {
    this.live.className = "down";
    this.live.textContent = "●";
    if (this.downSince) return;
    this.downSince = new Date();
    this.banner.textContent = t(this.cfg, "offline_since", {time: clock(this.cfg, this.downSince)});
    this.banner.hidden = false;
  }

  up() {
    this.downSince = null;
    this.banner.hidden = true;
    this.live.className = "up";
    this.live.textContent = t(this.cfg, "reconnected");
  }

  // A new report counts in the last hour at once; the next read of /stats (soon after
  // any report: `refreshSoon`) has the server's count again.
  countReport() {
    this.hourly[23] += 1;
    this.drawTrend();
  }

  drawTrend() {
    const bins = this.hourly;
    const svg = document.getElementById("wall-trend-chart");
    const max = Math.max(1, ...bins);
    const w = 480 / 24;
    const parts = bins.map((n, i) => {
      const h = (n / max) * 120;
      const bar = document.createElementNS(NS, "rect");
      Object.entries({class: "bar", x: i * w + 2, y: 130 - h, width: w - 4, height: h})
        .forEach(([k, v]) => bar.setAttribute(k, v));
      bar.dataset.count = n;
      return bar;
    });
    const label = (x, text, anchor) => {
      const node = document.createElementNS(NS, "text");
      Object.entries({class: "axis", x, y: 146, "text-anchor": anchor})
        .forEach(([k, v]) => node.setAttribute(k, v));
      node.textContent = text;
      return node;
    };
    const top = document.createElementNS(NS, "text");
    Object.entries({class: "axis", x: 4, y: 12}).forEach(([k, v]) => top.setAttribute(k, v));
    top.textContent = String(max);
    svg.replaceChildren(...parts, top, label(2, "-24h", "start"),
      label(478, clock(this.cfg), "end"));
  }
}
