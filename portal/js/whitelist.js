// @ts-check
// The whitelist: the organisation's mode and the entries by user, team or business area.
import { api } from './api.js'
import { alertBox, busy, field, h, replace, row, select, showError, showMessage, table, time } from './dom.js'
import { findUser } from './pools.js'

const KINDS = /** @type {[string, string][]} */ ([['user', 'User'], ['team', 'Team'], ['business_area', 'Business area']])

/** @param {HTMLElement} main @param {import('../app.js').Context} ctx */
export async function renderWhitelist(main, ctx) {
  ctx.title('Whitelist')
  const manage = ctx.can('policy:manage')
  const [{ mode }, { entries: initial }] = await Promise.all([api('GET', '/whitelist/mode'), api('GET', '/whitelist/entries')])
  if (!ctx.current()) return
  const message = alertBox()
  const list = h('div')

  // --- mode ----------------------------------------------------------------------------------------
  const radios = [
    ['all', 'Everyone may enroll and connect'],
    ['whitelist', 'Only whitelisted users (by user, team or business area) may enroll and connect'],
  ].map(([value, label]) => {
    const input = h('input', { type: 'radio', name: 'mode', value, checked: mode === value, disabled: !manage })
    return h('label', { class: 'radio' }, input, label)
  })
  const saveMode = h('button', { type: 'submit', class: 'primary' }, 'Save mode')
  const modeForm = h('form', { class: 'card' },
    h('fieldset', {}, h('legend', {}, 'Mode'), radios),
    manage ? h('div', { class: 'form-actions' }, saveMode) : null)
  modeForm.addEventListener('submit', (e) => {
    e.preventDefault()
    const chosen = /** @type {HTMLInputElement | null} */ (modeForm.querySelector('input[name=mode]:checked'))
    if (!chosen) return
    void busy(saveMode, async () => {
      try {
        const res = await api('PUT', '/whitelist/mode', { mode: chosen.value })
        showMessage(message, `Mode saved: ${res.mode === 'all' ? 'everyone' : 'whitelisted users only'}. It applies from the next enrollment or connection.`)
      } catch (err) { showError(message, err) }
    })
  })

  // --- entries ---------------------------------------------------------------------------------
  /** @param {any[]} entries */
  function draw(entries) {
    replace(list, table({
      caption: 'Whitelist entries by kind and value',
      columns: ['Kind', 'Value', 'Added', ...(manage ? [{ label: 'Actions', hidden: true }] : [])],
      rows: entries.map((entry) => {
        const value = entry.kind === 'user' ? userCell(entry.value) : entry.value
        return row([
          KINDS.find(([k]) => k === entry.kind)?.[1] ?? entry.kind, value, time(entry.createdAt),
          ...(manage ? [h('button', { type: 'button', class: 'danger', onclick: () => remove(entry) }, 'Remove', h('span', { class: 'visually-hidden' }, ` ${entry.kind} ${entry.value}`))] : []),
        ], { header: true })
      }),
      emptyText: 'No entries. With the mode “whitelisted users only”, nobody could connect.',
    }))
  }
  async function reload() {
    const { entries } = await api('GET', '/whitelist/entries')
    if (ctx.current()) draw(entries)
  }
  /** @param {any} entry */
  async function remove(entry) {
    try {
      await api('DELETE', `/whitelist/entries/${entry.id}`)
      showMessage(message, 'Entry removed.')
      await reload()
    } catch (err) { showError(message, err) }
  }

  let add = null
  if (manage) {
    const kind = select('kind', KINDS)
    const value = h('input', { type: 'text', name: 'value', required: true, maxlength: 128, spellcheck: 'false' })
    const valueField = field('Username', value)
    const label = /** @type {HTMLLabelElement} */ (valueField.querySelector('label'))
    kind.addEventListener('change', () => { label.textContent = kind.value === 'user' ? 'Username' : kind.value === 'team' ? 'Team' : 'Business area' })
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Add entry')
    add = h('form', { class: 'card', 'aria-labelledby': 'add-entry-title' },
      h('h2', { id: 'add-entry-title' }, 'Add an entry'), h('div', { class: 'form-row' }, field('Kind', kind), valueField, submit))
    add.addEventListener('submit', (e) => {
      e.preventDefault()
      void busy(submit, async () => {
        try {
          const v = kind.value === 'user' ? (await findUser(value.value.trim())).id : value.value.trim()
          await api('POST', '/whitelist/entries', { kind: kind.value, value: v })
          value.value = ''
          showMessage(message, 'Entry added.')
          await reload()
        } catch (err) { showError(message, err) }
      })
    })
  }

  replace(main, h('h1', { tabindex: '-1' }, 'Whitelist'), message, modeForm, add, list)
  draw(initial)
}

/** A whitelisted user by name (looked up after drawing), linking to the user. @param {string} userId */
function userCell(userId) {
  const link = h('a', { href: `#/users/${userId}` }, h('code', {}, userId))
  api('GET', `/users/${userId}`).then((d) => { replace(link, d.user.username) }, () => { /* the id stays */ })
  return link
}
