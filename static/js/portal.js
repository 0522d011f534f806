// Patient portal: small progressive enhancements only; every page works without this file.
(function () {
  "use strict";
  // Ask before destructive actions marked with data-confirm (no inline handlers: CSP forbids them).
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var text = button && button.getAttribute("data-confirm");
    if (text && !window.confirm(text)) {
      event.preventDefault();
    }
  });
  // A form that comes back with errors: the summary takes the focus; its links focus the field.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) { summary.focus(); }
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-error-link]");
    var field = link && document.getElementById(link.getAttribute("href").slice(1));
    if (field) {
      event.preventDefault();
      field.focus();
    }
  });
})();
