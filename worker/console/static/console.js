// stripe-lifecycle console: draws the charts whose data the page carries in
// <script type="application/json" class="chart-data" data-target="ID"> blocks, and wires the
// "select all" box of the deliveries table. Served from /static (no inline script: CSP).
(function () {
  "use strict";
  function drawCharts() {
    if (typeof window.Plotly === "undefined") { return; }
    document.querySelectorAll("script.chart-data").forEach(function (block) {
      var target = document.getElementById(block.getAttribute("data-target"));
      if (!target) { return; }
      var figure = JSON.parse(block.textContent);
      window.Plotly.newPlot(target, figure.data, figure.layout,
        {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"]});
    });
  }
  function wireSelectAll() {
    document.querySelectorAll("input[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        document.querySelectorAll("input[name=id]").forEach(function (row) { row.checked = box.checked; });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawCharts(); wireSelectAll(); });
}());
