// table: the one table every list of the console uses. Its columns come from
// a page's spec; its rows are kept sorted by key; only the rows in view (and
// a few either side) are in the DOM, so a list of 1,000 VMs builds about as
// many rows as a list of 20 and stays as quick to change and to scroll.

import {h, clear} from './dom.js';

const SPARE = 15;      // rows built above and below the view
const GUESS_PX = 38;   // a row's height until one is measured

// One cell's content: column.fmt(value, item) if it has one, else the value.
function cell(col, item, link) {
  const v = item[col.key];
  const text = col.fmt ? col.fmt(v, item) : (v === null || v === undefined || v === '' ? '—'
    : Array.isArray(v) ? v.join(', ') : String(v));
  if (col.link && link) return h('a', {href: link(item), 'data-link': true}, text);
  if (col.state) return h('span', {class: `state ${v}`, 'data-state': v}, text);
  return text;
}

// table({id, columns: [{key, label, fmt, link, state, num}], key, link, actions, empty})
// → {el, count, set(items), add(items), put(item), drop(key)}: count is a
// line that says how many there are.
// actions(item) → the row's buttons; link(item) → the href of link columns.
export function table({id, columns, key = (x) => x.name, link, actions, empty = 'None.'}) {
  const items = new Map();
  let keys = [];
  let rowPx = 0;
  const body = h('tbody');
  const el = h('div', {class: 'scroll'}, h('table', {id, class: 'list'},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c.label ?? c.key)), actions ? h('th') : null)),
    body));
  const count = h('p', {class: 'muted count'});

  const rowOf = (item) => h('tr', {'data-key': key(item)},
    columns.map((c) => h('td', {class: c.num ? 'num' : null, 'data-field': c.key}, cell(c, item, link))),
    actions ? h('td', {class: 'actions'}, actions(item)) : null);
  const pad = (rows) => {
    const tr = h('tr', {class: 'pad', 'aria-hidden': 'true'});
    tr.style.height = `${rows * (rowPx || GUESS_PX)}px`;
    return tr;
  };

  let queued = false;
  function draw() {
    queued = false;
    const px = rowPx || GUESS_PX;
    const first = Math.max(0, Math.floor(el.scrollTop / px) - SPARE);
    const last = Math.min(keys.length, first + Math.ceil((el.clientHeight || 800) / px) + 2 * SPARE);
    clear(body);
    if (first > 0) body.append(pad(first));
    for (let i = first; i < last; i++) body.append(rowOf(items.get(keys[i])));
    if (last < keys.length) body.append(pad(keys.length - last));
    if (!keys.length) body.append(h('tr', {}, h('td', {colspan: columns.length + 1, class: 'muted'}, empty)));
    if (!rowPx && last > first) {
      rowPx = body.querySelector('tr:not(.pad)').getBoundingClientRect().height || 0;
      if (rowPx && rowPx !== GUESS_PX) draw();
    }
    count.textContent = keys.length > 1 ? `${keys.length} in all` : '';
  }
  const redraw = () => { if (!queued) { queued = true; requestAnimationFrame(draw); } };
  el.addEventListener('scroll', redraw, {passive: true});

  const where = (k) => {   // the index k has or would have in keys
    let lo = 0, hi = keys.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (keys[mid] < k) lo = mid + 1; else hi = mid; }
    return lo;
  };
  const t = {
    el, count,
    set(list) { items.clear(); list.forEach((x) => items.set(key(x), x)); keys = [...items.keys()].sort(); draw(); },
    add(list) { list.forEach((x) => items.set(key(x), x)); keys = [...items.keys()].sort(); redraw(); },
    put(item) {
      const k = key(item);
      if (!items.has(k)) keys.splice(where(k), 0, k);
      items.set(k, item);
      redraw();
    },
    drop(k) { if (items.delete(k)) { keys.splice(where(k), 1); redraw(); } },
  };
  draw();
  return t;
}
