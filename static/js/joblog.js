/* The job page's log in follow mode: after each poll, keep the newest lines in view, unless the
   reader scrolled up to read older ones. */
(function () {
  "use strict";
  var stuck = true;

  function pre() { return document.getElementById("job-log"); }

  function atBottom(node) { return node.scrollHeight - node.scrollTop - node.clientHeight < 24; }

  function follow() {
    var node = pre();
    var box = document.getElementById("log");
    if (node && box && box.dataset.following === "true" && stuck) { node.scrollTop = node.scrollHeight; }
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var node = pre();
    if (node && event.detail.target && event.detail.target.id === "log") { stuck = atBottom(node); }
  });
  document.addEventListener("htmx:afterSwap", follow);
  document.addEventListener("DOMContentLoaded", follow);
})();
