// premortem UI: draws the charts whose figures the server put in JSON data blocks, and keeps
// the predictive-analysis page live. Data is never turned into HTML: only textContent and DOM APIs.
"use strict";

(function () {
  const PLOT_CONFIG = { displayModeBar: false, responsive: true };

  function figureOf(element) {
    const block = document.getElementById(element.dataset.figure);
    return block ? JSON.parse(block.textContent) : null;
  }

  function drawCharts(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("[data-figure]").forEach(function (element) {
      const figure = figureOf(element);
      if (!figure) return;
      const layout = Object.assign(
        { margin: { l: 50, r: 20, t: 10, b: 40 }, font: { size: 12 }, showlegend: true,
          legend: { orientation: "h", y: -0.2 }, paper_bgcolor: "rgba(0,0,0,0)" },
        figure.layout || {}
      );
      window.Plotly.react(element, figure.data || [], layout, PLOT_CONFIG);
      element.dataset.drawn = "1";
    });
  }

  function text(tag, value, className) {
    const element = document.createElement(tag);
    if (value !== undefined && value !== null) element.textContent = String(value);
    if (className) element.className = className;
    return element;
  }

  function link(href, value) {
    const a = document.createElement("a");
    a.setAttribute("href", href);
    a.textContent = value;
    return a;
  }

  function sparkline(values, label) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 120 28");
    svg.setAttribute("width", "120");
    svg.setAttribute("height", "28");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", values);
    svg.appendChild(line);
    return svg;
  }

  function rankingRow(item) {
    const row = document.createElement("tr");
    const name = text("td");
    name.appendChild(link(item.mode_url, item.mode_name));
    row.appendChild(name);
    const sev = text("td");
    sev.appendChild(text("span", item.severity, "sev sev-" + item.severity_class));
    row.appendChild(sev);
    const prob = text("td", null, "num");
    prob.appendChild(text("span", item.probability_text, "prob"));
    row.appendChild(prob);
    const trend = text("td");
    trend.appendChild(sparkline(item.trend_points, "probability trend of " + item.mode_name));
    row.appendChild(trend);
    row.appendChild(text("td", item.lead_time, "num"));
    row.appendChild(text("td", item.service));
    row.appendChild(text("td", item.mitigation));
    const evidence = text("td");
    evidence.appendChild(link(item.evidence_url, item.evidence_text));
    row.appendChild(evidence);
    return row;
  }

  function refreshHome(page) {
    const url = page.dataset.source + window.location.search;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        const body = document.getElementById("ranking-body");
        body.replaceChildren.apply(body, data.ranking.map(rankingRow));
        document.getElementById("ranking-empty").classList.toggle("hidden", data.ranking.length > 0);
        const timeline = document.getElementById("timeline");
        if (timeline && window.Plotly) {
          window.Plotly.react(timeline, data.timeline.data, Object.assign(
            { margin: { l: 50, r: 20, t: 10, b: 40 }, legend: { orientation: "h", y: -0.2 },
              paper_bgcolor: "rgba(0,0,0,0)" }, data.timeline.layout), PLOT_CONFIG);
        }
        document.getElementById("updated").textContent = "updated " + data.updated;
        const lag = document.getElementById("analysis-lag");
        if (lag && data.analysis_lag) lag.textContent = data.analysis_lag.text;
      })
      .catch(function () { /* the next tick tries again */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    const home = document.querySelector("[data-live]");
    if (home) {
      const every = Number(home.dataset.live) || 5000;
      window.setInterval(function () { refreshHome(home); }, every);
    }
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () {
        // A menu choice replaces what was typed beside it (data-clears names that field).
        const typed = select.dataset.clears && select.form.elements[select.dataset.clears];
        if (typed) typed.value = "";
        select.form.submit();
      });
    });
    // Typing a from/to time means an absolute range: the range menu follows.
    document.querySelectorAll("input[name=from], input[name=to]").forEach(function (input) {
      input.addEventListener("change", function () {
        const menu = input.form && input.form.querySelector("select[name=range]");
        if (menu) menu.value = "custom";
      });
    });
  });
})();
