// vms: the list of VMs, kept live from the event log, and the create form.

import {h, clear, errorBox} from './dom.js';
import {get, post, del} from './api.js';
import {head, follow} from './events.js';
import {runAction} from './ops.js';

const COLUMNS = ['name', 'state', 'type', 'image', 'ip', 'cost'];
const HEADERS = {ip: 'IP', cost: 'cost so far'};
// As nubo prints a price: four decimals.
export const price = (c) => (typeof c === 'number' ? c.toFixed(4) : '—');
const PAGE = 200;

function row(vm, go, opBox) {
  const act = (label, fn) => h('button', {type: 'button', 'data-action': label, onclick: async (ev) => {
    ev.stopPropagation();
    try { await runAction(opBox, fn); } catch (e) { clear(opBox).append(errorBox(e)); opBox.hidden = false; }
  }}, label);
  const n = encodeURIComponent(vm.name);
  return h('tr', {'data-vm': vm.name},
    h('td', {}, h('a', {href: `/vms/${n}`, 'data-link': true}, vm.name)),
    h('td', {}, h('span', {class: `state ${vm.state}`, 'data-state': vm.state}, vm.state),
      vm.reason ? h('span', {class: 'muted'}, ` ${vm.reason}`) : null),
    h('td', {}, vm.type), h('td', {}, vm.image), h('td', {}, vm.ip || '—'),
    h('td', {class: 'num', 'data-field': 'cost'}, price(vm.cost)),
    h('td', {class: 'actions'},
      act('start', () => post(`/v1/vms/${n}/start`)),
      act('stop', () => post(`/v1/vms/${n}/stop`)),
      act('reboot', () => post(`/v1/vms/${n}/reboot`)),
      act('delete', () => confirm(`Delete VM ${vm.name} and its disk?`) ? del(`/v1/vms/${n}`) : null)));
}

async function options(path, key, pick) {
  try { return (await get(path))[key].map(pick); } catch { return []; }
}

function createForm(opBox) {
  const field = (label, input) => h('label', {}, h('span', {}, label), input);
  const select = (name, items, dflt) => h('select', {name},
    items.map((v) => h('option', {value: v, selected: v === dflt}, v)));
  const errors = h('div', {class: 'form-error'});
  const form = h('form', {id: 'create', class: 'card'}, h('h2', {}, 'Create a VM'), h('p', {class: 'muted'}, 'Loading…'));
  (async () => {
    const [types, images, networks, firewalls] = await Promise.all([
      options('/v1/types', 'types', (t) => t.name),
      options('/v1/images', 'images', (i) => i.name),
      options('/v1/networks', 'networks', (n) => n.name),
      options('/v1/firewalls', 'firewalls', (f) => f.name)]);
    clear(form).append(h('h2', {}, 'Create a VM'),
      h('div', {class: 'grid'},
        field('Name', h('input', {name: 'name', required: true, pattern: '[a-z0-9][a-z0-9-]*', maxlength: 63})),
        field('Type', select('type', types, 'small')),
        field('Image', select('image', images, 'tiny')),
        field('Network', select('network', networks, 'default')),
        field('Firewalls', h('select', {name: 'firewalls', multiple: true, size: Math.min(4, firewalls.length || 1)},
          firewalls.map((f) => h('option', {value: f, selected: f === 'default'}, f))))),
      field('SSH public key', h('textarea', {name: 'ssh_key', rows: 2, placeholder: 'ssh-ed25519 AAAA… (optional)'})),
      errors,
      h('button', {type: 'submit'}, 'Create'));
  })();
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(errors);
    const f = new FormData(form);
    const body = {name: f.get('name'), type: f.get('type'), image: f.get('image'),
      nics: [{network: f.get('network')}], firewalls: f.getAll('firewalls')};
    const key = (f.get('ssh_key') || '').trim();
    if (key) body.ssh_keys = [key];
    try {
      await runAction(opBox, () => post('/v1/vms', body));
      form.reset();
    } catch (e) {
      errors.append(errorBox(e));
    }
  });
  return form;
}

export function render(main, {go}) {
  const opBox = h('div', {id: 'operation', class: 'card op', hidden: true});
  const tbody = h('tbody');
  const status = h('p', {class: 'muted', id: 'live'}, 'Loading…');
  const table = h('table', {id: 'vms'},
    h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', {}, HEADERS[c] || c)), h('th', {}, ''))), tbody);
  clear(main).append(h('h1', {}, 'VMs'), status, table, opBox, createForm(opBox));

  const rows = new Map();
  const put = (vm) => {
    const tr = row(vm, go, opBox);
    const old = rows.get(vm.name);
    if (old) old.replaceWith(tr);
    else {
      const after = [...rows.keys()].sort().find((n) => n > vm.name);
      tbody.insertBefore(tr, after ? rows.get(after) : null);
    }
    rows.set(vm.name, tr);
  };
  const drop = (name) => { rows.get(name)?.remove(); rows.delete(name); };
  const refresh = async (name) => {
    try { put(await get(`/v1/vms/${encodeURIComponent(name)}`)); } catch (e) { if (e.status === 404) drop(name); }
  };

  let feed = null;
  (async () => {
    try {
      const seq = await head();
      let token = null, shown = 0;
      do {
        const r = await get(`/v1/vms?limit=${PAGE}${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
        r.vms.forEach(put);
        shown += r.vms.length;
        token = r.next_page_token;
      } while (token && shown < 5 * PAGE);
      status.textContent = 'Live: changes show as they happen.';
      feed = follow(seq, (events) => {
        const names = new Set(events.filter((e) => e.kind === 'vm').map((e) => e.name));
        names.forEach(refresh);
      });
    } catch (e) {
      clear(status).append(errorBox(e));
    }
  })();
  return {stop() { feed?.stop(); }};
}
