// chart: small charts in plain SVG, no library: bars (usage's cost per
// day). Sized by the viewBox; styled by app.css.

const NS = 'http://www.w3.org/2000/svg';
const W = 640, H = 180, L = 76, B = 22, T = 8;   // L: room for the axis labels

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...children);
  return el;
}

function frame(label, max, fmt) {
  const root = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': label});
  for (const f of [0, 0.5, 1]) {
    const y = T + (H - T - B) * (1 - f);
    root.append(svg('line', {x1: L, x2: W, y1: y, y2: y, class: 'grid'}),
      svg('text', {x: L - 6, y: y + 4, 'text-anchor': 'end'}, fmt(max * f)));
  }
  return root;
}

// bars(label, [{x: 'label', y: number}], fmt) → <svg>, one bar per point.
export function bars(label, points, fmt = String) {
  const max = Math.max(...points.map((p) => p.y), 0) || 1;
  const root = frame(label, max, fmt);
  const step = (W - L) / Math.max(points.length, 1);
  const every = Math.ceil(points.length / 10);
  points.forEach((p, i) => {
    const hgt = (H - T - B) * (p.y / max);
    const bar = svg('rect', {x: L + i * step + step * 0.15, y: H - B - hgt, width: step * 0.7, height: hgt, class: 'bar'});
    bar.append(svg('title', {}, `${p.x}: ${fmt(p.y)}`));
    root.append(bar);
    if (i % every === 0) root.append(svg('text', {x: L + i * step + step / 2, y: H - 6, 'text-anchor': 'middle'}, p.x));
  });
  return root;
}
