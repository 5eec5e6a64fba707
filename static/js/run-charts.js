/* The charts of many runs (experiments/charts.html), from the JSON the page carries
   (#chart-data: {metric, param, axes, runs: [{name, param, x, params, metric}]}):
   - a scatter plot of the metric against one parameter (numbers on a linear axis, other values
     as categories);
   - parallel coordinates: one line a run across the parameters and the metric, each axis scaled
     to its own range (categories spread evenly), coloured by the metric.
   The table under the charts holds the same data. */
(function () {
  "use strict";

  function colour(t) {  // 0 -> blue, 1 -> red
    var r = Math.round(40 + 200 * t), b = Math.round(220 - 180 * t);
    return "rgba(" + r + ",90," + b + ",0.75)";
  }

  function scaleOf(values) {
    var numbers = values.filter(function (v) { return v !== "" && v !== null && !isNaN(Number(v)); }).map(Number);
    if (numbers.length === values.filter(function (v) { return v !== "" && v !== null; }).length && numbers.length) {
      var lo = Math.min.apply(null, numbers), hi = Math.max.apply(null, numbers);
      return {
        label: lo === hi ? String(lo) : lo.toPrecision(3) + "–" + hi.toPrecision(3),
        at: function (v) { return v === "" || v === null ? null : (hi === lo ? 0.5 : (Number(v) - lo) / (hi - lo)); }
      };
    }
    var names = Array.from(new Set(values.filter(function (v) { return v !== "" && v !== null; }).map(String))).sort();
    return {
      label: names.slice(0, 4).join(", ") + (names.length > 4 ? "…" : ""),
      at: function (v) { var i = names.indexOf(String(v)); return i < 0 ? null : (names.length === 1 ? 0.5 : i / (names.length - 1)); }
    };
  }

  function scatter(canvas, data) {
    var runs = data.runs.filter(function (r) { return r.metric !== null; });
    var numeric = runs.length > 0 && runs.every(function (r) { return r.x !== null; });
    var labels = numeric ? undefined : Array.from(new Set(runs.map(function (r) { return String(r.param); }))).sort();
    var points = runs.map(function (r) { return { x: numeric ? r.x : String(r.param), y: r.metric, name: r.name }; });
    new window.Chart(canvas, {
      type: "scatter",
      data: { labels: labels, datasets: [{ label: data.metric, data: points, pointRadius: 4 }] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          x: { type: numeric ? "linear" : "category", labels: labels, offset: !numeric, title: { display: true, text: data.param } },
          y: { title: { display: true, text: data.metric } }
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: function (c) { return c.raw.name + ": " + data.param + "=" + c.raw.x + ", " + data.metric + "=" + c.raw.y; } } }
        }
      }
    });
    canvas.dataset.points = String(points.length);
    canvas.dataset.state = "ready";
  }

  function parallel(canvas, data) {
    var axes = data.axes.concat([data.metric]);
    var columns = axes.map(function (_, i) {
      return data.runs.map(function (r) { return i < data.axes.length ? r.params[i] : r.metric; });
    });
    var scales = columns.map(scaleOf);
    var metricScale = scales[scales.length - 1];
    var datasets = data.runs.map(function (r, row) {
      var t = metricScale.at(r.metric);
      return {
        label: r.name,
        data: columns.map(function (column, i) { return scales[i].at(column[row]); }),
        raw: columns.map(function (column) { return column[row]; }),
        borderColor: colour(t === null ? 0.5 : t),
        borderWidth: 1.5,
        pointRadius: 2,
        spanGaps: false
      };
    });
    new window.Chart(canvas, {
      type: "line",
      data: { labels: axes.map(function (a, i) { return [a, scales[i].label]; }), datasets: datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { y: { min: -0.05, max: 1.05, ticks: { display: false }, grid: { display: false } }, x: { offset: true, grid: { color: "#999", offset: false } } },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + c.dataset.raw[c.dataIndex]; } } }
        }
      }
    });
    canvas.dataset.lines = String(datasets.length);
    canvas.dataset.state = "ready";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var node = document.getElementById("chart-data");
    if (!node || !window.Chart) { return; }
    var data = JSON.parse(node.textContent);
    var s = document.getElementById("scatter-canvas"), p = document.getElementById("parallel-canvas");
    if (s) { scatter(s, data); }
    if (p) { parallel(p, data); }
  });
})();
