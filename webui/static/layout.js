/* The page frame on small and large screens (base.html, list.html, board.html); no inline
   scripts (the Content-Security-Policy forbids them). Without this script the navigation,
   the tools and the filters are simply always shown.
   - The header's menu button: on narrow screens, or wherever the header's one row would
     not fit, the header is compact (class "compact"): the navigation and the tools fold
     behind the button, which opens them (aria-expanded); Escape closes.
   - Filters (details[data-fold]): open as rendered; on a phone folded behind their
     "Filters" button unless a filter is in use (data-active), so the records come first.
   - Menus (details.menu, the board cards' "Move to…"): one open at a time; a click
     elsewhere or Escape closes them. */
(function () {
  "use strict";

  var PHONE = window.matchMedia("(max-width: 37.5rem)");

  var NARROW = window.matchMedia("(max-width: 60rem)");

  /* The header is compact on narrow screens, and on wider ones whose one row would not fit
     (many objects, long names): never overlapping. */
  function fitHeader(bar, menu) {
    bar.classList.remove("compact");
    var overflows = bar.scrollWidth > bar.clientWidth + 1 || menu.scrollWidth > menu.clientWidth + 1;
    bar.classList.toggle("compact", NARROW.matches || overflows);
  }

  function setUpHeader() {
    var button = document.querySelector(".menu-toggle");
    var menu = document.getElementById("topbar-menu");
    if (!button || !menu) { return; }
    var bar = button.closest(".topbar");
    button.hidden = false;
    bar.classList.add("js-menu");
    fitHeader(bar, menu);
    var waiting = null;
    window.addEventListener("resize", function () {
      if (waiting) { window.cancelAnimationFrame(waiting); }
      waiting = window.requestAnimationFrame(function () { fitHeader(bar, menu); });
    });
    function show(open) {
      menu.classList.toggle("open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    button.addEventListener("click", function () { show(!menu.classList.contains("open")); });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && menu.classList.contains("open")) { show(false); button.focus(); }
    });
  }

  function foldFilters() {
    document.querySelectorAll("details[data-fold]").forEach(function (fold) {
      fold.open = !PHONE.matches || fold.hasAttribute("data-active");
    });
  }

  function menus() {
    return document.querySelectorAll("details.menu[open], details.card-menu[open]");
  }

  function setUpMenus() {
    document.addEventListener("click", function (event) {
      menus().forEach(function (menu) {
        if (!menu.contains(event.target)) { menu.open = false; }
      });
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") { return; }
      menus().forEach(function (menu) {
        var focused = menu.contains(document.activeElement);
        menu.open = false;
        if (focused) { menu.querySelector("summary").focus(); }
      });
    });
    document.addEventListener("toggle", function (event) {
      var opened = event.target;
      if (!opened.open || !opened.matches || !opened.matches("details.menu, details.card-menu")) { return; }
      menus().forEach(function (menu) { if (menu !== opened) { menu.open = false; } });
    }, true);
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpHeader();
    foldFilters();
    setUpMenus();
    if (PHONE.addEventListener) { PHONE.addEventListener("change", foldFilters); }
  });
}());
