// login: trade an API token for a session cookie.

import {h, fill} from './dom.js';
import {login} from './api.js';

export function render(main, {onLoggedIn}) {
  const input = h('input', {id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true,
    placeholder: 'nubo_…', size: 72});
  const msg = h('p', {id: 'login-error', class: 'error', role: 'alert', hidden: true});
  const form = h('form', {id: 'login', class: 'card narrow', onsubmit: async (ev) => {
    ev.preventDefault();
    msg.hidden = true;
    try {
      const s = await login(input.value.trim());
      input.value = '';
      onLoggedIn(s);
    } catch (e) {
      msg.textContent = e.message;
      msg.hidden = false;
    }
  }},
  h('h1', {}, 'Log in to nubo'),
  h('label', {for: 'token'}, 'API token'),
  input,
  h('p', {class: 'muted'}, 'Make one on the host with ', h('code', {}, 'nubo token create NAME'),
    '. The browser keeps a session cookie, not the token.'),
  msg,
  h('button', {type: 'submit'}, 'Log in'));
  fill(main, form);
  input.focus();
  return {stop() {}};
}
