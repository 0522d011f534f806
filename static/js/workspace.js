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

  // Character counters for fields with a limit (the server checks it; the browser never cuts text).
  function counterText(length, limit) {
    var fmt = function (n) { return n.toLocaleString("en-US"); };
    if (length > limit) {
      return fmt(length) + " of " + fmt(limit) + " characters: " + fmt(length - limit) + " too many";
    }
    return fmt(length) + " of " + fmt(limit) + " characters";
  }
  function attachCounters(root) {
    root.querySelectorAll("textarea[data-maxlength], input[data-maxlength]").forEach(function (control) {
      if (control.dataset.counter) { return; }
      var limit = parseInt(control.getAttribute("data-maxlength"), 10);
      // Short single-line fields (names, codes) do not need a running count.
      if (control.tagName === "INPUT" && limit < 200) { return; }
      var counter = document.createElement("div");
      counter.className = "form-text small char-count";
      counter.id = control.id + "_count";
      control.dataset.counter = counter.id;
      var describedBy = control.getAttribute("aria-describedby");
      control.setAttribute("aria-describedby", (describedBy ? describedBy + " " : "") + counter.id);
      // Announced only when the text goes over the limit or back under it, not at every key.
      var live = document.createElement("span");
      live.className = "visually-hidden";
      live.setAttribute("aria-live", "polite");
      control.insertAdjacentElement("afterend", counter);
      counter.insertAdjacentElement("afterend", live);
      var wasOver = false;
      var update = function () {
        var over = control.value.length > limit;
        counter.textContent = counterText(control.value.length, limit);
        counter.classList.toggle("text-danger", over);
        counter.classList.toggle("fw-semibold", over);
        if (over !== wasOver) {
          live.textContent = over ? "Too long: " + counter.textContent : "Back within the limit.";
          wasOver = over;
        }
      };
      control.addEventListener("input", update);
      update();
    });
  }
  document.addEventListener("DOMContentLoaded", function () { attachCounters(document); });
  document.addEventListener("htmx:load", function (event) { attachCounters(event.detail.elt); });

  // A catalogue drug is a blood thinner: picking one ticks the box of its row.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[name='drug'], select[name$='-drug']")) { return; }
    var option = select.options[select.selectedIndex];
    if (option && option.getAttribute("data-blood-thinner") === "true") {
      var box = document.getElementById(select.id.replace(/drug$/, "is_blood_thinner"));
      if (box) { box.checked = true; }
    }
  });

  // Name the procedure's default anaesthesia in the menu as soon as a procedure is chosen.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[name$='procedure']")) { return; }
    var option = select.options[select.selectedIndex];
    var menu = document.getElementById(select.id.replace(/procedure$/, "anaesthesia"));
    var blank = menu && menu.querySelector("option[value='']");
    if (blank) {
      var name = option && option.getAttribute("data-default-anaesthesia");
      blank.textContent = name ? "The procedure's default: " + name : "The procedure's default";
    }
  });

  // A failed htmx request (server error, network) must not fail silently.
  document.addEventListener("htmx:responseError", function () {
    window.alert("The change could not be saved (server error). Reload the page to see the current state.");
  });
  document.addEventListener("htmx:sendError", function () {
    window.alert("The server could not be reached. Check the connection and try again.");
  });
})();
