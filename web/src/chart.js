// chart: small charts in plain SVG, no library: bars (usage's cost per day)
// and lines over time (a VM's figures). Sized by the viewBox; styled by app.css.

const NS = 'http://www.w3.org/2000/svg';
const L = 76, B = 22, T = 8;   // L: room for the axis labels

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...children);
  return el;
}

// An empty chart W×H with three lines across, labelled 0, max/2 and max
// (none when max is null: nothing to scale).
function frame(label, max, fmt, W, H) {
  const root = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': label});
  for (const f of [0, 0.5, 1]) {
    const y = T + (H - T - B) * (1 - f);
    root.append(svg('line', {x1: L, x2: W, y1: y, y2: y, class: 'grid'}));
    if (max !== null) root.append(svg('text', {x: L - 6, y: y + 4, 'text-anchor': 'end', class: 'y'}, fmt(max * f)));
  }
  return root;
}

// bars(label, [{x: 'label', y: number}], fmt) → <svg>, one bar per point.
export function bars(label, points, fmt = String) {
  const W = 640, H = 180;
  const max = Math.max(...points.map((p) => p.y), 0) || 1;
  const root = frame(label, max, fmt, W, H);
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

const clock = (t) => new Date(t).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', hour12: false});

// lines(label, {from, to, step, series: [{name, points: [{t, y}]}]}, fmt) →
// <svg>, one line per series from time `from` to `to` (Unix ms), a point
// per `step` ms. A null y, or a step without a point, is a gap in the line,
// never a 0; a chart without a single point says "no data".
export function lines(label, {from, to, step, series}, fmt = String) {
  const W = 480, H = 170;
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).filter((y) => y !== null);
  const max = ys.length ? Math.max(...ys) || 1 : null;
  const root = frame(label, max, fmt, W, H);
  const x = (t) => (L + (W - L) * (t - from) / Math.max(to - from, 1)).toFixed(1);
  const y = (v) => (T + (H - T - B) * (1 - v / max)).toFixed(1);
  [0, 0.5, 1].forEach((f, i) => root.append(svg('text', {x: L + (W - L) * f, y: H - 6,
    'text-anchor': ['start', 'middle', 'end'][i]}, clock(from + (to - from) * f))));
  if (max === null) {
    root.append(svg('text', {x: (L + W) / 2, y: (H - B + T) / 2 + 5, 'text-anchor': 'middle', class: 'nodata'}, 'no data'));
    return root;
  }
  series.forEach((s, i) => {
    // A path with a move (M) at the start of each run of points and a line
    // (L) to each next one: one M or L per point drawn (a lone point is a dot).
    let d = '', last = null;
    for (const p of s.points) {
      if (p.y === null) { last = null; continue; }
      d += `${last !== null && p.t - last <= step ? 'L' : 'M'}${x(p.t)},${y(p.y)}`;
      last = p.t;
    }
    if (d) root.append(svg('path', {d, class: `line s${i}`}, svg('title', {}, s.name)));
    if (series.length > 1) root.append(svg('text', {x: L + 8 + 56 * i, y: T + 12, class: `legend s${i}`}, `■ ${s.name}`));
  });
  return root;
}
