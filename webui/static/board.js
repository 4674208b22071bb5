/* Moving records between pipeline stages without leaving the page: the stage path of record
   pages and the board (webui/ui/pipeline.py, webui/ui/board.py). Without this script every
   move is a plain form POST, and the server asks for what a stage needs on a page of its own.
   - A form with data-move is sent with fetch (Accept: application/json; its csrf_token field
     carries the CSRF token). 200 (moved) and 202 (sent for approval): a record page reloads
     (data-flash: the server shows the message there), the board reloads its columns and says
     the message in its status line. 422: the move dialog asks for the fields in the answer
     (form_html: the edit form's widgets, errors beside them) and sends them with the same
     hidden fields; type-aheads and dependent picklists in it are set up by trellis.js
     (TrellisUI.setUp); without trellis.js such a form opens the move page instead.
     403, 404, 409: the message.
   - Board cards: drag and drop with a mouse (HTML5), with touch or a pen from the card's
     handle (pointer events). Dropping on a column puts the card there and sends the card's
     form with that stage; if the move does not happen, the board reloads and the card is back.
     Keyboard: each card is focusable; ← and → move a focused card to the column beside it,
     and its compact "Move to…" menu (a details element) lists the other stages as buttons. */
(function () {
  "use strict";

  var dragged = null;
  var touch = null;
  var pending = null; /* {form, origin} of the move the dialog is asking about */
  var finishing = false;

  function el(node) {
    return node && node.nodeType !== 1 ? node.parentElement : node;
  }

  function statusLine() {
    return document.querySelector(".move-status");
  }

  function say(text, isError) {
    var line = statusLine();
    if (!line) { return; }
    line.textContent = text || "";
    line.classList.toggle("error", !!isError);
  }

  function dialog() {
    return document.getElementById("move-dialog");
  }

  function failedText() {
    var d = dialog();
    return (d && d.getAttribute("data-failed")) || "The move could not be sent.";
  }

  function post(form, data) {
    return fetch(form.getAttribute("action"), {
      method: "POST", body: data, credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(
        function (body) { return { status: response.status, body: body || {} }; },
        function () { return { status: response.status, body: {} }; });
    });
  }

  function formData(form, stage) {
    var data = new FormData(form);
    if (stage) { data.set("stage", stage); }
    if (form.hasAttribute("data-flash")) { data.set("flash", "1"); }
    return data;
  }

  function send(form, stage, origin) {
    say("", false);
    post(form, formData(form, stage)).then(
      function (result) { answer(form, result, origin); },
      function () { refused(form, failedText()); });
  }

  function answer(form, result, origin) {
    var body = result.body;
    if (result.status === 200 || result.status === 202) {
      closeDialog();
      if (form.hasAttribute("data-flash")) {
        window.location.assign(body.redirect || window.location.href);
      } else {
        reloadBoard(form.getAttribute("data-card"), body.message, false);
      }
      return;
    }
    if (result.status === 422 && typeof body.form_html === "string") {
      openDialog(form, body, origin);
      return;
    }
    refused(form, (body.error && body.error.message) || failedText());
  }

  function refused(form, message) {
    var d = dialog();
    if (d && d.open) {
      var line = d.querySelector(".move-dialog-error");
      line.textContent = message;
      line.hidden = false;
      return;
    }
    if (form.hasAttribute("data-card")) {
      reloadBoard(form.getAttribute("data-card"), message, true);
    } else {
      say(message, true);
    }
  }

  /* --- the board's columns ------------------------------------------------------------ */
  function reloadBoard(cardId, message, isError) {
    var board = document.getElementById("board");
    if (!board) { say(message, isError); return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("board");
        if (fresh) { board.innerHTML = fresh.innerHTML; }
        say(message, isError);
        var card = cardId && document.getElementById(cardId);
        if (card) { card.focus(); }
      }, function () { say(message || failedText(), true); });
  }

  /* --- the move dialog ---------------------------------------------------------------- */
  function hiddenInput(name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    return input;
  }

  /* The dialog's fields get ids of their own ("mv-…"), and every reference to them follows,
     so that they never clash with a field of the page behind the dialog. */
  function prefixIds(root, prefix) {
    var renamed = {};
    root.querySelectorAll("[id]").forEach(function (node) {
      renamed[node.id] = prefix + node.id;
      node.id = renamed[node.id];
    });
    ["for", "aria-controls", "aria-describedby", "data-target", "data-parent"].forEach(function (name) {
      root.querySelectorAll("[" + name + "]").forEach(function (node) {
        node.setAttribute(name, node.getAttribute(name).split(" ").map(function (id) {
          return renamed[id] || id;
        }).join(" "));
      });
    });
  }

  function openDialog(form, body, origin) {
    var d = dialog();
    var holder = document.createElement("div");
    holder.innerHTML = body.form_html; /* rendered and escaped by the server */
    var needsSetUp = holder.querySelector("[data-lookup-url], select[data-parent]");
    if (!d || typeof d.showModal !== "function" || (needsSetUp && !window.TrellisUI)) {
      window.location.assign(body.move_url);
      return;
    }
    prefixIds(holder, "mv-");
    var dialogForm = d.querySelector("form");
    var fields = d.querySelector(".move-dialog-body");
    var hidden = d.querySelector(".move-dialog-hidden");
    d.querySelector("#move-dialog-title").textContent = body.title || "";
    fields.innerHTML = "";
    while (holder.firstChild) { fields.appendChild(holder.firstChild); }
    if (needsSetUp) { window.TrellisUI.setUp(fields); } /* type-aheads and dependent picklists */
    hidden.innerHTML = "";
    ["csrf_token", "version", "next"].forEach(function (name) {
      var input = form.querySelector("[name='" + name + "']");
      if (input) { hidden.appendChild(hiddenInput(name, input.value)); }
    });
    hidden.appendChild(hiddenInput("stage", body.stage));
    if (form.hasAttribute("data-flash")) { hidden.appendChild(hiddenInput("flash", "1")); }
    dialogForm.setAttribute("action", form.getAttribute("action"));
    d.querySelector(".move-dialog-error").hidden = true;
    pending = { form: form, origin: origin };
    if (!d.open) { d.showModal(); }
    var first = fields.querySelector("[aria-invalid='true']") || fields.querySelector("input, select, textarea");
    if (first) { first.focus(); }
  }

  function closeDialog() {
    var d = dialog();
    if (d && d.open) {
      finishing = true;
      d.close();
      finishing = false;
    }
    pending = null;
  }

  function cancelled() {
    var was = pending;
    pending = null;
    if (!was) { return; }
    if (was.form.hasAttribute("data-card")) {
      reloadBoard(was.form.getAttribute("data-card"), "", false); /* the dropped card goes back */
    } else if (was.origin && was.origin.focus) {
      was.origin.focus();
    }
  }

  function setUpDialog() {
    var d = dialog();
    if (!d) { return; }
    var dialogForm = d.querySelector("form");
    dialogForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!pending) { return; }
      var current = pending;
      post(dialogForm, new FormData(dialogForm)).then(
        function (result) { answer(current.form, result, current.origin); },
        function () { refused(current.form, failedText()); });
    });
    d.querySelector(".move-cancel").addEventListener("click", function () { d.close(); });
    d.addEventListener("close", function () { if (!finishing) { cancelled(); } });
  }

  /* --- drag and drop -------------------------------------------------------------------- */
  function dropColumn(node) {
    node = el(node);
    return node && node.closest ? node.closest(".board-column[data-drop]") : null;
  }

  function highlight(column) {
    document.querySelectorAll(".board-column.drop-target").forEach(function (c) {
      if (c !== column) { c.classList.remove("drop-target"); }
    });
    if (column) { column.classList.add("drop-target"); }
  }

  function dropOn(card, column) {
    var stage = column.getAttribute("data-stage");
    var form = card.querySelector("form[data-move]");
    if (!form || stage === card.getAttribute("data-stage")) { return; }
    column.querySelector(".cards").appendChild(card); /* it lands at once; the answer decides */
    var empty = column.querySelector(".empty");
    if (empty) { empty.hidden = true; }
    send(form, stage, card);
  }

  function endDrag() {
    if (dragged) { dragged.classList.remove("dragging"); }
    dragged = null;
    highlight(null);
  }

  function setUpDragAndDrop() {
    document.addEventListener("dragstart", function (event) {
      var card = el(event.target).closest(".card[draggable='true']");
      if (!card) { return; }
      dragged = card;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", card.id);
      card.classList.add("dragging");
    });
    document.addEventListener("dragover", function (event) {
      var column = dropColumn(event.target);
      if (!dragged || !column) { return; }
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      highlight(column);
    });
    document.addEventListener("drop", function (event) {
      var column = dropColumn(event.target);
      if (!dragged || !column) { return; }
      event.preventDefault();
      var card = dragged;
      endDrag();
      dropOn(card, column);
    });
    document.addEventListener("dragend", endDrag);
  }

  /* Touch and pen: drag from the card's handle (touch-action: none), a copy follows the finger. */
  function moveGhost(event) {
    touch.ghost.style.left = (event.clientX - 24) + "px";
    touch.ghost.style.top = (event.clientY - 16) + "px";
    var board = document.getElementById("board");
    if (board) {
      var box = board.getBoundingClientRect();
      if (event.clientX > box.right - 40) { board.scrollLeft += 12; }
      if (event.clientX < box.left + 40) { board.scrollLeft -= 12; }
    }
  }

  function endTouch() {
    if (!touch) { return; }
    touch.ghost.remove();
    touch.card.classList.remove("dragging");
    touch = null;
    highlight(null);
  }

  function setUpTouch() {
    document.addEventListener("pointerdown", function (event) {
      if (event.pointerType === "mouse") { return; }
      var handle = el(event.target).closest(".drag-handle");
      var card = handle && handle.closest(".card[draggable='true']");
      if (!card) { return; }
      event.preventDefault();
      var ghost = card.cloneNode(true);
      ghost.removeAttribute("id");
      ghost.querySelectorAll("[id]").forEach(function (node) { node.removeAttribute("id"); });
      ghost.classList.add("card", "drag-ghost");
      ghost.setAttribute("aria-hidden", "true");
      document.body.appendChild(ghost);
      touch = { card: card, ghost: ghost, id: event.pointerId };
      card.classList.add("dragging");
      if (handle.setPointerCapture) { handle.setPointerCapture(event.pointerId); }
      moveGhost(event);
    });
    document.addEventListener("pointermove", function (event) {
      if (!touch || event.pointerId !== touch.id) { return; }
      event.preventDefault();
      moveGhost(event);
      highlight(dropColumn(document.elementFromPoint(event.clientX, event.clientY)));
    });
    document.addEventListener("pointerup", function (event) {
      if (!touch || event.pointerId !== touch.id) { return; }
      var card = touch.card;
      var column = dropColumn(document.elementFromPoint(event.clientX, event.clientY));
      endTouch();
      if (column) { dropOn(card, column); }
    });
    document.addEventListener("pointercancel", endTouch);
  }

  /* ← / → on a focused card: to the column before / after its own. */
  function setUpKeys() {
    document.addEventListener("keydown", function (event) {
      var card = event.target;
      if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") { return; }
      if (!card.matches || !card.matches(".card[draggable='true']") || event.altKey || event.ctrlKey || event.metaKey) {
        return;
      }
      var column = card.closest(".board-column");
      var beside = event.key === "ArrowRight" ? column.nextElementSibling : column.previousElementSibling;
      if (!beside || !beside.matches(".board-column[data-drop]")) { return; }
      event.preventDefault();
      dropOn(card, beside);
      card.focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.matches || !form.matches("form[data-move]")) { return; }
      event.preventDefault();
      var submitter = event.submitter;
      var stage = submitter && submitter.name === "stage" ? submitter.value : null;
      var menu = form.closest("details");
      if (menu) { menu.open = false; }
      send(form, stage, submitter || form);
    });
    setUpKeys();
    setUpDialog();
    setUpDragAndDrop();
    setUpTouch();
  });
}());
