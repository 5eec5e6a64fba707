// Plots of quota use: per day in a project's period, and per project for site admins.
(function () {
  "use strict";
  // The portal's JavaScript catalogue (jsi18n) when the page loads it; English otherwise.
  const gettext = window.gettext || ((s) => s);
  function data(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  const series = data("usage-series");
  const usage = document.getElementById("usage-chart");
  if (series && usage && window.Chart) {
    new window.Chart(usage, {
      type: "bar",
      data: {
        labels: series.labels,
        datasets: [
          { type: "bar", label: gettext("GPU-hours per day"), data: series.gpu_hours, yAxisID: "y" },
          { type: "line", label: gettext("GPU-hours so far"), data: series.gpu_hours_cumulative, yAxisID: "y" },
          { type: "bar", label: gettext("CPU-hours per day"), data: series.cpu_hours, yAxisID: "y2" },
          { type: "line", label: gettext("CPU-hours so far"), data: series.cpu_hours_cumulative, yAxisID: "y2" },
        ],
      },
      options: {
        animation: false,
        scales: {
          y: { beginAtZero: true, title: { display: true, text: gettext("GPU-hours") } },
          y2: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: gettext("CPU-hours") } },
        },
      },
    });
  }
  // Every project's use as a share of its own budget: 100 % is the budget, whatever its size.
  const overview = data("overview-series");
  const canvas = document.getElementById("overview-chart");
  if (overview && canvas && window.Chart) {
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: overview.labels,
        datasets: [
          { label: gettext("GPU-hours, % of the budget"), data: overview.gpu_share },
          { label: gettext("CPU-hours, % of the budget"), data: overview.cpu_share },
        ],
      },
      options: {
        animation: false,
        scales: {
          y: { beginAtZero: true, suggestedMax: 100, title: { display: true, text: gettext("% of the budget") } },
        },
      },
    });
  }
})();
