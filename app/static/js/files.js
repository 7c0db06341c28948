/* Project file preview: while a CAD model's 3D preview is being prepared ([data-preview-pending]),
   reload the page every data-refresh-seconds until it is ready or failed. After data-max-reloads
   reloads in a row (default 24) it stops and shows data-stopped-text instead. Without JavaScript a
   <noscript> meta refresh does the same. */
(function () {
  "use strict";
  var box = document.querySelector("[data-preview-pending]");
  if (!box) { return; }
  var key = "pc-preview-reloads:" + window.location.pathname;
  var seconds = parseInt(box.getAttribute("data-refresh-seconds"), 10) || 5;
  var limit = parseInt(box.getAttribute("data-max-reloads"), 10) || 24;
  var count = 0;
  try { count = parseInt(window.sessionStorage.getItem(key), 10) || 0; } catch (e) { count = 0; }
  if (count >= limit) {
    try { window.sessionStorage.removeItem(key); } catch (e) { /* storage unavailable */ }
    var stopped = box.getAttribute("data-stopped-text");
    if (stopped) { box.textContent = stopped; }
    return;
  }
  window.setTimeout(function () {
    try { window.sessionStorage.setItem(key, String(count + 1)); } catch (e) { /* storage unavailable */ }
    window.location.reload();
  }, seconds * 1000);
}());
