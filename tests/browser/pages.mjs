// Every page of the web console against the dry-run nubod of pages.sh,
// which makes N VMs through the API meanwhile and touches FILLED when done.
// Each resource is made or changed from its page; then the VM list is
// measured with all N VMs.
//
// Env: URL, SECRET (an API token), N, FILLED (a file), SHOTS (a folder),
// CHART_VM (a VM running all along, its CPU fed through the dry-run hook).

import {existsSync} from 'node:fs';
import {attempt, check, failures, launch, login, shot} from './check.mjs';

const {URL: base, SECRET, FILLED, CHART_VM} = process.env;
const N = Number(process.env.N);
const BOUND_MS = 200;   // issue 17: pages load in under 200 ms with 1,000 VMs

const browser = await launch();
try {
  const context = await browser.newContext({viewport: {width: 1280, height: 900}});
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/`);
  await login(page, SECRET);
  await page.waitForSelector('table#vms', {timeout: 10000});

  // Opens a page from the menu; its table shows.
  const open = async (path) => {
    await page.click(`nav#nav a[href="/${path}"]`);
    await page.waitForSelector(`#live:not(:has-text("Loading"))`, {timeout: 10000});
  };
  // Fills the form in sel with {name: value} (a select by its value) and submits it.
  const submit = async (sel, values) => {
    for (const [k, v] of Object.entries(values)) {
      const el = `${sel} [name=${k}]`;
      const tag = await page.$eval(el, (e) => e.tagName);
      if (tag === 'SELECT') {
        await page.waitForSelector(`${el} option[value="${v}"]`, {state: 'attached', timeout: 10000});
        await page.selectOption(el, v);
      } else if (typeof v === 'boolean') await page.setChecked(el, v);
      else await page.fill(el, String(v));
    }
    await page.click(`${sel} button[type=submit]`);
  };
  const row = (table, key) => `table#${table} tr[data-key="${key}"]`;
  const cell = (table, key, field) => page.textContent(`${row(table, key)} [data-field=${field}]`);

  // Networks: a bad CIDR's error next to its field; one made from the form.
  await open('networks');
  await submit('#create', {name: 'net-t', cidr: '10.214.5.0/33'});
  await attempt('networks: the API\'s error for a bad CIDR shows next to the CIDR field', async () => {
    await page.waitForSelector('#create [data-error-for=cidr] .error', {timeout: 5000});
    return page.textContent('#create [data-error-for=cidr] .error');
  });
  await submit('#create', {name: 'net-t', cidr: '10.214.5.0/24', nat: false});
  await attempt('networks: one made from the form shows in the list, live', async () => {
    await page.waitForSelector(row('networks', 'net-t'), {timeout: 10000});
    const [cidr, nat] = [await cell('networks', 'net-t', 'cidr'), await cell('networks', 'net-t', 'nat')];
    if (cidr !== '10.214.5.0/24' || nat !== 'no') throw new Error(`cidr ${cidr}, nat ${nat}`);
  });
  await shot(page, '10-networks');

  // Firewalls: one made, a rule added on its page and deleted.
  await open('firewalls');
  await submit('#create', {name: 'fw-t', description: 'web servers'});
  await page.waitForSelector(row('firewalls', 'fw-t'), {timeout: 10000});
  await page.click(`${row('firewalls', 'fw-t')} a`);
  await page.waitForSelector('#details [data-field=name]', {timeout: 10000});
  await submit('#add-rules', {proto: 'tcp', port: '8080', from: '0.0.0.0/0'});
  await attempt('firewalls: a rule added on the firewall\'s page shows in its rules', async () => {
    await page.waitForSelector('table#rules tr[data-key] [data-field=port]:has-text("8080")', {timeout: 10000});
  });
  await submit('#add-rules', {proto: 'tcp', port: '99999'});
  await attempt('firewalls: a bad port\'s error shows next to the port field', async () => {
    await page.waitForSelector('#add-rules [data-error-for=port] .error', {timeout: 5000});
    return page.textContent('#add-rules [data-error-for=port] .error');
  });
  await shot(page, '11-firewall');
  page.once('dialog', (d) => d.accept());
  await page.click('table#rules tr[data-key] button[data-action=delete]');
  await attempt('firewalls: a rule deleted from the page is gone', async () => {
    await page.waitForSelector('table#rules tr[data-key]', {state: 'detached', timeout: 10000});
  });

  // Images: tiny, built by pages.sh.
  await open('images');
  await attempt('images: the list shows tiny ready', async () => {
    await page.waitForSelector(`${row('images', 'tiny')} [data-state=ready]`, {timeout: 10000});
  });
  await shot(page, '12-images');

  // Volumes: one made from the form (its operation's phases), attached to a VM.
  await open('volumes');
  await submit('#create', {name: 'vol-t', size: '1G'});
  await attempt('volumes: one made from the form shows, available', async () => {
    await page.waitForSelector(`${row('volumes', 'vol-t')} [data-state=available]`, {timeout: 20000});
  });
  await page.click(`${row('volumes', 'vol-t')} a`);
  await page.waitForSelector('#details [data-field=state]', {timeout: 10000});
  await submit('#add-attach', {vm: 'vm-0001'});
  await attempt('volumes: attached to a VM from its page, with the operation\'s phases', async () => {
    await page.waitForSelector('#details [data-field=vm]:has-text("vm-0001")', {timeout: 20000});
    return page.textContent('#operation');
  });
  await shot(page, '13-volume');

  // Snapshots: one of the volume.
  await open('snapshots');
  await submit('#create', {volume: 'vol-t', name: 'snap-t'});
  await attempt('snapshots: one taken from the form shows, ready', async () => {
    await page.waitForSelector(`${row('snapshots', 'snap-t')} [data-state=ready]`, {timeout: 20000});
  });
  await shot(page, '14-snapshots');

  // Load balancers: one made from the form; a target added on its page.
  await open('lbs');
  await submit('#create', {name: 'lb-t', network: 'many', listen: '80:8080', targets: 'vm-0001'});
  await page.waitForSelector(row('lbs', 'lb-t'), {timeout: 10000});
  await page.click(`${row('lbs', 'lb-t')} a`);
  await page.waitForSelector('#details [data-field=vip]', {timeout: 10000});
  await submit('#add-targets', {target: 'vm-0002'});
  await attempt('load balancers: its targets show with their health, one added on its page', async () => {
    await page.waitForSelector('table#targets tr[data-key] [data-field=vm]:has-text("vm-0002")', {timeout: 10000});
    const n = await page.$$eval('table#targets tr[data-key] [data-field=health] [data-state]', (e) => e.length);
    if (n !== 2) throw new Error(`${n} targets with a health`);
  });
  await shot(page, '15-lb');

  // Usage: cost per day as a chart.
  await page.click('nav#nav a[href="/usage"]');
  await attempt('usage: cost per day as a chart, one bar a day, and the table', async () => {
    // attached, not visible: a day that cost nothing so far is a bar of
    // height 0, which the browser counts as hidden.
    await page.waitForSelector('svg.chart rect.bar', {state: 'attached', timeout: 10000});
    const [bars, days] = await Promise.all(['svg.chart rect.bar', 'table#usage tr[data-key]'].map((q) =>
      page.$$eval(q, (e) => e.length)));
    if (bars !== days || !days) throw new Error(`${bars} bars, ${days} days`);
  });
  await shot(page, '17-usage');

  // The VMs, then what would keep them from being made: a drain, and a group
  // (it takes room).
  const end = Date.now() + 240000;
  while (!existsSync(FILLED) && Date.now() < end) await page.waitForTimeout(500);
  check(existsSync(FILLED), `pages.sh made ${N} VMs`);

  // Hosts: drained and undrained from the list (no VM could be made meanwhile).
  await open('hosts');
  await page.waitForSelector('table#hosts tr[data-key] [data-state=up]', {timeout: 10000});
  await page.click('table#hosts tr[data-key] button[data-action=drain]');
  await attempt('hosts: drained from the list, its state shows it', async () => {
    await page.waitForSelector('table#hosts tr[data-key] [data-state=draining]', {timeout: 15000});
  });
  await shot(page, '16-hosts');
  await page.click('table#hosts tr[data-key] button[data-action=undrain]');
  await page.waitForSelector('table#hosts tr[data-key] [data-state=up]', {timeout: 15000});

  await open('groups');
  await submit('#create', {name: 'grp-t', image: 'tiny', type: 'c1', network: 'many', min: 1, max: 3});
  await page.waitForSelector(row('groups', 'grp-t'), {timeout: 10000});
  await page.click(`${row('groups', 'grp-t')} a`);
  await page.waitForSelector('#details [data-field=desired]', {timeout: 10000});
  await submit('#add-counts', {desired: 2});
  await attempt('groups: the desired count set on its page, and the current count follows', async () => {
    await page.waitForSelector('#details [data-field=desired]:has-text("2")', {timeout: 10000});
    await page.waitForSelector('#details [data-field=live]:has-text("2")', {timeout: 30000});
    const n = await page.$$eval('table#members tr[data-key]', (e) => e.length);
    if (n !== 2) throw new Error(`${n} members listed`);
  });
  await shot(page, '18-group');

  // A VM's charts: CPU as the API answers it, memory "no data" (the dry-run
  // host reads none), and read again every step. The page's requests for the
  // figures go through here: once an answer holds a few CPU points, the
  // page's next ones are held until the charts are checked, so that they
  // show that answer meanwhile.
  let shown = null, checked = false;
  const held = [];
  const stats = '**/v1/vms/*/stats?*';
  await page.route(stats, async (route) => {
    if (checked) return route.continue();
    if (shown) { held.push(route); return; }
    const res = await route.fetch();
    const body = await res.json();
    if (body.samples?.filter((x) => x.cpu_pct !== null).length >= 3) shown = body;
    await route.fulfill({response: res, json: body});
  });
  await page.goto(`${base}/vms/${CHART_VM}`);
  // The points drawn of the CPU chart: one M or L of its lines' paths each.
  const cpuPoints = () => page.$$eval('#chart-cpu path.line', (e) => e.reduce((k, p) => k + p.getAttribute('d').match(/[ML]/g).length, 0));
  const until = async (ms, f) => {
    const end = Date.now() + ms;
    while (!(await f()) && Date.now() < end) await page.waitForTimeout(250);
    return f();
  };
  await attempt(`a VM's page: its CPU chart draws a point per CPU figure of the API's answer, up to its highest`, async () => {
    if (!(await until(60000, () => shown))) throw new Error(`no answer with 3 CPU points in 60 s`);
    const cpu = shown.samples.map((x) => x.cpu_pct).filter((c) => c !== null);
    const want = `${cpu.length} points, highest ${Math.max(...cpu).toFixed(1)} %`;
    const drawn = async () => `${await cpuPoints()} points, highest ${await page.$$eval('#chart-cpu text.y', (e) => e[e.length - 1]?.textContent)}`;
    await until(5000, async () => (await drawn()) === want);
    const got = await drawn();
    if (got !== want) throw new Error(`drawn: ${got}; the API: ${want} of ${shown.samples.length} samples`);
    return got;
  });
  await attempt(`a VM's page: the memory chart says "no data" in dry-run, not 0`, async () => {
    const [text, lines] = await Promise.all([page.textContent('#chart-memory svg text.nodata'),
      page.$$eval('#chart-memory svg path.line', (e) => e.length)]);
    if (text !== 'no data' || lines) throw new Error(`"${text}", ${lines} lines`);
  });
  await attempt(`a VM's page: the charts ask again after a step (${shown?.step} ms)`, async () => {
    if (!(await until((shown?.step ?? 0) + 10000, () => held.length))) throw new Error('no request');
  });
  await page.$eval('#charts', (e) => e.parentElement.scrollIntoView());
  await shot(page, '20-vm-charts');
  checked = true;
  for (const r of held) await r.continue();
  await page.unroute(stats);
  await attempt(`a VM's page: over the last 6 hours the charts ask for a point a minute, and CPU shows`, async () => {
    const [res] = await Promise.all([page.waitForResponse((r) => r.url().includes('/stats?since=6h'), {timeout: 10000}),
      page.selectOption('#chart-range', '6h')]);
    const body = await res.json();
    if (res.status() !== 200 || body.step !== 60000) throw new Error(`${res.status()} ${res.url()}: step ${body.step}`);
    const want = body.samples.filter((x) => x.cpu_pct !== null).length;
    await until(5000, async () => (await cpuPoints()) === want);
    if (!want || (await cpuPoints()) !== want) throw new Error(`${await cpuPoints()} points drawn of ${want}`);
    return `${want} points`;
  });

  // The VM list with N VMs: its first page is drawn before the rest is
  // fetched, and only the rows in view are in the DOM. How soon (against the
  // list of hosts, one row, loaded in turn, best of three each) is printed
  // for the record, not checked: a time is a benchmark's, not a test's.
  const load = async (path) => {
    await page.goto(`${base}/${path}`);
    await page.waitForFunction((p) => performance.getEntriesByName(`${p}-all`).length, path, {timeout: 20000});
    return page.evaluate((p) => {
      const at = (name) => Math.round(performance.getEntriesByName(name)[0]?.startTime);
      const nav = performance.getEntriesByType('navigation')[0];
      const steps = [`html ${Math.round(nav.responseEnd)}`, ...performance.getEntriesByType('resource').map((r) =>
        `${new URL(r.name).pathname.replace(/^\/v1\//, '')} ${Math.round(r.startTime)}-${Math.round(r.responseEnd)}`)];
      return {rows: at(`${p}-shown`), all: at(`${p}-all`), steps: steps.join(', ')};
    }, path);
  };
  const times = {vms: [], hosts: []};
  for (let i = 0; i < 3; i++) for (const p of ['hosts', 'vms']) times[p].push(await load(p));
  const best = (p) => times[p].reduce((a, b) => (b.rows < a.rows ? b : a));
  const [vms, one] = [best('vms'), best('hosts')];
  const detail = `first rows of ${N} VMs at ${times.vms.map((t) => t.rows).join(', ')} ms (all of them at ` +
    `${times.vms.map((t) => t.all).join(', ')}), of one host at ${times.hosts.map((t) => t.rows).join(', ')} ms; ` +
    `the best VM list: ${vms.steps}`;
  check(times.vms.every((t) => t.rows < t.all), `the VM list with ${N} VMs shows its first rows before it has them all`, detail);
  console.log(`# ${detail} (the issue's mark: ${BOUND_MS} ms; one host's list: ${one.rows} ms)`);
  await attempt(`the DOM holds the rows in view only, not ${N}`, async () => {
    const n = await page.$$eval('table#vms tr[data-key]', (e) => e.length);
    if (n >= 100) throw new Error(`${n} rows`);
    return `${n} rows`;
  });
  await shot(page, '19-vms-1000');
  await attempt(`scrolling to the end shows the last VM, vm-${String(N).padStart(4, '0')}`, async () => {
    await page.$eval('table#vms', (t) => { const box = t.parentElement; box.scrollTop = box.scrollHeight; });
    await page.waitForSelector(row('vms', `vm-${String(N).padStart(4, '0')}`), {timeout: 5000});
  });
  check(errors.length === 0, 'no script error on any page', errors.join(' | '));
} finally {
  await browser.close();
}
process.exit(failures() ? 1 : 0);
