/* Back office behaviour that Flask-Admin used to do with inline handlers (CSP forbids them). */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a.filter") : null;
    if (link) {
      event.preventDefault();
    }
  });
})();
