// A job's CPU, memory and GPU use over its life (from the site's Prometheus): one line chart each.
// Drawn when the page loads and again when htmx brings the section into the job page; the table
// under the charts holds the same data.
(function () {
  "use strict";
  const gettext = window.gettext || ((s) => s);

  function line(id, label, rows, key, unit) {
    const canvas = document.getElementById(id);
    if (!canvas || canvas.dataset.drawn) return;
    canvas.dataset.drawn = "true";
    new window.Chart(canvas, {
      type: "line",
      data: {
        labels: rows.map((row) => new Date(row.at).toLocaleTimeString()),
        datasets: [{ label: label, data: rows.map((row) => row[key]), spanGaps: true, pointRadius: 0 }],
      },
      options: {
        animation: false,
        scales: { y: { beginAtZero: true, title: { display: true, text: unit } } },
      },
    });
  }

  function draw() {
    const node = document.getElementById("resource-data");
    if (!node || !window.Chart) return;
    const rows = JSON.parse(node.textContent);
    line("cpu-chart", gettext("CPU"), rows, "cpu", gettext("cores"));
    line("memory-chart", gettext("Memory"), rows, "memory_mib", "MiB");
    line("gpu-chart", gettext("GPU"), rows, "gpu", "%");
  }

  draw();
  document.addEventListener("htmx:afterSettle", draw);
})();
