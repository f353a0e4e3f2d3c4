// ops: start an action on a VM and show its operation's phases as nubod
// records them.

import {h, fill} from './dom.js';
import {followOperation} from './api.js';

// Renders op into box: its kind, state and each phase with its time.
export function showOperation(box, op) {
  box.hidden = false;
  fill(box, ...[
    h('strong', {}, `${op.kind} ${op.target_name || ''}: `),
    h('span', {class: `state ${op.state}`, 'data-op-state': op.state}, op.state),
    h('ol', {class: 'phases'}, (op.phases || []).map((p) =>
      h('li', {'data-phase': p.name}, p.name, h('span', {class: 'muted'}, ` ${p.at_ms} ms`)))),
    op.error ? h('p', {class: 'error'}, op.error) : null].filter(Boolean));
}

// Runs start() (which answers {operation}) and follows the operation in box.
export async function runAction(box, start) {
  const r = await start();
  const op = r && r.operation;
  if (!op) return r;
  showOperation(box, op);
  if (op.state === 'running') await followOperation(op.id, (o) => showOperation(box, o));
  return r;
}
