/* The top bar's global search (_search_box.html): as-you-type suggestions in a listbox.
   Without this script the box is a plain form to /search, which shows the same results.
   - Typing waits 200 ms after the last key, then asks the form's data-suggest URL
     (/search/suggest?q=) for JSON; an older answer arriving late is dropped.
   - The box is an ARIA combobox: ↓/↑ move through the options (aria-activedescendant,
     aria-selected), Enter opens the chosen record (or, with none chosen, submits the form:
     the results page), Escape closes the list (a second Escape empties the box).
   - "/" anywhere outside a field focuses the box. */
(function () {
  "use strict";

  var DELAY = 200;
  var MIN_LENGTH = 2;
  var CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]/;

  function typing(target) {
    if (!target || !target.tagName) { return false; }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function searchable(text) {
    return text.length >= MIN_LENGTH || (text.length > 0 && CJK.test(text));
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text) { node.textContent = text; }
    return node;
  }

  function setUp(form) {
    var input = form.querySelector("input[name=q]");
    var list = form.querySelector("[role=listbox]");
    var status = form.querySelector("[role=status]");
    var url = form.getAttribute("data-suggest");
    if (!input || !list || !url) { return; }
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");
    var timer = null;
    var asked = 0;
    var active = -1;

    function options() { return list.querySelectorAll("[role=option]"); }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function choose(index) {
      var all = options();
      if (!all.length) { return; }
      active = (index + all.length) % all.length;
      all.forEach(function (option, i) { option.setAttribute("aria-selected", i === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", all[active].id);
      all[active].scrollIntoView({ block: "nearest" });
    }

    function option(id, href, title, detail, className) {
      var item = element("div", className || "", "");
      item.id = id;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", "false");
      item.setAttribute("data-href", href);
      var link = element("a", "", title);
      link.href = href;
      link.tabIndex = -1;
      item.appendChild(link);
      if (detail) { item.appendChild(element("span", "search-matched", detail)); }
      return item;
    }

    function show(data) {
      list.textContent = "";
      active = -1;
      input.removeAttribute("aria-activedescendant");
      var n = 0;
      data.groups.forEach(function (group, g) {
        var box = element("div", "search-group", "");
        box.setAttribute("role", "group");
        var label = element("div", "search-group-label", "");
        label.id = "global-search-group-" + g;
        label.appendChild(element("span", "", group.label));
        label.appendChild(element("span", "", group.count));
        box.setAttribute("aria-labelledby", label.id);
        box.appendChild(label);
        group.hits.forEach(function (hit) {
          box.appendChild(option("global-search-option-" + (n++), hit.url, hit.title, hit.matched));
        });
        if (group.more) {
          box.appendChild(option("global-search-option-" + (n++), group.list_url, group.all_label, "", "search-option-more"));
        }
        list.appendChild(box);
      });
      if (!data.groups.length) {
        list.appendChild(element("div", "search-empty", data.status));
      }
      list.appendChild(option("global-search-option-" + (n++), data.all_url, data.all_label, "", "search-option-all"));
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      status.textContent = data.status;
    }

    function ask() {
      var text = input.value.trim();
      if (!searchable(text)) { close(); status.textContent = ""; return; }
      var mine = ++asked;
      fetch(url + "?q=" + encodeURIComponent(text), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (mine !== asked || document.activeElement !== input) { return; }
          if (data) { show(data); } else { close(); }
        })
        .catch(function () { if (mine === asked) { close(); } });
    }

    input.addEventListener("input", function () {
      if (timer) { window.clearTimeout(timer); }
      timer = window.setTimeout(ask, DELAY);
    });
    input.addEventListener("keydown", function (event) {
      var open = !list.hidden;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!open) { ask(); return; }
        choose(event.key === "ArrowDown" ? active + 1 : active < 0 ? -1 : active - 1);
      } else if (event.key === "Enter" && open && active >= 0) {
        event.preventDefault();
        window.location.assign(options()[active].getAttribute("data-href"));
      } else if (event.key === "Escape") {
        if (open) { event.preventDefault(); close(); } else if (input.value) { event.preventDefault(); input.value = ""; }
      }
    });
    list.addEventListener("mousedown", function (event) { event.preventDefault(); });  /* keep the focus */
    list.addEventListener("click", function (event) {
      var chosen = event.target.closest("[role=option]");
      if (!chosen || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
      event.preventDefault();
      window.location.assign(chosen.getAttribute("data-href"));
    });
    input.addEventListener("blur", function () { window.setTimeout(close, 150); });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
      event.preventDefault();
      input.focus();
      input.select();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.topbar-search").forEach(setUp);
  });
}());
