/* MLflow prints "View run at <tracking uri>/#/experiments/<id>/runs/<run id>": the part after #
   never reaches the server, so this page reads it and goes on to the portal's page for it. */
(function () {
  "use strict";
  function go() {
    var box = document.getElementById("mlflow-link");
    var found = /^#\/experiments\/([A-Za-z0-9_-]+)(?:\/runs\/([A-Za-z0-9_-]+))?/.exec(window.location.hash);
    if (!box || !found) { return; }
    var query = "?experiment=" + encodeURIComponent(found[1]);
    if (found[2]) { query += "&run=" + encodeURIComponent(found[2]); }
    var note = document.getElementById("mlflow-link-going");
    if (note) { note.hidden = false; }
    window.location.replace(box.dataset.openUrl + query);
  }
  document.addEventListener("DOMContentLoaded", go);
  window.addEventListener("hashchange", go);
})();
