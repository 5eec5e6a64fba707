/* Behaviour every page shares, attached here instead of inline handlers (the Content-Security-Policy
   runs no inline script):
   - <form data-confirm="Question?">: asks before submitting; "Cancel" keeps the page as it is.
   - <select data-submit-on-change>: submits its form when the choice changes (the language menu). */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select instanceof HTMLSelectElement && select.hasAttribute("data-submit-on-change") && select.form) {
      select.form.requestSubmit ? select.form.requestSubmit() : select.form.submit();
    }
  });
})();
// The navigation's Menu button (phones): shown only when this script runs, so without JavaScript
// every link stays visible.
(function () {
  "use strict";
  var toggle = document.querySelector(".nav-toggle");
  var menu = document.getElementById("site-nav");
  if (!toggle || !menu) return;
  toggle.hidden = false;
  menu.classList.add("collapsed");
  toggle.addEventListener("click", function () {
    var open = menu.classList.toggle("collapsed") === false;
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
})();
// A table wider than its box scrolls inside it: keyboard users reach it too (focusable when it
// scrolls and holds nothing focusable of its own). Checked on load, on resize and after swaps.
(function () {
  "use strict";
  function mark() {
    document.querySelectorAll("main table, main .overflow-auto").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.dataset.scrollFocus = "";
      } else if (!scrolls && box.dataset.scrollFocus !== undefined) {
        box.removeAttribute("tabindex");
        delete box.dataset.scrollFocus;
      }
    });
  }
  mark();
  window.addEventListener("resize", mark);
  document.addEventListener("htmx:afterSettle", mark);
})();
