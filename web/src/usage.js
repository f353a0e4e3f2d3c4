// usage: what was used and what it cost (GET /v1/usage), grouped by day (a
// chart and a table), VM, type or image, over a window of the user's choice.

import {h, fill, errorBox} from './dom.js';
import {get} from './api.js';
import {table} from './table.js';
import {bars} from './chart.js';
import {price} from './pages.js';

// A chart's axis: small costs (a few VMs for a day) in millionths, as the API rounds them.
const fine = (c) => c.toFixed(c > 0 && c < 0.01 ? 6 : 4);
const COLUMNS = [{key: 'key', label: 'of'}, {key: 'kind'}, {key: 'seconds', label: 'hours run', fmt: (s) => (s / 3600).toFixed(2), num: true},
  {key: 'gib_hours', label: 'GiB-hours of disk', fmt: (g) => g.toFixed(2), num: true},
  {key: 'cost', fmt: price, num: true}];

export function render(main) {
  const out = h('div', {id: 'usage-report'});
  const status = h('p', {class: 'muted'});
  const by = h('select', {name: 'by'}, ['day', 'vm', 'type', 'image'].map((b) => h('option', {value: b}, b)));
  const from = h('input', {name: 'from', type: 'date'});
  const to = h('input', {name: 'to', type: 'date'});
  const show = async () => {
    const q = new URLSearchParams({by: by.value});
    if (from.value) q.set('from', from.value);
    if (to.value) q.set('to', to.value);
    try {
      const r = await get(`/v1/usage?${q}`);
      const t = table({id: 'usage', columns: COLUMNS, key: (x) => x.key, empty: 'Nothing used in this window.'});
      t.set(r.rows);
      status.textContent = `${r.from ?? ''} to ${r.to ?? 'now'}: ${price(r.total.cost)} in all`;
      fill(out, r.by === 'day' ? h('section', {class: 'card'}, h('h2', {}, 'Cost per day'),
        bars('cost per day', r.rows.map((x) => ({x: x.key.slice(5), y: x.cost})), fine)) : null, t.el);
    } catch (e) {
      fill(out, errorBox(e));
    }
  };
  [by, from, to].forEach((el) => el.addEventListener('change', show));
  fill(main, h('h1', {}, 'Usage'),
    h('div', {class: 'grid'}, h('label', {}, h('span', {}, 'By'), by), h('label', {}, h('span', {}, 'From'), from),
      h('label', {}, h('span', {}, 'To (not included)'), to)),
    status, out);
  show();
  return {stop() {}};
}
