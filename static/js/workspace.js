// Staff workspace behaviour on top of htmx. No inline scripts: the Content-Security-Policy forbids them.
(function () {
  "use strict";

  // After a row is replaced in place, keep keyboard and screen-reader users where they were:
  // focus the first field in error, else the row's message, else the row itself.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.elt;
    if (!target || !target.classList || !target.classList.contains("item-row")) {
      target = document.getElementById(event.detail.target && event.detail.target.id);
    }
    if (!target) { return; }
    var invalid = target.querySelector(".has-error input, .has-error select, .has-error textarea");
    var message = target.querySelector(".item-message");
    var focusable = invalid || message;
    if (focusable) {
      if (invalid) {
        var error = target.querySelector(".has-error .invalid-feedback");
        if (error && error.id) { invalid.setAttribute("aria-describedby", error.id); }
        invalid.setAttribute("aria-invalid", "true");
      }
      focusable.focus();
    }
  });

  // Tie every visible error message to its control for assistive technology (no-JS pages too).
  function describeErrors(root) {
    root.querySelectorAll(".has-error").forEach(function (field) {
      var control = field.querySelector("input, select, textarea");
      var error = field.querySelector(".invalid-feedback[id]");
      if (control && error) {
        control.setAttribute("aria-describedby", error.id);
        control.setAttribute("aria-invalid", "true");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { describeErrors(document); });
  document.addEventListener("htmx:load", function (event) { describeErrors(event.detail.elt); });

  // A failed htmx request (server error, network) must not fail silently.
  document.addEventListener("htmx:responseError", function () {
    window.alert("The change could not be saved (server error). Reload the page to see the current state.");
  });
  document.addEventListener("htmx:sendError", function () {
    window.alert("The server could not be reached. Check the connection and try again.");
  });
})();
