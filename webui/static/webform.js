/* A public web form in an iframe tells the embedding page its height (webform-embed.js sizes the
   frame). Nothing else: the form works without JavaScript. */
(function () {
  "use strict";
  if (window.parent === window) return;
  var form = document.querySelector("main.webform");
  if (!form) return;
  function tell() {
    window.parent.postMessage({ trellisForm: form.getAttribute("data-form"), height: document.documentElement.scrollHeight }, "*");
  }
  window.addEventListener("load", tell);
  window.addEventListener("resize", tell);
  tell();
})();
