/* The record form (form.html); no inline scripts (the Content-Security-Policy forbids them).
   - the error summary: focused when the page comes back with problems; each link moves the
     focus to its field (the browser only scrolls to an anchor);
   - closing as lost: choosing one of the stage select's data-lost-stages asks first
     (data-lost-question, {stage} → the option's label); confirmed, the form carries
     confirm_lost=1 and the focus moves to the first field the lost stage asks for
     (data-lost-asks, e.g. the lost reason); cancelled, the stage goes back. The server
     asks the same question without JavaScript. */
(function () {
  "use strict";

  function focusField(id) {
    var field = document.getElementById(id);
    if (!field) { return false; }
    field.scrollIntoView({block: "center"});
    field.focus();
    return true;
  }

  function setUpSummary() {
    var summary = document.querySelector(".error-summary");
    if (!summary) { return; }
    summary.querySelectorAll("a[data-focus]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (focusField(link.getAttribute("data-focus"))) { event.preventDefault(); }
      });
    });
    summary.focus();
  }

  function confirmInput(form) {
    var input = form.querySelector("input[name='confirm_lost']");
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = "confirm_lost";
      input.value = "1";
      form.appendChild(input);
    }
    return input;
  }

  function setUpLost(form) {
    var select = document.getElementById(form.getAttribute("data-stage-field"));
    if (!select || select.tagName !== "SELECT") { return; }
    var lost = form.getAttribute("data-lost-stages").split(" ");
    var asks = (form.getAttribute("data-lost-asks") || "").split(" ").filter(Boolean);
    var previous = select.value;
    select.addEventListener("change", function () {
      if (lost.indexOf(select.value) === -1) { previous = select.value; return; }
      var label = select.options[select.selectedIndex].text;
      var question = form.getAttribute("data-lost-question").replace("{stage}", label);
      if (!window.confirm(question)) {
        select.value = previous;
        return;
      }
      previous = select.value;
      confirmInput(form);
      for (var i = 0; i < asks.length; i += 1) {
        var field = document.getElementById("f-" + asks[i]);
        if (field) {
          field.setAttribute("required", "");
          field.setAttribute("aria-required", "true");
          if (!field.value) { field.focus(); break; }
        }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpSummary();
    document.querySelectorAll("form.record-form[data-lost-stages]").forEach(setUpLost);
  });
}());
