// app: the web console's entry point: the session, the menu and a small
// router over the History API: /login, /usage, /vms/NAME (the VM's page with
// its console), and for every spec of pages.js /PATH (its list) and
// /PATH/NAME (one of them). No framework: each page is a function
// render(main, ctx) → {stop()}.

import {resume, logout, setUnauthorizedHandler} from './api.js';
import {h} from './dom.js';
import * as loginPage from './login.js';
import * as vmPage from './vm.js';
import * as usagePage from './usage.js';
import {specs} from './pages.js';
import {listPage, detailPage} from './resource.js';

const main = document.getElementById('main');
const who = document.getElementById('who');
const nav = document.getElementById('nav');
const logoutButton = document.getElementById('logout');
let current = null;
let session = null;

nav.append(...specs.map((s) => h('a', {href: `/${s.path}`, 'data-link': true}, s.title)),
  h('a', {href: '/usage', 'data-link': true}, 'Usage'));

function setSession(s) {
  session = s;
  who.textContent = s ? `token ${s.session.token}` : '';
  nav.hidden = !s;
  logoutButton.hidden = !s;
}

// The page for a path: [title, render(main)].
function page(path) {
  if (path === '/usage') return ['Usage', (m) => usagePage.render(m)];
  const [, first, second] = path.match(/^\/([^/]+)(?:\/([^/]+))?$/) || [];
  const spec = specs.find((s) => s.path === first) || specs[0];
  if (!second || spec.path !== first) return [spec.title, (m) => listPage(m, spec, {go})];
  const name = decodeURIComponent(second);
  if (spec.path === 'vms') return [name, (m) => vmPage.render(m, {name, go})];
  return [name, (m) => detailPage(m, spec, name, {go})];
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
  const [title, render] = page(path);
  document.title = `nubo: ${title}`;
  nav.querySelectorAll('a').forEach((a) => a.classList.toggle('here', path.startsWith(a.getAttribute('href'))));
  current = render(main);
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
