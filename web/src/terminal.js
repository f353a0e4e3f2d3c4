// terminal: a VM's serial console in xterm.js, over a WebSocket opened with
// a single-use ticket's url (POST /v1/vms/NAME/console/tickets, which the
// page asks for). The guest's output arrives as binary frames; keystrokes go
// back as binary frames. Bundled on its own (web/build.sh) and loaded when a
// console is opened: xterm.js is most of the console's code, and no list
// needs it.

import {Terminal} from '@xterm/xterm';
import {FitAddon} from '@xterm/addon-fit';

export function open(container, ticketUrl, onStatus) {
  const term = new Terminal({convertEol: false, cursorBlink: true, scrollback: 5000, fontSize: 14,
    fontFamily: 'DejaVu Sans Mono, monospace', theme: {background: '#101418'}});
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(container);
  fit.fit();
  const onResize = () => fit.fit();
  window.addEventListener('resize', onResize);
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}${ticketUrl}`);
  ws.binaryType = 'arraybuffer';
  const enc = new TextEncoder();
  ws.onopen = () => onStatus('connected');
  ws.onmessage = (m) => term.write(typeof m.data === 'string' ? m.data : new Uint8Array(m.data));
  ws.onclose = (ev) => onStatus(ev.code === 1000 ? 'the console closed (the VM stopped)' : 'disconnected');
  ws.onerror = () => onStatus('the console could not be opened');
  const input = term.onData((d) => { if (ws.readyState === WebSocket.OPEN) ws.send(enc.encode(d)); });
  term.focus();
  return {
    term,
    close() {
      input.dispose();
      window.removeEventListener('resize', onResize);
      ws.close();
      term.dispose();
    },
  };
}
