/* Metric charts of the run and compare pages: each <canvas data-history-url> fetches
   {series: [{run_id, label, points: [{step, value}]}]} from the portal and draws one line a run. */
(function () {
  "use strict";
  var charts = new WeakMap();

  function labelsFor(canvas) {
    var id = canvas.dataset.labels;
    var node = id && document.getElementById(id);
    return node ? JSON.parse(node.textContent) : {};
  }

  function draw(canvas) {
    var url = canvas.dataset.historyUrl;
    canvas.dataset.state = "loading";
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); })
      .then(function (result) {
        var ok = result[0], body = result[1];
        if (!ok) { throw new Error(body.error || body.message || String(body)); }
        var names = labelsFor(canvas);
        var datasets = body.series.map(function (series) {
          return {
            label: names[series.run_id] || series.label,
            data: series.points.map(function (p) { return { x: p.step, y: p.value }; }),
            pointRadius: series.points.length > 50 ? 0 : 2,
            borderWidth: 1.5,
            tension: 0.1
          };
        });
        var old = charts.get(canvas);
        if (old) { old.destroy(); }
        charts.set(canvas, new window.Chart(canvas, {
          type: "line",
          data: { datasets: datasets },
          options: {
            animation: false,
            parsing: false,
            scales: { x: { type: "linear", title: { display: true, text: canvas.dataset.xLabel || "step" } } },
            plugins: { legend: { display: datasets.length > 1 } }
          }
        }));
        canvas.dataset.series = String(datasets.length);
        canvas.dataset.state = "ready";
      })
      .catch(function (error) {
        canvas.dataset.state = "error";
        var note = document.createElement("p");
        note.className = "error";
        note.textContent = error.message;
        canvas.after(note);
      });
  }

  function init(root) {
    root.querySelectorAll("canvas[data-history-url]").forEach(function (canvas) {
      if (!canvas.dataset.state) { draw(canvas); }
    });
    root.querySelectorAll("select[data-chart-select]").forEach(function (select) {
      select.addEventListener("change", function () {
        var canvas = document.getElementById(select.dataset.chartSelect);
        canvas.dataset.historyUrl = canvas.dataset.baseUrl + encodeURIComponent(select.value);
        draw(canvas);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSwap", function (event) { init(event.target); });
})();
