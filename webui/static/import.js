/* The progress of an import job (webui/ui/imports.py, import_job.html): asks the job's progress
   JSON (data-import-progress) every second and moves the bar and its text; when the job has
   ended, reloads the page, which then shows the result. Without this script the page reloads
   itself every two seconds (a meta refresh in <noscript>). Leaving the page stops nothing: the
   job runs in `trellis worker`. */
(function () {
  "use strict";

  var box = document.querySelector("[data-import-progress]");
  if (!box) {
    return;
  }
  var url = box.getAttribute("data-import-progress");
  var bar = box.querySelector("progress");
  var text = box.querySelector("[data-import-text]");
  var status = document.querySelector("[data-import-status]");

  function show(data) {
    if (data.percent === null || data.percent === undefined) {
      bar.removeAttribute("value");
    } else {
      bar.value = data.percent;
      bar.textContent = data.percent + "%";
    }
    text.textContent = data.text;
    if (status) {
      status.textContent = data.status_text;
    }
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data) {
          show(data);
          if (!data.open) {
            window.location.reload();
            return;
          }
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        window.setTimeout(poll, 2000);
      });
  }

  window.setTimeout(poll, 1000);
})();
