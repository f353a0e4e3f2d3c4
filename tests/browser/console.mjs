// The web console in Debian's chromium (headless), driven by playwright-core
// against the nubod that tests/browser/console.sh started. Each check is a
// line "CHECK<TAB>0|1<TAB>what<TAB>detail" that console.sh turns into TAP;
// screenshots of every page go to $SHOTS.
//
// Env: URL (http://127.0.0.1:PORT), SECRET (an API token), VM (the name to
// create), KEY_PUB (a public key's text), SSH_KEY (its private key file),
// NUBO (the nubo command), SHOTS (a folder).

import {execFileSync} from 'node:child_process';
import {attempt, check, failures, launch, login, shot} from './check.mjs';

const {URL: base, SECRET, VM, KEY_PUB, SSH_KEY, NUBO} = process.env;
const FW = 'web-in';     // the firewall made in the UI; its rule opens PORT
const PORT = 8080;

// Whether the VM's web server answers from here (the host): an HTTP GET
// that must come back within 2 s.
async function reachable(ip) {
  try {
    const r = await fetch(`http://${ip}:${PORT}/`, {signal: AbortSignal.timeout(2000)});
    return /hello-firewall/.test(await r.text());
  } catch {
    return false;
  }
}
async function until(fn, ms) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 300));
  }
}

const browser = await launch();
try {
  const context = await browser.newContext({viewport: {width: 1280, height: 1100}});
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  let loads = 0;
  page.on('load', () => { loads++; });

  await page.goto(`${base}/`);
  await attempt('the login page shows', async () => {
    await page.waitForSelector('form#login input#token', {timeout: 10000});
  });
  await shot(page, '01-login');

  await login(page, 'nubo_' + '0'.repeat(64));
  await attempt('a wrong token is refused, and the page says so', async () => {
    await page.waitForSelector('#login-error:not([hidden])', {timeout: 5000});
    const t = await page.textContent('#login-error');
    if (!/not valid/.test(t)) throw new Error(`the message reads: ${t}`);
    if (await page.$('table#vms')) throw new Error('the VM list shows anyway');
    return t;
  });
  await shot(page, '02-login-refused');

  await login(page, SECRET);
  await attempt('the right token logs in to the VM list', async () => {
    await page.waitForSelector('table#vms', {timeout: 10000});
    await page.waitForSelector('#live', {timeout: 10000});
    if (new URL(page.url()).pathname !== '/vms') throw new Error(`at ${page.url()}`);
  });
  await attempt('the session cookie is HttpOnly and SameSite=Strict, unseen by scripts', async () => {
    const c = (await context.cookies()).find((x) => x.name === 'nubo_session');
    if (!c || !c.httpOnly || c.sameSite !== 'Strict') throw new Error(JSON.stringify(c));
    const seen = await page.evaluate(() => document.cookie);
    if (seen.includes('nubo_session')) throw new Error('document.cookie shows it');
  });
  await page.waitForSelector('#create select[name=image] option[value=tiny]', {state: 'attached', timeout: 10000});
  await shot(page, '03-vms-empty');

  // A firewall made on its page, with no rule yet; the VM goes in it.
  await page.click('nav#nav a[href="/firewalls"]');
  await page.fill('#create input[name=name]', FW);
  await page.fill('#create input[name=description]', `web on ${PORT}`);
  await page.click('#create button[type=submit]');
  await attempt('a firewall made from its page shows in the list', async () => {
    await page.waitForSelector(`table#firewalls tr[data-key="${FW}"]`, {timeout: 10000});
  });
  await page.click('nav#nav a[href="/vms"]');
  await page.waitForSelector(`#create select[name=firewalls] option[value="${FW}"]`, {state: 'attached', timeout: 10000});

  // Create a VM from the form and watch it reach running without a reload.
  const loadsBefore = loads;
  await page.fill('#create input[name=name]', VM);
  await page.selectOption('#create select[name=type]', 'nano');
  await page.selectOption('#create select[name=image]', 'tiny');
  await page.selectOption('#create select[name=network]', 'default');
  await page.selectOption('#create select[name=firewalls]', ['default', FW]);
  await page.fill('#create textarea[name=ssh_key]', KEY_PUB);
  await page.click('#create button[type=submit]');
  await attempt('the new VM appears in the list at once', async () => {
    await page.waitForSelector(`table#vms tr[data-key="${VM}"]`, {timeout: 10000});
  });
  await attempt('its create operation shows its phases as they happen', async () => {
    await page.waitForSelector('#operation li[data-phase=boot]', {timeout: 60000});
  });
  await attempt('the VM reaches running in the list, without a reload', async () => {
    await page.waitForSelector(`table#vms tr[data-key="${VM}"] [data-state=running]`, {timeout: 90000});
    if (loads !== loadsBefore) throw new Error(`the page loaded ${loads - loadsBefore} more time(s)`);
    const ip = await page.textContent(`table#vms tr[data-key="${VM}"] [data-field=ip]`);
    if (!/^10\./.test(ip)) throw new Error(`its IP cell reads ${ip}`);
    const cost = await page.textContent(`table#vms tr[data-key="${VM}"] [data-field=cost]`);
    if (!/^\d+\.\d{4}$/.test(cost)) throw new Error(`its cost cell reads ${cost}`);
    return `IP ${ip}, cost so far ${cost}`;
  });
  await page.waitForSelector('#operation [data-op-state=succeeded]', {timeout: 60000}).catch(() => {});
  await shot(page, '04-vms-running');

  // tiny's root has no password (it logs in by key); the serial console's
  // login needs one it can pass, so the test clears it over SSH, with the key
  // the form gave the VM, and starts a web server on PORT.
  const cleared = await attempt('the key given in the form lets SSH in (the test clears root\'s password, starts httpd)',
    async () => execFileSync(NUBO, ['vm', 'ssh', VM, '-i', SSH_KEY, '--',
      "sed -i 's/^root:x:/root::/' /etc/passwd && sed -i 's/^root:[^:]*:/root::/' /etc/shadow && " +
      `mkdir -p /tmp/www && echo hello-firewall > /tmp/www/index.html && httpd -p ${PORT} -h /tmp/www && echo ready`],
    {encoding: 'utf8', timeout: 60000}).trim());

  // The firewall's rule, added and deleted on its page, checked from the host.
  const ip = (await page.textContent(`table#vms tr[data-key="${VM}"] [data-field=ip]`)).trim();
  if (cleared) {
    check(!(await reachable(ip)), `from the host, ${ip}:${PORT} does not answer while no rule allows it`);
    await page.goto(`${base}/firewalls/${FW}`);
    await page.waitForSelector('#details [data-field=members]', {timeout: 10000});
    await page.fill('#add-rules input[name=port]', String(PORT));
    await page.fill('#add-rules input[name=from]', '0.0.0.0/0');
    await page.click('#add-rules button[type=submit]');
    await attempt(`a rule for tcp ${PORT} added on the firewall's page is in force: the host reaches the VM's web server`,
      async () => {
        await page.waitForSelector(`table#rules tr[data-key] [data-field=port]:has-text("${PORT}")`, {timeout: 10000});
        if (!(await until(() => reachable(ip), 10000))) throw new Error(`${ip}:${PORT} does not answer`);
      });
    await shot(page, '08-firewall-rule');
    page.once('dialog', (d) => d.accept());
    await page.click('table#rules tr[data-key] button[data-action=delete]');
    await attempt('deleted on the page, the rule is no longer in force', async () => {
      await page.waitForSelector('table#rules tr[data-key]', {state: 'detached', timeout: 10000});
      if (!(await until(async () => !(await reachable(ip)), 10000))) throw new Error(`${ip}:${PORT} still answers`);
    });
    await page.goto(`${base}/vms`);
    await page.waitForSelector(`table#vms tr[data-key="${VM}"]`, {timeout: 10000});
  }

  // The VM's page and its console.
  await page.click(`table#vms tr[data-key="${VM}"] a`);
  await attempt('the VM\'s page shows its details', async () => {
    await page.waitForSelector('#details [data-field=ip]', {timeout: 10000});
    const st = await page.getAttribute('#details [data-state]', 'data-state');
    if (st !== 'running') throw new Error(`state ${st}`);
  });
  await shot(page, '05-vm');
  await page.click('#open-console');
  const rows = () => page.evaluate(() => document.querySelector('#terminal .xterm-rows')?.innerText ?? '');
  const waitText = async (re, ms) => {
    const end = Date.now() + ms;
    let t = '';
    while (Date.now() < end) {
      t = await rows();
      if (re.test(t)) return t;
      await page.waitForTimeout(200);
    }
    throw new Error(`the terminal shows: ${t.slice(-400)}`);
  };
  await attempt('the console connects and shows the boot messages or the login prompt', async () => {
    await page.waitForFunction(() => document.querySelector('#console-status')?.textContent === 'connected',
      null, {timeout: 10000});
    await page.keyboard.press('Enter');
    await waitText(/login:/, 20000);
  });
  if (cleared) {
    await page.click('#terminal');
    await page.keyboard.type('root\n');
    await waitText(/#\s*$/m, 20000).catch(() => {});
    await page.keyboard.type('uname -a\n');
    await attempt('typing uname -a in the console answers Linux', async () => {
      // busybox: "Linux HOSTNAME RELEASE #1 SMP … x86_64 GNU/Linux"; the host name is the VM's
      const re = new RegExp(`Linux ${VM} \\d+\\.\\d+\\S* #`);
      const t = await waitText(re, 20000);
      return t.split('\n').find((l) => re.test(l));
    });
  }
  // Not fullPage: growing the viewport would refit the terminal while it is shot.
  await page.locator('#terminal').scrollIntoViewIfNeeded();
  await shot(page, '06-console');

  // A second viewer of the same console sees what the first one types.
  const page2 = await context.newPage();
  await page2.goto(`${base}/vms/${VM}`);
  await page2.click('#open-console');
  await page2.waitForFunction(() => document.querySelector('#console-status')?.textContent === 'connected',
    null, {timeout: 10000}).catch(() => {});
  await page.click('#terminal');
  await page.keyboard.type('echo two-viewers-$((6*7))\n');
  await attempt('a second viewer sees the first one\'s typing and its output', async () => {
    await page2.waitForFunction(() => /two-viewers-42/.test(document.querySelector('#terminal .xterm-rows')?.innerText ?? ''),
      null, {timeout: 15000});
  });
  await page2.close();

  // Without a session, 401; a session's change without the CSRF token, 403.
  await attempt('a request without the session is 401', async () => {
    const s = await page.evaluate(async () => (await fetch('/v1/vms', {credentials: 'omit'})).status);
    if (s !== 401) throw new Error(`status ${s}`);
  });
  await attempt('a state-changing request without the CSRF token is 403, and does nothing', async () => {
    const s = await page.evaluate(async (vm) => (await fetch(`/v1/vms/${vm}/stop`, {method: 'POST'})).status, VM);
    if (s !== 403) throw new Error(`status ${s}`);
    const st = await page.evaluate(async (vm) => (await (await fetch(`/v1/vms/${vm}`)).json()).state, VM);
    if (st !== 'running') throw new Error(`the VM is ${st}`);
  });

  // Stop it from its page.
  await page.click('div.actions button[data-action=stop]');
  await attempt('stopping from the VM\'s page shows the stop\'s phases', async () => {
    await page.waitForSelector('#operation li[data-phase=stopped]', {timeout: 90000});
  });
  await attempt('the VM\'s page shows it stopped, without a reload', async () => {
    await page.waitForSelector('#details [data-state=stopped]', {timeout: 30000});
  });
  await attempt('the console says it closed', async () => {
    await page.waitForFunction(() => /closed|disconnected/.test(document.querySelector('#console-status')?.textContent),
      null, {timeout: 15000});
  });
  await shot(page, '07-vm-stopped');

  await page.click('#logout');
  await attempt('logging out shows the login page and revokes the session', async () => {
    await page.waitForSelector('form#login', {timeout: 10000});
    const s = await page.evaluate(async () => (await fetch('/v1/vms')).status);
    if (s !== 401) throw new Error(`after logout GET /v1/vms is ${s}`);
  });
  check(consoleErrors.length === 0, 'no script error on any page', consoleErrors.join(' | '));
} finally {
  await browser.close();
}
process.exit(failures() ? 1 : 0);
