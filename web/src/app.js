// app: the web console's entry point: the session, the header and a small
// router over the History API (/login, /vms, /vms/NAME). No framework: each
// page is a module with render(main, ctx) → {stop()}.

import {resume, logout, setUnauthorizedHandler} from './api.js';
import * as loginPage from './login.js';
import * as vmsPage from './vms.js';
import * as vmPage from './vm.js';

const main = document.getElementById('main');
const who = document.getElementById('who');
const nav = document.getElementById('nav');
const logoutButton = document.getElementById('logout');
let current = null;
let session = null;

function setSession(s) {
  session = s;
  who.textContent = s ? `token ${s.session.token}` : '';
  nav.hidden = !s;
  logoutButton.hidden = !s;
}

function route() {
  current?.stop();
  const path = location.pathname;
  if (!session) {
    document.title = 'nubo: log in';
    current = loginPage.render(main, {onLoggedIn: (s) => {
      setSession(s);
      go(path === '/login' ? '/vms' : path, true);
    }});
    return;
  }
  const m = path.match(/^\/vms\/([^/]+)$/);
  if (m) {
    const name = decodeURIComponent(m[1]);
    document.title = `nubo: ${name}`;
    current = vmPage.render(main, {name, go});
  } else {
    document.title = 'nubo: VMs';
    current = vmsPage.render(main, {go});
  }
}

function go(path, replace = false) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a[data-link]');
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  go(a.getAttribute('href'));
});
window.addEventListener('popstate', route);
logoutButton.addEventListener('click', async () => {
  try { await logout(); } catch { /* the session is gone either way */ }
  setSession(null);
  go('/login', true);
});
setUnauthorizedHandler(() => {
  if (!session) return;
  setSession(null);
  route();
});

(async () => {
  try { setSession(await resume()); } catch { setSession(null); }
  if (location.pathname === '/' || (session && location.pathname === '/login')) history.replaceState(null, '', '/vms');
  route();
})();
