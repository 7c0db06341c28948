/* Offer form: show one empty milestone row at a time, with a button to add another.
   Without JavaScript every row is shown, and the form works the same. */
(function () {
  "use strict";
  function isEmpty(row) {
    return Array.prototype.every.call(row.querySelectorAll("input"), function (input) { return !input.value; });
  }
  function init(table) {
    var rows = Array.prototype.slice.call(table.querySelectorAll("tr[data-milestone-row]"));
    var hidden = [];
    var seenEmpty = false;
    rows.forEach(function (row) {
      if (isEmpty(row) && !row.querySelector(".is-invalid")) {
        if (seenEmpty) { row.hidden = true; hidden.push(row); }
        seenEmpty = true;
      }
    });
    if (!hidden.length) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-sm btn-outline-secondary";
    button.textContent = table.getAttribute("data-add-label") || "Add another milestone";
    button.addEventListener("click", function () {
      var next = hidden.shift();
      if (next) {
        next.hidden = false;
        var first = next.querySelector("input");
        if (first) { first.focus(); }
      }
      if (!hidden.length) { button.remove(); }
    });
    table.parentNode.insertBefore(button, table.nextSibling);
  }
  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("table[data-milestone-rows]"), init);
  });
})();
