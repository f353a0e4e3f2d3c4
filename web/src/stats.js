// stats: a VM's charts of CPU, memory, network and disk over the last hour,
// 6 or 24 (GET /v1/vms/NAME/stats), read and drawn again every step while
// they are shown. A figure nubod could not read is null: a gap, never a 0.

import {h, fill, errorBox} from './dom.js';
import {get} from './api.js';
import {lines} from './chart.js';
import {bytes} from './pages.js';
import {enc} from './resource.js';

// The windows offered, each with the step it asks for (a few hundred points
// at nubod's default resolutions; where the host keeps a resolution that does
// not divide it, nubod refuses it and the window is read at its resolution).
const RANGES = [{since: '1h'}, {since: '6h', step: '1m'}, {since: '24h', step: '5m'}];
const pct = (v) => `${v.toFixed(1)} %`;
const rate = (v) => `${bytes(Math.round(v))}/s`;
// Each chart: its lines, each a figure of the samples, per second when the
// figure is a total over the step (rate).
const CHARTS = [
  {id: 'cpu', title: 'CPU %', fmt: pct, lines: [['CPU', 'cpu_pct']]},
  {id: 'memory', title: 'Memory', fmt: bytes, lines: [['memory', 'mem_bytes']]},
  {id: 'network', title: 'Network', fmt: rate, rate: true, lines: [['in', 'net_rx_bytes'], ['out', 'net_tx_bytes']]},
  {id: 'disk', title: 'Disk', fmt: rate, rate: true, lines: [['read', 'disk_read_bytes'], ['write', 'disk_write_bytes']]}];

// The newest figure of each line, after the chart's title, as nubo vm stats prints it.
function newest(c, series) {
  return series.map(({name, points}) => {
    const y = points.reduce((v, p) => (p.y === null ? v : p.y), null);
    return y === null ? null : (series.length > 1 ? `${name} ${c.fmt(y)}` : c.fmt(y));
  }).filter(Boolean).join(' · ');
}

function draw(out, s) {
  // Now, or the end of the newest point where this browser's clock is behind nubod's.
  const to = Math.max(Date.now(), (s.samples[s.samples.length - 1]?.t ?? 0) + s.step), per = s.step / 1000;
  fill(out, CHARTS.map((c) => {
    const series = c.lines.map(([name, key]) => ({name,
      points: s.samples.map((p) => ({t: p.t, y: p[key] === null || !c.rate ? p[key] : p[key] / per}))}));
    return h('div', {id: `chart-${c.id}`}, h('h3', {}, `${c.title} `, h('span', {class: 'muted'}, newest(c, series))),
      lines(c.title, {from: s.since, to, step: s.step, series}, c.fmt));
  }));
}

// charts(name) → {el, stop()}: the section, drawn once its first answer comes.
export function charts(name) {
  const range = h('select', {id: 'chart-range', 'aria-label': 'Window'},
    RANGES.map((r) => h('option', {value: r.since}, `last ${r.since}`)));
  const out = h('div', {class: 'charts', id: 'charts'}, h('p', {class: 'muted'}, 'Loading…'));
  let timer = null, loads = 0;
  const read = (since, step) => get(`/v1/vms/${enc(name)}/stats?${new URLSearchParams(step ? {since, step} : {since})}`);
  const load = async () => {
    clearTimeout(timer);
    const n = ++loads, r = RANGES.find((x) => x.since === range.value);
    let next = 10000;
    try {
      const s = await read(r.since, r.step).catch((e) => (r.step && e.status === 400 ? read(r.since) : Promise.reject(e)));
      if (n !== loads) return;   // another window was chosen meanwhile
      draw(out, s);
      next = s.step;
    } catch (e) {
      if (n !== loads) return;
      fill(out, errorBox(e));
    }
    timer = setTimeout(load, next);
  };
  range.addEventListener('change', load);
  load();
  const el = h('section', {class: 'card'}, h('h2', {}, 'Charts ', range), out);
  return {el, stop() { loads++; clearTimeout(timer); }};
}
