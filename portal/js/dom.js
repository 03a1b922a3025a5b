// @ts-check
// Building the page without HTML strings: every piece of server data goes in as text, so nothing
// a user or an attacker typed can become markup.

/** @typedef {string | number | Node | null | undefined | false} Child */

/**
 * An element with attributes, `on…` listeners and children (strings become text nodes).
 * `value` is set as a property after the children, so a <select> picks its option.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [props]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false || key === 'value') continue
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), /** @type {EventListener} */ (value))
    else el.setAttribute(key, value === true ? '' : String(value))
  }
  append(el, children)
  if (props.value !== undefined && props.value !== null) /** @type {HTMLInputElement} */ (/** @type {unknown} */ (el)).value = String(props.value)
  return el
}

/**
 * @param {Node} parent
 * @param {(Child | Child[])[]} children
 */
export function append(parent, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)))
  }
}

/** @param {Node} el @param {...(Child | Child[])} children */
export function replace(el, ...children) {
  while (el.firstChild) el.removeChild(el.firstChild)
  append(el, children)
}

let uid = 0
/** A fresh element id for label/aria links. @param {string} prefix */
export function id(prefix) { return `${prefix}-${++uid}` }

/**
 * A labelled form control.
 * @param {string} label
 * @param {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} control
 * @param {string} [hint]
 */
export function field(label, control, hint) {
  if (!control.id) control.id = id('f')
  const hintEl = hint ? h('span', { class: 'hint', id: id('hint') }, hint) : null
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id)
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl)
}

/**
 * @param {string} name
 * @param {[string, string][]} options value and label
 * @param {string} [value]
 */
export function select(name, options, value = '') {
  const known = options.some(([v]) => v === value)
  return h('select', { name, value: known ? value : undefined }, options.map(([v, label]) => h('option', { value: v }, label)))
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

/** A <time> for an ISO timestamp, or a dash. @param {string | null | undefined} iso @param {string} [none] */
export function time(iso, none = '—') {
  if (!iso) return h('span', { class: 'muted' }, none)
  return h('time', { datetime: iso, title: iso }, dateTime.format(new Date(iso)))
}

/** @param {string} status */
export function badge(status) {
  return h('span', { class: `badge ${status.replace(/[^a-z_]/g, '')}` }, status.replace('_', ' '))
}

/** @param {string | null | undefined} value */
export function text(value) {
  return value === null || value === undefined || value === '' ? h('span', { class: 'muted' }, '—') : value
}

/**
 * A table with column headers; `rows` empty shows `emptyText`.
 * @param {{ caption: string, captionHidden?: boolean, columns: (string | { label: string, class?: string, hidden?: boolean, node?: Node })[], rows: HTMLTableRowElement[], emptyText?: string }} spec
 */
export function table(spec) {
  const head = h('tr', {}, spec.columns.map((c) => {
    const col = typeof c === 'string' ? { label: c } : c
    return h('th', { scope: 'col', class: col.class }, col.node ?? (col.hidden ? h('span', { class: 'visually-hidden' }, col.label) : col.label))
  }))
  const body = h('tbody', {}, spec.rows)
  const tableEl = h('table', {}, h('caption', { class: spec.captionHidden ? 'visually-hidden' : undefined }, spec.caption), h('thead', {}, head), body)
  const wrap = h('div', { class: 'table-wrap' }, tableEl)
  if (spec.rows.length === 0) wrap.appendChild(h('p', { class: 'empty' }, spec.emptyText ?? 'Nothing to show.'))
  return wrap
}

/**
 * A table row; the cell at `header` (true: the first) is the row's header.
 * @param {(Child | Child[] | { cell: Child | Child[], class?: string })[]} cells @param {{ header?: boolean | number, class?: string }} [opts]
 */
export function row(cells, opts = {}) {
  const headerAt = opts.header === true ? 0 : opts.header === false ? -1 : opts.header ?? -1
  return h('tr', { class: opts.class }, cells.map((c, i) => {
    const spec = c !== null && typeof c === 'object' && 'cell' in c ? c : { cell: c, class: undefined }
    return i === headerAt ? h('th', { scope: 'row', class: spec.class }, spec.cell) : h('td', { class: spec.class }, spec.cell)
  }))
}

/** Says `message` to screen readers through the page's polite live region. @param {string} message */
export function announce(message) {
  const el = document.getElementById('announcer')
  if (!el) return
  el.textContent = ''
  setTimeout(() => { el.textContent = message }, 50)
}

/** An error or success box that screen readers read out when it changes. @param {'error' | 'success' | 'info'} kind */
export function alertBox(kind = 'error') {
  return h('div', { class: `alert ${kind}`, role: kind === 'error' ? 'alert' : 'status' })
}

/**
 * A copy button for a read-only input, and the line that says what it did: the text is selected
 * either way, so where the clipboard is refused Ctrl+C still works.
 * @param {HTMLInputElement} input @param {string} label
 */
export function copyActions(input, label) {
  const copied = h('span', { role: 'status', class: 'muted' })
  const copy = h('button', {
    type: 'button',
    onclick: async () => {
      input.select()
      try { await navigator.clipboard.writeText(input.value); copied.textContent = 'Copied.' } catch { copied.textContent = 'Selected: press Ctrl+C to copy.' }
    },
  }, label)
  return h('div', { class: 'actions' }, copy, copied)
}

/**
 * A secret shown once (a generated password, an API token): read-only, selectable, with a copy
 * button. The caller says where it goes and why it is shown only now.
 * @param {{ label: string, value: string, copy: string, note: Child | Child[] }} spec
 */
export function secretField(spec) {
  const input = h('input', { type: 'text', readonly: true, value: spec.value, class: 'mono', autocomplete: 'off', spellcheck: 'false' })
  return h('div', { class: 'secret' }, field(spec.label, input), copyActions(input, spec.copy), h('p', { class: 'muted' }, spec.note))
}

/**
 * An SVG from the server (a QR code) shown through an <img> from a blob URL: drawn, never parsed
 * into the page. @param {string} svg @param {string} alt
 */
export function svgImage(svg, alt) {
  const src = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }))
  return h('img', { src, alt, width: 180, height: 180 })
}

/** Shows an error's message in an alert box. @param {HTMLElement} box @param {unknown} err */
export function showError(box, err) {
  box.className = 'alert error'
  box.setAttribute('role', 'alert')
  box.textContent = err instanceof Error ? err.message : String(err)
}

/** @param {HTMLElement} box @param {string} message @param {'success' | 'info'} [kind] */
export function showMessage(box, message, kind = 'success') {
  box.className = `alert ${kind}`
  box.setAttribute('role', 'status')
  box.textContent = message
}

/**
 * A modal question; resolves true when confirmed. Escape or Cancel resolve false. `controls`
 * (fields, a checkbox) go between the text and the buttons; the caller reads them afterwards.
 * @param {{ title: string, body: (Child | Child[])[], confirm: string, danger?: boolean, controls?: Node[] }} spec
 * @returns {Promise<boolean>}
 */
export function confirmDialog(spec) {
  return new Promise((resolve) => {
    const titleId = id('dlg')
    const dialog = h('dialog', { 'aria-labelledby': titleId },
      h('h2', { id: titleId }, spec.title),
      ...spec.body.filter((b) => b !== null && b !== undefined && b !== false).map((b) => h('p', {}, b)),
      ...(spec.controls ?? []),
      h('form', { method: 'dialog', class: 'form-actions' },
        h('button', { value: 'confirm', class: spec.danger ? 'danger solid' : 'primary' }, spec.confirm),
        h('button', { value: 'cancel', autofocus: true }, 'Cancel')))
    dialog.addEventListener('close', () => { dialog.remove(); resolve(dialog.returnValue === 'confirm') })
    document.body.appendChild(dialog)
    dialog.showModal()
  })
}

/**
 * A modal asking for one line of text; resolves it, or null when cancelled.
 * @param {{ title: string, label: string, value?: string, confirm: string, maxLength?: number }} spec
 * @returns {Promise<string | null>}
 */
export function promptDialog(spec) {
  return new Promise((resolve) => {
    const titleId = id('dlg')
    const input = h('input', { type: 'text', required: true, maxlength: spec.maxLength ?? 128, value: spec.value ?? '', autofocus: true })
    const form = h('form', { method: 'dialog' }, field(spec.label, input),
      h('div', { class: 'form-actions' }, h('button', { value: 'confirm', class: 'primary' }, spec.confirm), h('button', { value: 'cancel', formnovalidate: true }, 'Cancel')))
    const dialog = h('dialog', { 'aria-labelledby': titleId }, h('h2', { id: titleId }, spec.title), form)
    dialog.addEventListener('close', () => { dialog.remove(); resolve(dialog.returnValue === 'confirm' ? input.value.trim() : null) })
    document.body.appendChild(dialog)
    dialog.showModal()
  })
}

/** Disables a button while `work` runs. @template T @param {HTMLButtonElement} button @param {() => Promise<T>} work */
export async function busy(button, work) {
  button.disabled = true
  button.setAttribute('aria-busy', 'true')
  try { return await work() } finally { button.disabled = false; button.removeAttribute('aria-busy') }
}

/** `datetime-local` value (local time) to ISO-8601 UTC, or '' when empty. @param {string} local */
export function localToIso(local) {
  if (!local) return ''
  const d = new Date(local)
  return Number.isNaN(d.getTime()) ? '' : d.toISOString()
}

/** ISO-8601 to a `datetime-local` value in local time. @param {string} iso */
export function isoToLocal(iso) {
  if (!iso) return ''
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return ''
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`
}
