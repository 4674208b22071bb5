/* The embeddable snippet of a Trellis web form (`trellis forms snippet`):

     <script src="https://crm.example.com/f/contact_us/embed.js" data-form="contact_us" async></script>

   puts the form in an iframe right after this tag, passing the page's UTM parameters, the page's
   address and its referrer, and the page's language; the frame takes the height the form reports. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var src = new URL(script.src, document.baseURI);
  var name = script.getAttribute("data-form") || src.pathname.split("/")[2];
  var here = new URL(window.location.href);
  var query = new URLSearchParams({ embed: "1", page: here.origin + here.pathname });
  if (document.referrer) query.set("ref", document.referrer);
  here.searchParams.forEach(function (value, key) {
    if (key.indexOf("utm_") === 0) query.set(key, value);
  });
  var lang = script.getAttribute("data-lang") || document.documentElement.lang;
  if (lang) query.set("lang", lang.slice(0, 2));
  var frame = document.createElement("iframe");
  frame.src = src.origin + "/f/" + encodeURIComponent(name) + "?" + query.toString();
  frame.title = script.getAttribute("data-title") || name;
  frame.style.cssText = "width:100%;max-width:40rem;border:0;min-height:32rem;display:block";
  frame.setAttribute("loading", "lazy");
  script.parentNode.insertBefore(frame, script.nextSibling);
  window.addEventListener("message", function (event) {
    if (event.origin !== src.origin || !event.data || event.data.trellisForm !== name) return;
    var height = Number(event.data.height);
    if (height > 0 && height < 10000) frame.style.height = height + 20 + "px";
  });
})();
