// pages: what each kind of resource shows and lets a user do, as specs that
// resource.js turns into a list page and a detail page. A spec: path (the
// API's and the page's), title, one (the word for one), kind (its events;
// none: polled), columns, fields (the detail page's; default: the columns),
// actions, create, sections.

import {get, post, del, patch} from './api.js';
import {enc, url} from './resource.js';

// As nubo prints a price: four decimals.
export const price = (c) => (typeof c === 'number' ? c.toFixed(4) : '—');
export const bytes = (n) => (typeof n !== 'number' ? '—' : n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB`
  : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : n >= 2 ** 10 ? `${(n / 2 ** 10).toFixed(1)} KiB` : `${n} B`);
const yes = (v) => (v ? 'yes' : 'no');
const names = (path, key = path) => async () => (await get(`/v1/${path}`))[key].map((x) => x.name);
const list = (s) => (s || '').split(/[\s,]+/).filter(Boolean);
const remove = (spec, what) => ({label: 'delete', confirm: (x) => `Delete ${what} ${x.name}?`,
  run: (x) => del(url(spec, x.name))});

const vms = {path: 'vms', title: 'VMs', one: 'VM', kind: 'vm', paged: true,
  columns: [{key: 'name', link: true}, {key: 'state', state: true}, {key: 'type'}, {key: 'image'},
    {key: 'ip', label: 'IP'}, {key: 'host'}, {key: 'cost', label: 'cost so far', fmt: price, num: true}],
  create: {title: 'Create a VM', fields: [
    {name: 'name', label: 'Name', required: true, pattern: '[a-z0-9][a-z0-9-]*'},
    {name: 'type', label: 'Type', type: 'select', required: true, options: names('types'), value: 'small'},
    {name: 'image', label: 'Image', type: 'select', required: true, options: names('images'), value: 'tiny'},
    {name: 'network', label: 'Network', type: 'select', required: true, options: names('networks'), value: 'default'},
    {name: 'firewalls', label: 'Firewalls', type: 'multi', options: names('firewalls'), value: 'default'},
    {name: 'ssh_key', label: 'SSH public key', type: 'textarea', placeholder: 'ssh-ed25519 AAAA… (optional)'}],
  run: ({network, ssh_key: key, ...v}) => post('/v1/vms', {...v, nics: [{network}], ...(key ? {ssh_keys: [key]} : {})})},
};
vms.actions = [
  {label: 'start', run: (x) => post(`${url(vms, x.name)}/start`)},
  {label: 'stop', run: (x) => post(`${url(vms, x.name)}/stop`)},
  {label: 'reboot', run: (x) => post(`${url(vms, x.name)}/reboot`)},
  {...remove(vms, 'VM'), confirm: (x) => `Delete VM ${x.name} and its disk?`}];

const networks = {path: 'networks', title: 'Networks', one: 'Network', kind: 'network',
  columns: [{key: 'name', link: true}, {key: 'cidr', label: 'CIDR'}, {key: 'gateway'}, {key: 'nat', label: 'NAT', fmt: yes},
    {key: 'nics', label: 'NICs', num: true}, {key: 'state', state: true}],
  fields: [['name', 'Name'], ['cidr', 'CIDR'], ['gateway', 'Gateway'], ['nat', 'NAT', yes], ['bridge', 'Bridge'],
    ['nics', 'NICs'], ['state', 'State'], ['id', 'ID'], ['created_at', 'Created']],
  create: {title: 'Create a network', fields: [{name: 'name', label: 'Name', required: true},
    {name: 'cidr', label: 'CIDR', placeholder: '10.20.0.0/24 (default: the next free /24)'},
    {name: 'nat', label: 'NAT to the uplink', type: 'check', value: true}],
  run: (v) => post('/v1/networks', v)}};
networks.actions = [remove(networks, 'network')];

const firewalls = {path: 'firewalls', title: 'Firewalls', one: 'Firewall', kind: 'firewall',
  columns: [{key: 'name', link: true}, {key: 'description'}, {key: 'rule_count', label: 'rules', num: true},
    {key: 'members', num: true}],
  fields: [['name', 'Name'], ['description', 'Description'], ['members', 'Members'], ['id', 'ID'], ['created_at', 'Created']],
  create: {title: 'Create a firewall', fields: [{name: 'name', label: 'Name', required: true},
    {name: 'description', label: 'Description'}], run: (v) => post('/v1/firewalls', v)},
  sections: [{id: 'rules', title: 'Rules (what may come in)', items: (x) => x.rules,
    columns: [{key: 'proto'}, {key: 'port'}, {key: 'from', label: 'from (CIDR)'}, {key: 'from_firewall', label: 'from members of'},
      {key: 'id'}],
    actions: [{label: 'delete', confirm: (r) => `Delete the rule ${r.proto} ${r.port || ''}?`,
      run: (r, {parent}) => del(`${url(firewalls, parent.name)}/rules/${enc(r.id)}`)}],
    add: {title: 'Add a rule', fields: [
      {name: 'proto', label: 'Protocol', type: 'select', required: true, options: ['tcp', 'udp', 'icmp', 'all'], value: 'tcp'},
      {name: 'port', label: 'Port or range', placeholder: '22 or 8000-8080'},
      {name: 'from', label: 'From (CIDR)', placeholder: '0.0.0.0/0'},
      {name: 'from_firewall', label: 'Or from members of', type: 'select', options: names('firewalls')}],
    run: (v, fw) => post(`${url(firewalls, fw.name)}/rules`, v)}}]};
firewalls.actions = [remove(firewalls, 'firewall')];

const images = {path: 'images', title: 'Images', one: 'Image', kind: 'image',
  columns: [{key: 'name', link: true}, {key: 'state', state: true}, {key: 'recipe'}, {key: 'os'}, {key: 'boot'},
    {key: 'size_bytes', label: 'size', fmt: bytes, num: true}, {key: 'created_at', label: 'created'}],
  fields: [['name', 'Name'], ['state', 'State'], ['recipe', 'Recipe'], ['source', 'Source'], ['sha256', 'SHA-256'],
    ['os', 'OS'], ['boot', 'Boot'], ['user', 'User'], ['size_bytes', 'Size', bytes],
    ['virtual_size_bytes', 'Virtual size', bytes], ['error', 'Error'], ['id', 'ID'], ['created_at', 'Created']],
  create: {title: 'Build or import an image', note: 'A recipe (tiny, debian), a URL to import, or a VM to copy.',
    fields: [{name: 'name', label: 'Name'}, {name: 'recipe', label: 'Recipe', placeholder: 'tiny'},
      {name: 'url', label: 'URL', placeholder: 'https://…/disk.qcow2'}, {name: 'sha256', label: 'SHA-256 (of the URL)'},
      {name: 'from_vm', label: 'From a VM', type: 'select', options: names('vms')}],
    run: (v) => post('/v1/images', v), label: 'Build'}};
images.actions = [remove(images, 'image')];

const volumes = {path: 'volumes', title: 'Volumes', one: 'Volume', kind: 'volume',
  columns: [{key: 'name', link: true}, {key: 'size_bytes', label: 'size', fmt: bytes, num: true},
    {key: 'state', state: true}, {key: 'vm', label: 'VM'}, {key: 'device'}, {key: 'created_at', label: 'created'}],
  create: {title: 'Create a volume', fields: [{name: 'name', label: 'Name', required: true},
    {name: 'size', label: 'Size', placeholder: '10G'},
    {name: 'from_snapshot', label: 'From a snapshot', type: 'select', options: names('snapshots')}],
  run: (v) => post('/v1/volumes', v)},
  sections: [{id: 'attach', title: 'Attach to a VM', add: {label: 'Attach', fields: [
    {name: 'vm', label: 'VM', type: 'select', required: true, options: names('vms')}],
  run: (v, vol) => post(`${url(volumes, vol.name)}/attach`, v)}}]};
volumes.actions = [{label: 'detach', when: (x) => x.vm, run: (x) => post(`${url(volumes, x.name)}/detach`)},
  remove(volumes, 'volume')];

const snapshots = {path: 'snapshots', title: 'Snapshots', one: 'Snapshot', kind: 'snapshot',
  columns: [{key: 'name', link: true}, {key: 'vm', label: 'VM'}, {key: 'volume'}, {key: 'state', state: true},
    {key: 'virtual_size_bytes', label: 'size', fmt: bytes, num: true}, {key: 'created_at', label: 'created'}],
  create: {title: 'Take a snapshot', note: 'Of a VM\'s disk or of a volume.', fields: [
    {name: 'vm', label: 'VM', type: 'select', options: names('vms')},
    {name: 'volume', label: 'Or a volume', type: 'select', options: names('volumes')},
    {name: 'name', label: 'Name'}], run: (v) => post('/v1/snapshots', v), label: 'Take'}};
snapshots.actions = [remove(snapshots, 'snapshot')];

const lbs = {path: 'lbs', title: 'Load balancers', one: 'Load balancer',
  columns: [{key: 'name', link: true}, {key: 'network'}, {key: 'vip', label: 'VIP'}, {key: 'algorithm'}, {key: 'check'},
    {key: 'listeners', fmt: (l) => l.map((x) => `${x.port}→${x.target_port}`).join(', ')},
    {key: 'targets', label: 'healthy targets', fmt: (t) => `${t.filter((x) => x.health === 'healthy').length}/${t.length}`},
    {key: 'state', state: true}],
  fields: [['name', 'Name'], ['state', 'State'], ['network', 'Network'], ['vip', 'VIP'], ['algorithm', 'Algorithm'], ['check', 'Check'],
    ['check_path', 'Check path'], ['interval_ms', 'Interval (ms)'], ['timeout_ms', 'Timeout (ms)'], ['rise', 'Rise'],
    ['fall', 'Fall'], ['failing_open', 'Failing open', yes], ['drain_ms', 'Drain (ms)'], ['host_port', 'Host port', yes],
    ['id', 'ID'], ['created_at', 'Created']],
  create: {title: 'Create a load balancer', fields: [{name: 'name', label: 'Name', required: true},
    {name: 'network', label: 'Network', type: 'select', options: names('networks')},
    {name: 'listen', label: 'Listen', required: true, placeholder: '80 or 80:8080, …'},
    {name: 'targets', label: 'Targets', placeholder: 'VM or VM:PORT, …'},
    {name: 'check', label: 'Check', type: 'select', options: ['tcp', 'http']}],
  run: (v) => post('/v1/lbs', {...v, listen: list(v.listen), targets: list(v.targets)})},
  sections: [
    {id: 'targets', title: 'Targets', items: (x) => x.targets,
      columns: [{key: 'vm', label: 'VM'}, {key: 'port'}, {key: 'state'}, {key: 'drain_until', label: 'cut at'},
        {key: 'health', state: true}, {key: 'health_since', label: 'since'}, {key: 'reason'}],
      actions: [{label: 'remove', run: (t, {parent}) =>
        del(`${url(lbs, parent.name)}/targets/${enc(t.port ? `${t.vm}:${t.port}` : t.vm)}`)}],
      add: {title: 'Add a target', fields: [{name: 'target', label: 'Target', required: true, placeholder: 'VM or VM:PORT'}],
        run: (v, lb) => post(`${url(lbs, lb.name)}/targets`, v)}},
    {id: 'listeners', title: 'Listeners', items: (x) => x.listeners, key: (l) => String(l.port),
      columns: [{key: 'port'}, {key: 'target_port', label: 'to port'}]}]};
lbs.actions = [remove(lbs, 'load balancer')];

const groups = {path: 'groups', title: 'Groups', one: 'Group',
  columns: [{key: 'name', link: true}, {key: 'image'}, {key: 'type'}, {key: 'min', num: true}, {key: 'max', num: true},
    {key: 'desired', num: true}, {key: 'live', label: 'current', num: true}, {key: 'healthy', num: true}],
  fields: [['name', 'Name'], ['image', 'Image'], ['type', 'Type'], ['network', 'Network'], ['firewalls', 'Firewalls'],
    ['min', 'Min'], ['max', 'Max'], ['desired', 'Desired'], ['live', 'Current'], ['healthy', 'Healthy'], ['lb', 'Load balancer'],
    ['target_cpu', 'Target CPU %'], ['template', 'Template'], ['id', 'ID'], ['created_at', 'Created']],
  create: {title: 'Create a group', fields: [{name: 'name', label: 'Name', required: true},
    {name: 'image', label: 'Image', type: 'select', options: names('images')},
    {name: 'type', label: 'Type', type: 'select', options: names('types')},
    {name: 'network', label: 'Network', type: 'select', options: names('networks')},
    {name: 'min', label: 'Min', type: 'number', required: true, value: 1},
    {name: 'max', label: 'Max', type: 'number', required: true, value: 3},
    {name: 'desired', label: 'Desired', type: 'number'},
    {name: 'lb', label: 'Load balancer', type: 'select', options: names('lbs')}],
  run: (v) => post('/v1/groups', v)},
  sections: [
    {id: 'members', title: 'Members', items: (x) => x.members, key: (m) => m.name, link: (m) => `/vms/${enc(m.name)}`,
      columns: [{key: 'name', link: true}, {key: 'vm_state', label: 'state', state: true}, {key: 'ip', label: 'IP'},
        {key: 'healthy', fmt: yes}, {key: 'lb_health', label: 'balancer'}, {key: 'cpu', label: 'CPU %'},
        {key: 'template'}, {key: 'protected', fmt: yes}]},
    {id: 'counts', title: 'Change the counts', add: {label: 'Set', fields: [
      {name: 'desired', label: 'Desired', type: 'number'}, {name: 'min', label: 'Min', type: 'number'},
      {name: 'max', label: 'Max', type: 'number'}],
    run: (v, g) => patch(url(groups, g.name), v)}}]};
groups.actions = [remove(groups, 'group')];

const hosts = {path: 'hosts', title: 'Hosts', one: 'Host',
  columns: [{key: 'name', link: true}, {key: 'state', state: true}, {key: 'address'}, {key: 'accel'},
    {key: 'vcpus_used', label: 'vCPUs used', fmt: (v, x) => `${v} / ${x.vcpus_allocatable}`, num: true},
    {key: 'memory_mib_used', label: 'memory used (MiB)', fmt: (v, x) => `${v} / ${x.memory_mib_allocatable}`, num: true},
    {key: 'vms', label: 'VMs', num: true}, {key: 'heartbeat_age_ms', label: 'heartbeat', fmt: (v) => `${(v / 1000).toFixed(1)} s ago`}],
  fields: [['name', 'Name'], ['state', 'State'], ['address', 'Address'], ['accel', 'Accelerator'], ['vcpus', 'vCPUs'],
    ['memory_mib', 'Memory (MiB)'], ['cpu_overcommit', 'CPU overcommit'], ['memory_overcommit', 'Memory overcommit'],
    ['reserved_memory_mib', 'Reserved memory (MiB)'], ['vcpus_used', 'vCPUs used'], ['vcpus_allocatable', 'vCPUs to give'],
    ['memory_mib_used', 'Memory used (MiB)'], ['memory_mib_allocatable', 'Memory to give (MiB)'], ['vms', 'VMs'],
    ['heartbeat', 'Heartbeat'], ['version', 'Version'], ['id', 'ID']]};
hosts.actions = [
  {label: 'drain', when: (x) => !x.draining, run: (x) => post(`${url(hosts, x.name)}/drain`)},
  {label: 'undrain', when: (x) => x.draining, run: (x) => post(`${url(hosts, x.name)}/undrain`)},
  {...remove(hosts, 'host'), confirm: (x) => `Remove host ${x.name} from the cloud?`}];

// In the order of the menu.
export const specs = [vms, networks, firewalls, images, volumes, snapshots, lbs, groups, hosts];
