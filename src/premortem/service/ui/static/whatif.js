// What-If page: sends the form to POST /api/v1/what-if and draws the answer. Answer text is only
// ever set with textContent; labels handed to plotly are escaped (plotly reads a few tags).
"use strict";

(function () {
  const PLOT_CONFIG = { displayModeBar: false, responsive: true };
  const COLOURS = ["#b3261e", "#1f5fbf", "#c77700", "#2e7d32", "#6a3d9a", "#00838f", "#795548"];

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

  function number(value) {
    return typeof value === "number" ? value.toLocaleString("en", { maximumFractionDigits: 3 }) : String(value);
  }

  function showValue(slider) {
    const output = document.getElementById(slider.id + "-value");
    if (output) output.textContent = slider.value + " " + (slider.dataset.unit || "");
  }

  function syncVaried(form) {
    const change = form.elements.change.value;
    form.querySelectorAll("input[type=range], input[data-load]").forEach(function (slider) {
      slider.disabled = slider.name === change;
      slider.closest("label").classList.toggle("varied", slider.disabled);
    });
  }

  function onChangeSelected(form) {
    const option = form.elements.change.selectedOptions[0];
    form.elements.from.value = option.dataset.from;
    form.elements.to.value = option.dataset.to;
    syncVaried(form);
  }

  function requestBody(form) {
    const change = form.elements.change.value;
    const params = {};
    form.querySelectorAll("input[type=range]").forEach(function (slider) {
      if (slider.name !== change) params[slider.name] = Number(slider.value);
    });
    // A learned load parameter left empty is unknown: not sent, the network sums it out.
    form.querySelectorAll("input[data-load]").forEach(function (input) {
      if (input.name !== change && input.value !== "") params[input.name] = Number(input.value);
    });
    const body = {
      model: "service",
      params: params,
      change: change,
      from: Number(form.elements.from.value),
      to: Number(form.elements.to.value),
      steps: Number(form.elements.steps.value),
    };
    const service = form.elements.service ? form.elements.service.value : "";
    if (service) body.service = service;
    const fault = form.elements.fault.value;
    if (fault) {
      const spec = { type: fault, start_s: Number(form.elements.fault_start.value || 0) };
      if (form.elements.fault_value.value !== "") spec.value = Number(form.elements.fault_value.value);
      body.faults = [spec];
    }
    return body;
  }

  function chart(answer) {
    const element = document.getElementById("whatif-chart");
    if (!window.Plotly) return;
    const byMode = {};
    answer.points.forEach(function (point) {
      point.modes.forEach(function (mode) {
        if (!byMode[mode.mode]) byMode[mode.mode] = { name: mode.name, x: [], y: [] };
        byMode[mode.mode].x.push(point.value);
        byMode[mode.mode].y.push(mode.probability);
      });
    });
    const data = Object.keys(byMode).map(function (key, i) {
      return {
        type: "scatter", mode: "lines+markers", name: escapeLabel(byMode[key].name),
        x: byMode[key].x, y: byMode[key].y, line: { color: COLOURS[i % COLOURS.length] },
      };
    });
    const layout = {
      margin: { l: 60, r: 20, t: 10, b: 50 }, legend: { orientation: "h", y: -0.25 },
      paper_bgcolor: "rgba(0,0,0,0)",
      xaxis: { title: { text: escapeLabel(answer.change) } },
      // Probabilities in %, as on every other page; the threshold line says what it is.
      yaxis: { title: { text: "probability (%)" }, range: [0, 1.05], tickformat: ".0%" },
      shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: answer.threshold,
                 y1: answer.threshold, line: { dash: "dot", color: "#888", width: 1 } }],
      annotations: [{ xref: "paper", x: 1, xanchor: "right", y: answer.threshold, yanchor: "bottom",
                      showarrow: false, font: { size: 10, color: "#555" },
                      text: "alert threshold " + Math.round(answer.threshold * 100) + "%" }],
    };
    window.Plotly.react(element, data, layout, PLOT_CONFIG);
    element.dataset.drawn = "1";
  }

  function table(answer) {
    const body = document.getElementById("whatif-body");
    const rows = answer.appearances
      .slice()
      .sort(function (a, b) { return b.max_probability - a.max_probability; })
      .map(function (item) {
        const row = document.createElement("tr");
        row.dataset.mode = item.mode;
        row.appendChild(cell("td", item.name));
        const first = item.first_value === null ? "does not appear" : answer.change + " = " + number(item.first_value);
        row.appendChild(cell("td", first, "num"));
        row.appendChild(cell("td", Math.round(item.max_probability * 100) + "%", "num"));
        row.appendChild(cell("td", item.mitigation || "—"));
        return row;
      });
    body.replaceChildren.apply(body, rows);
  }

  function problemText(response, data) {
    if (data && data.detail) return data.detail;
    return "request failed (" + response.status + ")";
  }

  function run(form) {
    const status = document.getElementById("whatif-status");
    const button = document.getElementById("whatif-run");
    status.textContent = "simulating…";
    button.disabled = true;
    fetch(form.dataset.api, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(requestBody(form)),
    })
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (data) {
          if (!response.ok) throw new Error(problemText(response, data));
          return data;
        });
      })
      .then(function (answer) {
        chart(answer);
        table(answer);
        document.getElementById("whatif-inference").textContent =
          "Inference: " + answer.inference + " — " + answer.inference_note;
        status.textContent = answer.points.length + " points in " + answer.elapsed_s.toFixed(2) + " s";
      })
      .catch(function (error) { status.textContent = "Error: " + error.message; })
      .finally(function () { button.disabled = false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("whatif-form");
    if (!form) return;
    form.querySelectorAll("input[type=range]").forEach(function (slider) {
      slider.addEventListener("input", function () { showValue(slider); });
      showValue(slider);
    });
    form.elements.change.addEventListener("change", function () { onChangeSelected(form); });
    syncVaried(form);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      run(form);
    });
  });
})();
