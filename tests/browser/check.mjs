// What every browser script shares: checks as lines that run_node
// (tests/browser-lib.sh) turns into TAP, screenshots, chromium and the login.

import {chromium} from 'playwright-core';

const clean = (s) => String(s ?? '').replace(/[\t\n]+/g, ' ').slice(0, 600);
let failed = 0;
export function check(pass, what, detail = '') {
  if (!pass) failed++;
  console.log(`CHECK\t${pass ? 0 : 1}\t${what}\t${clean(detail)}`);
}
export async function attempt(what, fn) {
  try {
    const detail = await fn();
    check(true, what, detail);
    return true;
  } catch (e) {
    check(false, what, e.message);
    return false;
  }
}
export const failures = () => failed;
// The viewport only: growing it for a full-page shot would refit (and scroll) a terminal.
export const shot = (page, name) => page.screenshot({path: `${process.env.SHOTS}/${name}.png`});

export function launch() {
  return chromium.launch({executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage']});
}

// Logs in with the token on a page at the login form.
export async function login(page, token) {
  await page.fill('#token', token);
  await page.click('form#login button[type=submit]');
}
