// resource: the list page and the detail page every kind of resource shares,
// driven by its spec in pages.js: a live table, actions that show their
// operation's phases, a create form; on the detail page its fields, its
// actions and its sections (a firewall's rules, a balancer's targets, …).
// Everything goes through the API with the session, as any client's calls.

import {h, fill, errorBox} from './dom.js';
import {get} from './api.js';
import {head, follow} from './events.js';
import {runAction} from './ops.js';
import {table} from './table.js';
import {form} from './form.js';

// Where the API pages: a first page that fills the view, quick to answer and
// to read, then big pages for the rest.
const FIRST_PAGE = 50, PAGE = 500;
const POLL_MS = 5000;    // kinds the event log does not cover (balancers' health, groups, hosts)

export const enc = encodeURIComponent;
export const url = (spec, name) => `/v1/${spec.path}/${enc(name)}`;

// The buttons of spec.actions for one item; each shows its operation in opBox.
export function actionButtons(actions, item, opBox, ctx = {}) {
  return (actions || []).filter((a) => !a.when || a.when(item)).map((a) =>
    h('button', {type: 'button', 'data-action': a.label, onclick: async (ev) => {
      ev.stopPropagation();
      if (a.confirm && !confirm(a.confirm(item))) return;
      try { await runAction(opBox, () => a.run(item, ctx)); } catch (e) {
        fill(opBox, errorBox(e));
        opBox.hidden = false;
      }
    }}, a.label));
}

// A <dl> of the item's fields: [[key, label, fmt?], …], empty ones left out.
export function details(item, fields) {
  return h('dl', {class: 'details', id: 'details'}, fields.filter(([k]) => item[k] !== null && item[k] !== undefined)
    .map(([k, label, fmt]) => [h('dt', {}, label),
      h('dd', {'data-field': k}, fmt ? fmt(item[k], item)
        : k === 'state' ? h('span', {class: `state ${item[k]}`, 'data-state': item[k]}, item[k])
          : Array.isArray(item[k]) ? item[k].join(', ') : String(item[k]))]));
}

// Every item of a list, following next_page_token where the API pages;
// onPage(items) as each page arrives, so the first rows show at once.
async function loadAll(spec, onPage) {
  let token = null;
  do {
    const q = spec.paged ? `?limit=${token ? `${PAGE}&page_token=${enc(token)}` : FIRST_PAGE}` : '';
    const r = await get(`/v1/${spec.path}${q}`);
    onPage(r[spec.path]);
    token = spec.paged ? r.next_page_token : null;
  } while (token);
}

// Keeps a view live: calls onNames(names) with the names of spec.kind that
// changed (from the event log), or onNames(null) every few seconds for kinds
// the log does not cover.
function live(spec, after, onNames, name) {
  if (!spec.kind) {
    const t = setInterval(() => onNames(null), POLL_MS);
    return {stop() { clearInterval(t); }};
  }
  return follow(after, (events) => onNames(new Set(events.map((e) => e.name))), {kind: spec.kind, name});
}

export function listPage(main, spec, ctx) {
  const opBox = h('div', {id: 'operation', class: 'card op', hidden: true});
  const status = h('p', {class: 'muted', id: 'live'}, 'Loading…');
  const t = table({id: spec.path, columns: spec.columns, link: (x) => `/${spec.path}/${enc(x.name)}`,
    actions: spec.actions ? (x) => actionButtons(spec.actions, x, opBox, ctx) : null, empty: `No ${spec.title.toLowerCase()}.`});
  // Made once the first rows show: its lists of choices wait for the list.
  const create = h('div');
  const makeCreate = () => spec.create && fill(create, form({id: 'create', title: spec.create.title,
    fields: spec.create.fields, note: spec.create.note, submit: (v) => runAction(opBox, () => spec.create.run(v))}));
  fill(main, h('h1', {}, spec.title), status, t.el, t.count, opBox, create);

  const refresh = async (name) => {
    try { t.put(await get(url(spec, name))); } catch (e) { if (e.status === 404) t.drop(name); }
  };
  const reload = async () => {
    const all = [];
    try { await loadAll(spec, (items) => all.push(...items)); t.set(all); } catch { /* the next poll tries again */ }
  };
  let feed = null, stopped = false;
  (async () => {
    try {
      const seq = spec.kind ? await head() : 0;
      let first = true;
      await loadAll(spec, (items) => {
        if (!first) return t.add(items);
        t.set(items);
        performance.mark(`${spec.path}-shown`);   // tests/browser/pages.mjs times these
        makeCreate();
        first = false;
      });
      performance.mark(`${spec.path}-all`);
      status.textContent = spec.kind ? 'Live: changes show as they happen.' : 'Refreshed every few seconds.';
      if (!stopped) feed = live(spec, seq, (names) => (names ? names.forEach(refresh) : reload()));
    } catch (e) {
      fill(status, errorBox(e));
    }
  })();
  return {stop() { stopped = true; feed?.stop(); }};
}

// A section of a detail page: a table of spec.items(item), its row actions
// and its add form (a firewall's rules, a balancer's targets, …).
function section(s, opBox, parent) {
  const t = s.columns && table({id: s.id, columns: s.columns, key: s.key || ((x) => x.id), link: s.link,
    actions: s.actions ? (x) => actionButtons(s.actions, x, opBox, {parent: parent()}) : null, empty: s.empty || 'None.'});
  const add = s.add ? form({id: `add-${s.id}`, title: s.add.title, fields: s.add.fields, label: s.add.label || 'Add',
    submit: (v) => runAction(opBox, () => s.add.run(v, parent()))}) : null;
  return {el: h('section', {class: 'card'}, h('h2', {}, s.title), t?.el, add), t};
}

export function detailPage(main, spec, name, ctx) {
  const opBox = h('div', {id: 'operation', class: 'card op', hidden: true});
  const info = h('section', {class: 'card'}, h('p', {class: 'muted'}, 'Loading…'));
  const actions = h('div', {class: 'actions'});
  let item = null;
  const sections = (spec.sections || []).map((s) => ({s, ...section(s, opBox, () => item)}));
  fill(main, h('p', {}, h('a', {href: `/${spec.path}`, 'data-link': true}, `← ${spec.title}`)),
    h('h1', {}, `${spec.one} `, h('span', {id: 'item-name'}, name)), actions, opBox, info, sections.map((x) => x.el));

  const show = (x) => {
    item = x;
    fill(actions, actionButtons(spec.actions, x, opBox, ctx));
    fill(info, h('h2', {}, 'Details'), details(x, spec.fields || spec.columns.map((c) => [c.key, c.label ?? c.key, c.fmt])));
    sections.forEach(({s, t}) => t?.set(s.items(x) || []));
  };
  const refresh = async () => {
    try { show(await get(url(spec, name))); } catch (e) { fill(info, errorBox(e)); }
  };
  let feed = null, stopped = false;
  (async () => {
    const seq = spec.kind ? await head().catch(() => 0) : 0;
    await refresh();
    if (!stopped) feed = live(spec, seq, () => refresh(), name);
  })();
  return {stop() { stopped = true; feed?.stop(); }};
}
