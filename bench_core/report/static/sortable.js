/* featbench HTML leaderboard: sortable tables (inlined into index.html; no external resources).
   A click (or Enter/Space) on a header of a table.sortable sorts its body by that column: ascending first,
   then descending. A cell's data-sort attribute, when present, is its exact numeric value ("" = missing);
   other cells compare as text. Missing values ("" or "—") stay last in both directions; ties keep the
   previous order (the sort is stable). The header's aria-sort says the current order. */
(function () {
  "use strict";
  function key(td) {
    var s = td.hasAttribute("data-sort") ? td.getAttribute("data-sort") : td.textContent.trim();
    if (s === "" || s === "\u2014") return null;
    if (td.hasAttribute("data-sort")) { var x = parseFloat(s); return isNaN(x) ? null : x; }
    return s.toLowerCase();
  }
  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b), undefined, {numeric: true});
  }
  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var rows = Array.prototype.slice.call(body.rows).map(function (tr, i) {
      return {tr: tr, i: i, k: key(tr.cells[col])};
    });
    rows.sort(function (a, b) {
      if (a.k === null || b.k === null) return (a.k === null) - (b.k === null) || a.i - b.i;
      var c = compare(a.k, b.k);
      return (ascending ? c : -c) || a.i - b.i;
    });
    rows.forEach(function (r) { body.appendChild(r.tr); });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tBodies.length) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () { sortBy(table, col, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, col, th); }
      });
    });
  });
})();
