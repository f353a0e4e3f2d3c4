// vm: one VM's page: its details and boot phases kept live, its actions with
// their phases, and its serial console.

import {h, clear, errorBox} from './dom.js';
import {get, post, del} from './api.js';
import {head, follow} from './events.js';
import {runAction} from './ops.js';
import {price} from './vms.js';
import {open as openTerminal} from './terminal.js';

const FIELDS = [['state', 'State'], ['reason', 'Reason'], ['type', 'Type'], ['vcpus', 'vCPUs'],
  ['memory_mib', 'Memory (MiB)'], ['image', 'Image'], ['ip', 'IP'], ['mac', 'MAC'], ['network', 'Network'],
  ['firewalls', 'Firewalls'], ['cost', 'Cost so far'], ['accel', 'Accelerator'], ['ssh_user', 'SSH user'], ['id', 'ID'],
  ['created_at', 'Created'], ['started_at', 'Started']];

function details(vm) {
  return h('dl', {id: 'details'}, FIELDS.filter(([k]) => vm[k] !== null && vm[k] !== undefined).map(([k, label]) => [
    h('dt', {}, label),
    h('dd', {'data-field': k}, k === 'state' ? h('span', {class: `state ${vm.state}`, 'data-state': vm.state}, vm.state)
      : k === 'cost' ? price(vm.cost) : Array.isArray(vm[k]) ? vm[k].join(', ') : String(vm[k]))]));
}

function phases(vm) {
  return h('ol', {class: 'phases', id: 'boot-phases'}, (vm.boot_phases || []).map((p) =>
    h('li', {}, p.name, h('span', {class: 'muted'}, ` ${p.at_ms} ms`))));
}

export function render(main, {name, go}) {
  const n = encodeURIComponent(name);
  const opBox = h('div', {id: 'operation', class: 'card op', hidden: true});
  const info = h('section', {class: 'card'}, h('p', {class: 'muted'}, 'Loading…'));
  const consoleStatus = h('span', {id: 'console-status', class: 'muted'}, '');
  const termBox = h('div', {id: 'terminal'});
  const act = (label, fn) => h('button', {type: 'button', 'data-action': label, onclick: async () => {
    try { await runAction(opBox, fn); } catch (e) { clear(opBox).append(errorBox(e)); opBox.hidden = false; }
  }}, label);
  let term = null;
  const openConsole = h('button', {type: 'button', id: 'open-console', onclick: async () => {
    term?.close();
    clear(termBox);
    consoleStatus.textContent = 'connecting…';
    try { term = await openTerminal(termBox, name, (s) => { consoleStatus.textContent = s; }); }
    catch (e) { consoleStatus.textContent = e.message; }
  }}, 'Open console');
  clear(main).append(
    h('p', {}, h('a', {href: '/vms', 'data-link': true}, '← VMs')),
    h('h1', {}, 'VM ', h('span', {id: 'vm-name'}, name)),
    h('div', {class: 'actions'},
      act('start', () => post(`/v1/vms/${n}/start`)),
      act('stop', () => post(`/v1/vms/${n}/stop`)),
      act('reboot', () => post(`/v1/vms/${n}/reboot`)),
      act('delete', async () => {
        if (!confirm(`Delete VM ${name} and its disk?`)) return null;
        const r = await del(`/v1/vms/${n}`);
        return r;
      })),
    opBox, info,
    h('section', {class: 'card'}, h('h2', {}, 'Serial console ', consoleStatus), openConsole, termBox));

  const show = (vm) => {
    clear(info).append(h('h2', {}, 'Details'), details(vm), h('h3', {}, 'Boot phases'), phases(vm));
  };
  const refresh = async () => {
    try { show(await get(`/v1/vms/${n}`)); } catch (e) {
      clear(info).append(errorBox(e));
    }
  };
  let feed = null;
  (async () => {
    const seq = await head().catch(() => 0);
    await refresh();
    feed = follow(seq, (events) => { if (events.some((e) => e.kind === 'vm')) refresh(); }, {name});
  })();
  return {stop() { feed?.stop(); term?.close(); }};
}
