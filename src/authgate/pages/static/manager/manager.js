// Live service usage: polls the same-origin JSON endpoint and redraws tables and the chart.
"use strict";
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var root = document.getElementById("usage");
  if (!root) { return; }
  var endpoint = root.getAttribute("data-endpoint");

  function text(id, value) { document.getElementById(id).textContent = value; }
  function pct(rate) { return (100 * rate).toFixed(1) + "%"; }
  function ms(value) { return value.toFixed(1) + " ms"; }

  function cell(row, value, numeric) {
    var td = document.createElement("td");
    td.textContent = value;
    if (numeric) { td.className = "num"; }
    row.appendChild(td);
    return td;
  }

  function fill(tableId, rows, columns) {
    var body = document.querySelector("#" + tableId + " tbody");
    var fresh = document.createElement("tbody");
    if (rows.length === 0) {
      var tr = document.createElement("tr");
      var td = cell(tr, "No traffic in the window.");
      td.colSpan = columns.length;
      td.className = "empty";
      fresh.appendChild(tr);
    }
    rows.forEach(function (item) {
      var tr = document.createElement("tr");
      if (item.failures > 0) { tr.className = "failed"; }
      columns.forEach(function (column) { cell(tr, column[0](item), column[1]); });
      tr.setAttribute("data-key", (item.service || "") + "|" + (item.client || ""));
      fresh.appendChild(tr);
    });
    body.parentNode.replaceChild(fresh, body);
  }

  function chart(data) {
    var svg = document.getElementById("chart");
    var legend = document.getElementById("legend");
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    while (legend.firstChild) { legend.removeChild(legend.firstChild); }
    var names = Object.keys(data.series).sort();
    var max = 1;
    names.forEach(function (n) { data.series[n].forEach(function (v) { if (v > max) { max = v; } }); });
    var width = 900, height = 180, left = 34, bottom = 20, top = 8;
    var axis = document.createElementNS(SVG, "path");
    axis.setAttribute("class", "axis");
    axis.setAttribute("d", "M" + left + " " + top + " V" + (height - bottom) + " H" + width);
    svg.appendChild(axis);
    [0, max].forEach(function (v) {
      var label = document.createElementNS(SVG, "text");
      label.setAttribute("x", 2);
      label.setAttribute("y", v === 0 ? height - bottom : top + 8);
      label.textContent = String(v);
      svg.appendChild(label);
    });
    var caption = document.createElementNS(SVG, "text");
    caption.setAttribute("x", width - 40);
    caption.setAttribute("y", height - 4);
    caption.textContent = "now";
    svg.appendChild(caption);
    names.forEach(function (name, i) {
      var values = data.series[name];
      var step = (width - left) / Math.max(values.length - 1, 1);
      var points = values.map(function (v, j) {
        var x = left + j * step;
        var y = height - bottom - (v / max) * (height - bottom - top);
        return x.toFixed(1) + "," + y.toFixed(1);
      });
      var line = document.createElementNS(SVG, "polyline");
      line.setAttribute("class", "c" + (i % 6));
      line.setAttribute("points", points.join(" "));
      svg.appendChild(line);
      var item = document.createElement("span");
      var swatch = document.createElement("i");
      swatch.className = "c" + (i % 6);
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(name));
      legend.appendChild(item);
    });
  }

  function render(data) {
    var total = { requests: 0, failures: 0 };
    data.services.forEach(function (s) {
      if (!s.composite) { total.requests += s.requests; total.failures += s.failures; }
    });
    text("total-requests", total.requests);
    text("total-failures", total.failures);
    text("total-error-rate", pct(total.requests ? total.failures / total.requests : 0));
    text("total-dropped", data.traffic_dropped);
    text("window", Math.round(data.window_seconds / 60) + " min");
    text("updated", new Date(data.now * 1000).toLocaleTimeString());
    fill("services", data.services, [
      [function (s) { return s.service + (s.composite ? " (composite)" : ""); }],
      [function (s) { return s.requests; }, true],
      [function (s) { return s.successes; }, true], [function (s) { return s.failures; }, true],
      [function (s) { return pct(s.error_rate); }, true],
      [function (s) { return ms(s.latency_avg_ms); }, true],
      [function (s) { return ms(s.latency_max_ms); }, true]
    ]);
    fill("clients", data.clients, [
      [function (c) { return c.service; }], [function (c) { return c.client; }],
      [function (c) { return c.requests; }, true], [function (c) { return c.successes; }, true],
      [function (c) { return c.failures; }, true], [function (c) { return pct(c.error_rate); }, true],
      [function (c) { return ms(c.latency_avg_ms); }, true]
    ]);
    chart(data);
  }

  function poll() {
    fetch(endpoint, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/manager/login"); return null; }
        return response.ok ? response.json() : null;
      })
      .then(function (data) { if (data) { render(data); } })
      .catch(function () { /* the next poll retries */ })
      .then(function () { window.setTimeout(poll, 2000); });
  }
  poll();
}());
