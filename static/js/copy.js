/* Copy buttons, attached here instead of inline handlers (the Content-Security-Policy runs no
   inline script): <button type="button" data-copy="ID" data-copied="Copied"> copies the text of
   the element with that id to the clipboard and says so on the button for a moment. Without
   the clipboard (an insecure origin), the text is selected so Ctrl+C copies it. */
(function () {
  "use strict";
  function select(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  function done(button) {
    var label = button.textContent;
    button.textContent = button.dataset.copied || label;
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
    if (!button) { return; }
    var source = document.getElementById(button.dataset.copy);
    if (!source) { return; }
    var text = source.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(button); }, function () { select(source); });
    } else {
      select(source);
    }
  });
  document.querySelectorAll("button[data-copy][hidden]").forEach(function (button) {
    button.hidden = false;  // shown only where the script runs
  });
})();
