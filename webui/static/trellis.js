/* Trellis web UI behaviour: no inline scripts (the Content-Security-Policy forbids them).
   - dependent picklists: a select with data-parent="<id>" shows only the options whose
     data-parents list the parent's value (none while the parent is empty; options
     without data-parents always); the server validates anyway;
   - lookups and the user picker: an input with data-lookup-url searches as you type
     (answers [{id, title}] for records, [{id, name}] for users) and fills the hidden
     input named like the field with the chosen id; typing clears that id (the server
     then resolves the typed name, as it does without JavaScript);
   - forms with data-confirm ask before they submit.
   TrellisUI.setUp(root) sets up the dependent picklists and type-aheads inside ``root``: the
   page on load, and fields that arrive later (board.js's move dialog). */
(function () {
  "use strict";

  function narrow(child, parent) {
    var value = parent.value;
    Array.prototype.forEach.call(child.options, function (option) {
      var parents = option.getAttribute("data-parents");
      if (parents === null) { return; }
      var fits = value !== "" && parents.split(" ").indexOf(value) !== -1;
      option.hidden = !fits;
      option.disabled = !fits;
      if (!fits && option.selected) { option.selected = false; }
    });
  }

  function setUpDependents(root) {
    root.querySelectorAll("select[data-parent]").forEach(function (child) {
      var parent = document.getElementById(child.getAttribute("data-parent"));
      if (!parent) { return; }
      parent.addEventListener("change", function () { narrow(child, parent); });
      narrow(child, parent);
    });
  }

  function setUpLookup(input) {
    var hidden = document.getElementById(input.getAttribute("data-target"));
    var list = document.getElementById(input.getAttribute("aria-controls"));
    var timer = null;
    var active = -1;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      active = -1;
    }

    function choose(item) {
      hidden.value = item.getAttribute("data-id");
      input.value = item.textContent;
      close();
      hidden.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function show(results) {
      list.innerHTML = "";
      results.forEach(function (result, index) {
        var item = document.createElement("li");
        item.setAttribute("role", "option");
        item.id = list.id + "-" + index;
        item.setAttribute("data-id", String(result.id));
        item.textContent = result.title !== undefined ? result.title : result.name; /* text, never HTML */
        item.addEventListener("mousedown", function (event) { event.preventDefault(); choose(item); });
        list.appendChild(item);
      });
      list.hidden = results.length === 0;
      input.setAttribute("aria-expanded", results.length ? "true" : "false");
      active = -1;
    }

    function search() {
      var base = input.getAttribute("data-lookup-url");
      var url = base + (base.indexOf("?") === -1 ? "?" : "&") + "q=" + encodeURIComponent(input.value);
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : []; })
        .then(show)
        .catch(close);
    }

    function highlight(step) {
      var items = list.querySelectorAll("li");
      if (!items.length) { return; }
      active = (active + step + items.length) % items.length;
      items.forEach(function (item, index) { item.setAttribute("aria-selected", index === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", items[active].id);
    }

    input.addEventListener("input", function () {
      hidden.value = "";
      clearTimeout(timer);
      if (input.value.trim() === "") { close(); return; }
      timer = setTimeout(search, 200);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") { event.preventDefault(); highlight(1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); highlight(-1); }
      else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        choose(list.querySelectorAll("li")[active]);
      } else if (event.key === "Escape") { close(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  function setUpConfirm() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }

  function setUp(root) {
    setUpDependents(root);
    root.querySelectorAll("input[data-lookup-url]").forEach(setUpLookup);
  }

  window.TrellisUI = { setUp: setUp };

  document.addEventListener("DOMContentLoaded", function () {
    setUp(document);
    setUpConfirm();
  });
}());
