/**
 * A small line chart on a canvas: concurrent participants per bucket (rooms and calls).
 * `canvas.dataset.points` records how many points were drawn (read by the tests).
 */

export function drawUsage(canvas, points) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 800;
  const height = canvas.clientHeight || 220;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  canvas.dataset.points = String(points.length);
  if (!points.length) {
    g.fillStyle = "#66707c";
    g.fillText("no usage in this range", 12, 20);
    return;
  }
  const pad = 28;
  const top = Math.max(1, ...points.map((p) => p.multi + p.call));
  const x = (i) => pad + (points.length === 1 ? 0.5 : i / (points.length - 1)) * (width - 2 * pad);
  const y = (v) => height - pad - (v / top) * (height - 2 * pad);
  g.strokeStyle = "#c4cad2";
  g.beginPath(); g.moveTo(pad, height - pad); g.lineTo(width - pad, height - pad); g.stroke();
  g.fillStyle = "#1c2430";
  g.fillText(String(top), 4, y(top) + 4);
  g.fillText("0", 4, height - pad + 4);
  for (const [field, colour] of [["multi", "#1f6feb"], ["call", "#d1242f"]]) {
    g.strokeStyle = colour;
    g.lineWidth = 2;
    g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo(x(i), y(p[field])) : g.moveTo(x(i), y(p[field]))));
    g.stroke();
    points.forEach((p, i) => { g.fillStyle = colour; g.fillRect(x(i) - 2, y(p[field]) - 2, 4, 4); });
  }
}
