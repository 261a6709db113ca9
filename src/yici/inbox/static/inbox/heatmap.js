// Calendar heat map of the hours due per day (workload page). Data: the json_script "heat-data"
// element, {"days": [["YYYY-MM-DD", hours], ...], "range": [first, last], "limit": hours of a working day}.
(function () {
  function draw() {
    var holder = document.getElementById("heatmap");
    var source = document.getElementById("heat-data");
    if (!holder || !source || !window.echarts) { return; }
    var data = JSON.parse(source.textContent);
    var chart = window.echarts.init(holder, null, { renderer: "svg" });
    var max = data.limit * 1.5;
    data.days.forEach(function (d) { if (d[1] > max) { max = d[1]; } });
    chart.setOption({
      tooltip: { formatter: function (p) { return p.value[0] + ": " + p.value[1] + " h"; } },
      visualMap: { min: 0, max: max, calculable: false, orient: "horizontal", left: "center", bottom: 0,
                   inRange: { color: ["#e6f4ea", "#fff4ce", "#f4a259", "#b3261e"] } },
      calendar: { range: data.range, cellSize: ["auto", 18], top: 20, left: 30, right: 10, bottom: 50,
                  yearLabel: { show: false }, dayLabel: { firstDay: 1, nameMap: "ZH" }, monthLabel: { nameMap: "ZH" } },
      series: [{ type: "heatmap", coordinateSystem: "calendar", data: data.days }]
    });
    holder.setAttribute("data-ready", "1");
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
