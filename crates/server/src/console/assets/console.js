// Vigie console: the few things JavaScript adds. Every page works without it.
// - forms with data-confirm ask before they are sent;
// - selects with data-autosubmit send their form when changed;
// - the alert queue: live arrival of new alerts (server-sent events), keyboard
//   shortcuts (j/k to move, Enter or o to open, x to select, / to the filter, ? help),
//   and "select all" with a count of the selection.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.form) { select.form.submit(); }
    });
  });

  var queue = document.getElementById("queue");
  if (!queue) { return; }
  var body = queue.tBodies[0];

  function rows() { return Array.prototype.slice.call(body.rows); }

  function countSelected() {
    var n = body.querySelectorAll("input[type=checkbox]:checked").length;
    var out = document.querySelector("[data-selected-count]");
    if (out) { out.textContent = String(n); }
  }

  var all = queue.querySelector("input[data-select-all]");
  if (all) {
    all.addEventListener("change", function () {
      body.querySelectorAll("input[type=checkbox]").forEach(function (box) {
        box.checked = all.checked;
      });
      countSelected();
    });
  }
  body.addEventListener("change", countSelected);

  var current = -1;
  function focusRow(i) {
    var list = rows();
    if (list.length === 0) { return; }
    current = Math.max(0, Math.min(list.length - 1, i));
    list.forEach(function (row, k) { row.classList.toggle("current", k === current); });
    var link = list[current].querySelector("a");
    if (link) { link.focus(); }
  }

  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea" || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var list = rows();
    if (event.key === "j") { focusRow(current + 1); event.preventDefault(); }
    else if (event.key === "k") { focusRow(current - 1); event.preventDefault(); }
    else if ((event.key === "o" || event.key === "Enter") && current >= 0 && list[current]) {
      var link = list[current].querySelector("a");
      if (link) { window.location.assign(link.getAttribute("href")); event.preventDefault(); }
    }
    else if (event.key === "x" && current >= 0 && list[current]) {
      var box = list[current].querySelector("input[type=checkbox]");
      if (box) { box.checked = !box.checked; countSelected(); }
      event.preventDefault();
    }
    else if (event.key === "/") {
      var filter = document.querySelector("[data-key='/']");
      if (filter) { filter.focus(); event.preventDefault(); }
    }
  });

  var live = queue.getAttribute("data-live");
  if (live && window.EventSource) {
    var source = new EventSource(live);
    source.addEventListener("alerts", function (event) {
      var holder = document.createElement("tbody");
      holder.insertAdjacentHTML("afterbegin", event.data);
      var fresh = Array.prototype.slice.call(holder.rows);
      fresh.reverse().forEach(function (row) {
        row.classList.add("fresh");
        body.insertBefore(row, body.firstChild);
      });
      if (current >= 0) { current += fresh.length; }
    });
    source.addEventListener("end", function () {
      source.close();
    });
  }
})();
