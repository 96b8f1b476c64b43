// Simulation Playback: draws a simulation beside the observed series of the same service on one
// time axis (seconds after the aligned start), marks events, anomalies and alerts, and moves a
// time cursor with play/pause and a range slider. Data never becomes HTML: table cells use
// textContent, and labels handed to plotly are escaped (plotly reads a few tags in labels).
"use strict";

(function () {
  const PLOT_CONFIG = { displayModeBar: false, responsive: true };
  const TICK_MS = 100;
  const SIMULATED = ["#6a3d9a", "#1f5fbf", "#00838f", "#2e7d32"];
  const OBSERVED = ["#c77700", "#b3261e"];
  const MARKER_COLOURS = { simulation: "#6a3d9a", anomaly: "#a35a00", alert: "#b3261e" };
  const state = { t: 0, end: 1, startMs: 0, timer: null, charts: [], rows: [] };

  function escapeLabel(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function cell(tag, value, className) {
    const element = document.createElement(tag);
    element.textContent = value === null || value === undefined ? "" : String(value);
    if (className) element.className = className;
    return element;
  }

  function clock(seconds) {
    return new Date(state.startMs + seconds * 1000).toISOString().slice(0, 19).replace("T", " ");
  }

  function line(name, series, colour, axis, dashed) {
    return {
      type: "scatter", mode: dashed ? "lines+markers" : "lines", name: escapeLabel(name),
      x: series.t, y: series.values, yaxis: axis, connectgaps: false,
      line: { color: colour, width: dashed ? 2 : 1.5, dash: dashed ? "dash" : "solid" },
      marker: { size: 4 },
    };
  }

  function observedOnLeft(panel, data) {
    const units = panel.simulated.map(function (n) { return data.simulated[n].unit; });
    return panel.observed.every(function (n) {
      return units.length > 0 && units.every(function (u) { return u === data.observed[n].unit; });
    });
  }

  function markerShapes(markers) {
    return markers.map(function (m) {
      return {
        type: "line", xref: "x", yref: "paper", x0: m.t, x1: m.t, y0: 0, y1: 1,
        line: { color: MARKER_COLOURS[m.source] || "#888", width: 1, dash: "dot" },
      };
    });
  }

  function unitsTitle(units) {
    const distinct = units.filter(function (u, i) { return u && units.indexOf(u) === i; });
    return escapeLabel(distinct.join(", ") || "value");
  }

  // Each reference line says what it is: the marker's source at the top of the plot.
  function markerLabels(markers) {
    return markers.map(function (m) {
      return { x: m.t, xref: "x", y: 1, yref: "paper", yanchor: "bottom", showarrow: false,
               text: escapeLabel(m.source), textangle: -90, font: { size: 9,
               color: MARKER_COLOURS[m.source] || "#888" } };
    });
  }

  function cursorShape(t) {
    return { type: "line", xref: "x", yref: "paper", x0: t, x1: t, y0: 0, y1: 1,
             line: { color: "#1d2330", width: 2 } };
  }

  function drawPanel(container, panel, data, index) {
    const section = document.createElement("section");
    section.className = "card";
    section.appendChild(cell("h2", panel.title));
    const element = document.createElement("div");
    element.className = "chart";
    element.id = "panel-" + index;
    element.setAttribute("role", "img");
    element.setAttribute("aria-label", panel.title + ": simulated and observed series over time");
    section.appendChild(element);
    container.appendChild(section);
    const left = observedOnLeft(panel, data);
    const traces = [];
    panel.simulated.forEach(function (n, i) {
      traces.push(line("simulated " + n, data.simulated[n], SIMULATED[i % SIMULATED.length], "y", false));
    });
    panel.simulated_right.forEach(function (n, i) {
      traces.push(line("simulated " + n, data.simulated[n], SIMULATED[(i + 2) % SIMULATED.length], "y2", false));
    });
    panel.observed.forEach(function (n, i) {
      const unit = data.observed[n].unit;
      traces.push(line("observed " + n + " (" + unit + ")", data.observed[n], OBSERVED[i % OBSERVED.length], left ? "y" : "y2", true));
    });
    const rightUsed = panel.simulated_right.length > 0 || (!left && panel.observed.length > 0);
    // Each axis says what it measures, in the series' own units.
    const leftUnits = panel.simulated.map(function (n) { return data.simulated[n].unit; })
      .concat(left ? panel.observed.map(function (n) { return data.observed[n].unit; }) : []);
    const rightUnits = panel.simulated_right.map(function (n) { return data.simulated[n].unit; })
      .concat(left ? [] : panel.observed.map(function (n) { return data.observed[n].unit; }));
    const layout = {
      margin: { l: 60, r: rightUsed ? 60 : 20, t: 30, b: 45 }, paper_bgcolor: "rgba(0,0,0,0)",
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" }, showlegend: true,
      xaxis: { title: { text: "time after the aligned start (s)", standoff: 4 }, range: [0, state.end],
               ticksuffix: " s" },
      yaxis: { rangemode: "tozero", automargin: true, title: { text: unitsTitle(leftUnits) } },
      shapes: [cursorShape(state.t)].concat(markerShapes(data.markers)),
      annotations: markerLabels(data.markers),
    };
    if (rightUsed) {
      layout.yaxis2 = { overlaying: "y", side: "right", rangemode: "tozero", showgrid: false,
                        automargin: true, title: { text: unitsTitle(rightUnits) + " (right)" } };
    }
    window.Plotly.newPlot(element, traces, layout, PLOT_CONFIG);
    element.dataset.drawn = "1";
    state.charts.push(element);
  }

  function markerDetails(m) {
    if (m.source === "alert") {
      return m.name + " · " + m.state + " · p=" + Number(m.probability).toFixed(2);
    }
    if (m.source === "anomaly") return (m.summary || "") + " (score " + Number(m.score).toFixed(2) + ")";
    return Object.keys(m.attributes || {}).map(function (k) {
      return k + "=" + JSON.stringify(m.attributes[k]);
    }).join(", ");
  }

  function markerTable(markers) {
    const body = document.getElementById("markers-body");
    const sorted = markers.slice().sort(function (a, b) { return a.t - b.t; });
    state.rows = sorted.map(function (m) {
      const row = document.createElement("tr");
      row.dataset.t = String(m.t);
      row.appendChild(cell("td", Number(m.t).toFixed(1), "num"));
      row.appendChild(cell("td", clock(m.t)));
      const source = cell("td");
      source.appendChild(cell("span", m.source, "src src-" + (MARKER_COLOURS[m.source] ? m.source : "simulation")));
      row.appendChild(source);
      row.appendChild(cell("td", m.type));
      row.appendChild(cell("td", markerDetails(m)));
      return row;
    });
    if (state.rows.length === 0) {
      const row = document.createElement("tr");
      const empty = cell("td", "No events, anomalies or alerts in this span.", "muted");
      empty.colSpan = 5;
      row.appendChild(empty);
      body.replaceChildren(row);
    } else {
      body.replaceChildren.apply(body, state.rows);
    }
  }

  function moveCursor(t) {
    state.t = Math.max(0, Math.min(state.end, t));
    const slider = document.getElementById("cursor");
    slider.value = String(state.t);
    document.getElementById("cursor-time").textContent =
      "t = " + state.t.toFixed(1) + " s · " + clock(state.t) + " UTC";
    document.getElementById("playback").dataset.t = state.t.toFixed(3);
    state.charts.forEach(function (element) {
      window.Plotly.relayout(element, { "shapes[0].x0": state.t, "shapes[0].x1": state.t });
    });
    state.rows.forEach(function (row) {
      row.classList.toggle("passed", Number(row.dataset.t) <= state.t);
    });
  }

  function pause() {
    if (state.timer !== null) window.clearInterval(state.timer);
    state.timer = null;
    const button = document.getElementById("play");
    button.textContent = "Play";
    button.setAttribute("aria-pressed", "false");
  }

  function play() {
    if (state.t >= state.end) moveCursor(0);
    const button = document.getElementById("play");
    button.textContent = "Pause";
    button.setAttribute("aria-pressed", "true");
    state.timer = window.setInterval(function () {
      const speed = Number(document.getElementById("speed").value) || 1;
      moveCursor(state.t + speed * TICK_MS / 1000);
      if (state.t >= state.end) pause();
    }, TICK_MS);
  }

  function notes(data) {
    const list = document.getElementById("playback-notes");
    list.replaceChildren.apply(list, data.notes.map(function (n) { return cell("li", n); }));
    document.getElementById("playback-aligned").textContent =
      "t = 0 is " + clock(0) + " UTC" + (data.service ? " on " + data.service : "") +
      " (simulated start " + data.simulated_started_at.slice(0, 19).replace("T", " ") + " UTC).";
  }

  function start(root, data) {
    state.end = Math.max(1, Number(data.duration_s) || 1);
    state.startMs = Number(data.start_ns) / 1e6;
    notes(data);
    const panels = document.getElementById("panels");
    if (window.Plotly) {
      data.panels.forEach(function (panel, i) { drawPanel(panels, panel, data, i); });
    }
    markerTable(data.markers);
    const slider = document.getElementById("cursor");
    slider.max = String(state.end);
    slider.step = "any";
    slider.disabled = false;
    slider.addEventListener("input", function () { moveCursor(Number(slider.value)); });
    const button = document.getElementById("play");
    button.disabled = false;
    button.addEventListener("click", function () {
      if (state.timer === null) play(); else pause();
    });
    moveCursor(0);
    root.dataset.ready = "1";
  }

  document.addEventListener("DOMContentLoaded", function () {
    const root = document.getElementById("playback");
    if (!root) return;
    fetch(root.dataset.source, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) throw new Error(data && data.detail ? data.detail : "request failed");
          return data;
        });
      })
      .then(function (data) { start(root, data); })
      .catch(function (error) {
        document.getElementById("cursor-time").textContent = "Error: " + error.message;
      });
  });
})();
