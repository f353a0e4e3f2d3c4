// dom: the few helpers every page uses to build elements without a framework.

// h('tr', {class: 'x', onclick: f}, child, 'text', ...) → an element.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// Replaces el's children with these (nested arrays flattened, null left out).
export function fill(el, ...children) {
  clear(el);
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// The API's words for an error, next to what it is about.
export function errorBox(err) {
  return h('p', {class: 'error', role: 'alert'}, err.message || String(err));
}
