// The side panel and title bar: the draft picker, undo / redo, the status line, the
// problems list, the impact preview and publishing with its confirmation.

import {el, t} from "../wall/util.js";

export class Panel {
  constructor(cfg, areas) {
    this.cfg = cfg;
    this.areas = areas;
    this.$ = (id) => document.getElementById(id);
    this.picker = this.$("ed-draft");
  }

  status(text, kind = "") {
    const node = this.$("ed-status");
    node.textContent = text;
    node.dataset.kind = kind;
  }

  drafts(list, current) {
    const options = [this.picker.options[0]];
    for (const d of list) {
      const label = t(this.cfg, "draft_label", {id: d.id, author: d.author ?? "",
        note: d.note ?? ""}).replace(/ · $/, "");  // no note: no empty part
      options.push(el("option", {value: String(d.id)}, d.area && d.area !== this.cfg.area
        ? `${label} · ${d.area}` : label));
    }
    this.picker.replaceChildren(...options);
    this.picker.value = current ? String(current) : "";
  }

  undoRedo(canUndo, canRedo) {
    this.$("ed-undo").disabled = !canUndo;
    this.$("ed-redo").disabled = !canRedo;
  }

  drafting(on) {
    document.body.classList.toggle("no-draft", !on);
    for (const id of ["ed-impact-load", "ed-publish-open"]) this.$(id).disabled = !on;
    if (!on) this.undoRedo(false, false);
  }

  problems(problems) {
    const list = this.$("ed-problem-list");
    const n = problems?.length || 0;
    this.$("ed-problem-count").textContent = n ? `(${n})` : "";
    list.replaceChildren(...(problems || []).map((p, i) => {
      const text = p.index == null
        ? t(this.cfg, "problem.area", {code: p.code ?? "–", message: this.problemText(p)})
        : t(this.cfg, "problem.item", {code: p.code ?? "–", index: p.index,
          message: this.problemText(p)});
      const item = el("li", {"data-code": p.code ?? "", "data-kind": p.kind ?? "",
        "data-other": p.other_code ?? "", "data-fatal": String(p.fatal ?? true)}, text);
      item.addEventListener("click", () => {
        const bounds = this.areas.problemBounds(i);
        if (bounds?.isValid()) this.areas.map.fitBounds(bounds, {maxZoom: 17});
      });
      return item;
    }));
    if (!n) list.append(el("li", {class: "ok"}, t(this.cfg, "no_problems")));
  }

  // The page's language for the problems it knows with their area; the server's own
  // message (English) for the rest.
  problemText(p) {
    const key = [`problem.${p.kind}.${p.level}`, `problem.${p.kind}`]
      .find((k) => k in this.cfg.strings);
    if (!key || p.area_m2 == null) return p.message ?? p.kind;
    const m2 = Math.round(Number(p.area_m2)).toLocaleString(
      this.cfg.lang === "zh" ? "zh-CN" : "en");
    return t(this.cfg, key, {other: p.other_code ?? "–", m2});
  }

  summary(impact) {
    return t(this.cfg, "impact_title", {households: impact.households ?? 0,
      groups: impact.groups ?? 0, workers: impact.workers ?? 0, cases: impact.open_cases ?? 0});
  }

  impact(impact) {
    const table = this.$("ed-impact-table");
    const body = table.querySelector("tbody");
    if (!impact) {
      this.$("ed-impact-summary").textContent = "";
      table.hidden = true;
      body.replaceChildren();
      return;
    }
    const moves = impact.moves || [];
    this.$("ed-impact-summary").textContent = (moves.length ? this.summary(impact)
      : t(this.cfg, "impact_none")) + (impact.features_truncated ? ` ${t(this.cfg,
      "impact_truncated", {n: impact.features?.features?.length ?? 0})}` : "");
    const name = (code) => {
      const layer = this.areas.gridLayers.get(code);
      return layer ? `${layer.feature.properties.name} (${code})` : (code ?? "–");
    };
    body.replaceChildren(...moves.map((m) => el("tr", {"data-from": m.from ?? "",
      "data-to": m.to ?? ""}, el("td", {}, name(m.from)), el("td", {}, name(m.to)),
    el("td", {}, m.households ?? 0), el("td", {}, m.groups ?? 0), el("td", {}, m.workers ?? 0),
    el("td", {}, m.open_cases ?? 0))));
    table.hidden = !moves.length;
  }

  // Ask before publishing; resolves true when confirmed.
  confirm(text) {
    const dialog = this.$("ed-confirm");
    this.$("ed-confirm-text").textContent = text;
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), {once: true});
      dialog.returnValue = "";
      dialog.showModal();
    });
  }

  published(answer) {
    this.$("ed-publish-result").replaceChildren(el("p", {class: "ok"}, t(this.cfg, "published",
      {version: answer.version, households: answer.households_moved ?? 0,
        cases: answer.cases_moved ?? 0})));
  }

  // 409 stale_draft: what was published since the draft's base.
  stale(message, changed) {
    const box = this.$("ed-publish-result");
    const parts = [el("p", {class: "bad"}, t(this.cfg, "stale")), el("p", {}, message)];
    const list = el("ul", {id: "ed-stale"});
    for (const key of ["added", "removed", "reshaped", "renamed", "reparented"]) {
      const codes = changed?.[key];
      if (codes?.length) {
        list.append(el("li", {"data-change": key},
          `${t(this.cfg, "stale." + key)}: ${codes.join(", ")}`));
      }
    }
    parts.push(list);
    box.replaceChildren(...parts);
  }

  clearPublish() { this.$("ed-publish-result").replaceChildren(); }
}
