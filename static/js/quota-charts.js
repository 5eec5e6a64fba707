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
  const overview = data("overview-series");
  const canvas = document.getElementById("overview-chart");
  if (overview && canvas && window.Chart) {
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: overview.labels,
        datasets: [
          { label: gettext("GPU-hours used"), data: overview.gpu_hours, yAxisID: "y" },
          { label: gettext("GPU-hour budget"), data: overview.gpu_budget, yAxisID: "y" },
          { label: gettext("CPU-hours used"), data: overview.cpu_hours, yAxisID: "y2" },
          { label: gettext("CPU-hour budget"), data: overview.cpu_budget, yAxisID: "y2" },
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
})();
