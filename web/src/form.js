// form: the create and add forms of every page, built from a list of
// fields. An error from the API is shown as the API words it, next to the
// field it names (or below the form when it names none).

import {h, clear, fill, errorBox} from './dom.js';

// A field: {name, label, type: text|number|select|multi|check|textarea,
// options: [values] or async () => [values], value (the default), required,
// placeholder, pattern}.
function input(f) {
  const common = {name: f.name, required: f.required, placeholder: f.placeholder, pattern: f.pattern};
  switch (f.type) {
  case 'select': case 'multi': {
    const sel = h('select', {...common, multiple: f.type === 'multi'});
    const setOptions = (opts) => {
      fill(sel, ...(f.type === 'select' && !f.required ? [h('option', {value: ''}, '—')] : []),
        ...opts.map((v) => h('option', {value: v, selected: [].concat(f.value ?? []).includes(v)}, v)));
      if (f.type === 'multi') sel.size = Math.min(4, Math.max(2, opts.length));
    };
    if (typeof f.options === 'function') {
      setOptions([]);
      f.options().then(setOptions, () => setOptions([]));
    } else setOptions(f.options || []);
    return sel;
  }
  case 'check': return h('input', {name: f.name, type: 'checkbox', checked: f.value});
  case 'textarea': return h('textarea', {...common, rows: 2});
  default: return h('input', {...common, type: f.type === 'number' ? 'number' : 'text', value: f.value});
  }
}

// The form's values: text trimmed (empty: left out), numbers as numbers,
// checkboxes as booleans, multiple selections as arrays.
function values(form, fields) {
  const data = new FormData(form);
  const v = {};
  for (const f of fields) {
    if (f.type === 'check') v[f.name] = form.elements[f.name].checked;
    else if (f.type === 'multi') v[f.name] = data.getAll(f.name);
    else {
      const s = String(data.get(f.name) ?? '').trim();
      if (s !== '') v[f.name] = f.type === 'number' ? Number(s) : s;
    }
  }
  return v;
}

// The field an API message is about: the one it starts with, else the first
// it names ("cidr \"10.0.0.0/33\" must be …", "listen[0] …").
function fieldOf(message, fields) {
  const starts = fields.find((f) => new RegExp(`^${f.name}\\b`).test(message));
  return starts || fields.find((f) => new RegExp(`\\b${f.name}\\b`).test(message));
}

// form({id, title, fields, submit: async (values) => …, label}) → a <form>.
export function form({id, title, fields, submit, label = 'Create', note}) {
  const boxes = new Map();
  const formError = h('div', {class: 'form-error'});
  const el = h('form', {id, class: 'card'}, title ? h('h2', {}, title) : null, note ? h('p', {class: 'muted'}, note) : null,
    h('div', {class: 'grid'}, fields.filter((f) => f.type !== 'textarea').map((f) => field(f))),
    fields.filter((f) => f.type === 'textarea').map((f) => field(f)),
    formError, h('button', {type: 'submit'}, label));
  function field(f) {
    const err = h('div', {class: 'field-error', 'data-error-for': f.name});
    boxes.set(f.name, err);
    return h('label', {class: f.type === 'check' ? 'check' : null}, h('span', {}, f.label ?? f.name), input(f), err);
  }
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    boxes.forEach((b) => clear(b));
    clear(formError);
    const v = values(el, fields);
    // While the request is out the form takes no input: no second submit,
    // and nothing typed meanwhile for the reset below to wipe (the new row
    // may show through the event stream before the answer arrives).
    const controls = [...el.elements].filter((c) => !c.disabled);
    controls.forEach((c) => { c.disabled = true; });
    try {
      await submit(v);
      el.reset();
    } catch (e) {
      const f = fieldOf(e.message || '', fields);
      (f ? boxes.get(f.name) : formError).append(errorBox(e));
    } finally {
      controls.forEach((c) => { c.disabled = false; });
    }
  });
  return el;
}
