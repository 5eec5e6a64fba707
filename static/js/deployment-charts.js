// A deployment's traffic through the portal, one point a minute: calls and errors, and the
// latency percentiles (from the portal's bounded histogram). The table below holds the same data.
(function () {
  "use strict";
  const gettext = window.gettext || ((s) => s);
  const node = document.getElementById("traffic-data");
  if (!node || !window.Chart) return;
  const rows = JSON.parse(node.textContent);
  const labels = rows.map((row) => row.minute.slice(11, 16));
  const calls = document.getElementById("calls-chart");
  if (calls) {
    new window.Chart(calls, {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          { label: gettext("Calls"), data: rows.map((row) => row.requests) },
          { label: gettext("Errors"), data: rows.map((row) => row.errors) },
        ],
      },
      options: { animation: false, scales: { y: { beginAtZero: true } } },
    });
  }
  const latency = document.getElementById("latency-chart");
  if (latency) {
    new window.Chart(latency, {
      type: "line",
      data: {
        labels: labels,
        datasets: [
          { label: "p50", data: rows.map((row) => row.p50_ms), spanGaps: true },
          { label: "p95", data: rows.map((row) => row.p95_ms), spanGaps: true },
          { label: "p99", data: rows.map((row) => row.p99_ms), spanGaps: true },
        ],
      },
      options: {
        animation: false,
        scales: { y: { beginAtZero: true, title: { display: true, text: gettext("milliseconds") } } },
      },
    });
  }
})();
