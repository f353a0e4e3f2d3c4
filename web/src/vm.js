// vm: one VM's page: its details and boot phases kept live, its actions with
// their phases, its charts, its snapshots and volumes, and its serial console.

import {h, clear, fill, errorBox} from './dom.js';
import {get, post} from './api.js';
import {head, follow} from './events.js';
import {actionButtons, details, enc} from './resource.js';
import {table} from './table.js';
import {specs, price, bytes} from './pages.js';
import {charts} from './stats.js';

// Built apart from app.js (web/build.sh), fetched on the first console.
const TERMINAL = '/terminal.js';

const vms = specs.find((s) => s.path === 'vms');
const FIELDS = [['state', 'State'], ['reason', 'Reason'], ['type', 'Type'], ['vcpus', 'vCPUs'],
  ['memory_mib', 'Memory (MiB)'], ['image', 'Image'], ['ip', 'IP'], ['mac', 'MAC'], ['network', 'Network'],
  ['firewalls', 'Firewalls'], ['host', 'Host'], ['cost', 'Cost so far', price], ['accel', 'Accelerator'],
  ['ssh_user', 'SSH user'], ['disk_size_bytes', 'Disk', bytes], ['id', 'ID'], ['created_at', 'Created'],
  ['started_at', 'Started']];
// The other resources shown on the page: those of this VM, by their `vm` field.
const RELATED = ['snapshots', 'volumes'].map((p) => specs.find((s) => s.path === p));

function phases(vm) {
  return h('ol', {class: 'phases', id: 'boot-phases'}, (vm.boot_phases || []).map((p) =>
    h('li', {}, p.name, h('span', {class: 'muted'}, ` ${p.at_ms} ms`))));
}

export function render(main, {name}) {
  const opBox = h('div', {id: 'operation', class: 'card op', hidden: true});
  const info = h('section', {class: 'card'}, h('p', {class: 'muted'}, 'Loading…'));
  const actions = h('div', {class: 'actions'});
  const consoleStatus = h('span', {id: 'console-status', class: 'muted'}, '');
  const termBox = h('div', {id: 'terminal'});
  const related = RELATED.map((s) => ({s, t: table({id: `vm-${s.path}`, columns: s.columns.filter((c) => c.key !== 'vm'),
    link: (x) => `/${s.path}/${enc(x.name)}`, empty: `No ${s.title.toLowerCase()}.`})}));
  const figures = charts(name);
  let term = null;
  const openConsole = h('button', {type: 'button', id: 'open-console', onclick: async () => {
    term?.close();
    clear(termBox);
    consoleStatus.textContent = 'connecting…';
    try {
      const [{open}, ticket] = await Promise.all([import(TERMINAL), post(`/v1/vms/${enc(name)}/console/tickets`)]);
      term = open(termBox, ticket.url, (s) => { consoleStatus.textContent = s; });
    }
    catch (e) { consoleStatus.textContent = e.message; }
  }}, 'Open console');
  fill(main, 
    h('p', {}, h('a', {href: '/vms', 'data-link': true}, '← VMs')),
    h('h1', {}, 'VM ', h('span', {id: 'vm-name'}, name)),
    actions, opBox, info, figures.el,
    h('section', {class: 'card'}, h('h2', {}, 'Serial console ', consoleStatus), openConsole, termBox),
    related.map(({s, t}) => h('section', {class: 'card'}, h('h2', {}, s.title), t.el)));

  const show = (vm) => {
    if (!actions.firstChild) fill(actions, actionButtons(vms.actions, vm, opBox));
    fill(info, h('h2', {}, 'Details'), details(vm, FIELDS), h('h3', {}, 'Boot phases'), phases(vm));
  };
  const refresh = async () => {
    try { show(await get(`/v1/vms/${enc(name)}`)); } catch (e) { fill(info, errorBox(e)); }
    for (const {s, t} of related) {
      try { t.set((await get(`/v1/${s.path}`))[s.path].filter((x) => x.vm === name)); } catch { /* shown next time */ }
    }
  };
  let feed = null, stopped = false;
  (async () => {
    const seq = await head().catch(() => 0);
    await refresh();
    if (!stopped) feed = follow(seq, () => refresh(), {name});
  })();
  return {stop() { stopped = true; feed?.stop(); term?.close(); figures.stop(); }};
}
