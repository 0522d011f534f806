// Every page: a form that comes back with errors opens on its error summary, which takes the focus
// (so it is read out) and whose links put the focus in the field they name, not only the scroll.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) {
      summary.scrollIntoView({block: "start"});
      summary.focus();
    }
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-error-link]");
    if (!link) { return; }
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (field) {
      event.preventDefault();
      field.scrollIntoView({block: "center"});
      field.focus();
    }
  });
})();
