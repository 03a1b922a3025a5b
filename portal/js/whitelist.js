// @ts-check
// The whitelist: the organisation's mode and the entries by user, team or business area.
import { api, query } from './api.js'
import { alertBox, busy, confirmDialog, field, h, replace, row, select, showError, showMessage, table, time } from './dom.js'
import { findUser } from './pools.js'

const KINDS = /** @type {[string, string][]} */ ([['user', 'User'], ['team', 'Team'], ['business_area', 'Business area']])

/** @param {HTMLElement} main @param {import('../app.js').Context} ctx */
export async function renderWhitelist(main, ctx) {
  ctx.title('Whitelist')
  const manage = ctx.can('policy:manage')
  const [{ mode }, { entries: initial }] = await Promise.all([api('GET', '/whitelist/mode'), api('GET', '/whitelist/entries')])
  if (!ctx.current()) return
  const message = alertBox()
  message.tabIndex = -1
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
  let current = mode
  modeForm.addEventListener('submit', async (e) => {
    e.preventDefault()
    const chosen = /** @type {HTMLInputElement | null} */ (modeForm.querySelector('input[name=mode]:checked'))
    if (!chosen) return
    // Switching to "whitelist only" disconnects at once everyone no entry matches (docs §10): say
    // so, and how many active users that is, before doing it.
    if (chosen.value === 'whitelist' && current !== 'whitelist') {
      /** @type {number | null} */
      let affected = null
      try {
        if (ctx.can('users:read')) affected = (await busy(saveMode, () => api('GET', `/users/count${query({ whitelisted: 'false', status: 'active' })}`))).count
      } catch (err) { showError(message, err); return }
      const users = affected === null ? 'Active users no entry matches' : `${affected.toLocaleString('en')} active ${affected === 1 ? 'user' : 'users'} no entry matches`
      const ok = await confirmDialog({
        title: 'Allow only whitelisted users?',
        body: [
          `This takes effect at once. ${users} ${affected === 1 ? 'is' : 'are'} disconnected now, on every gateway, and cannot connect or enroll until an entry matches them.`,
          'Their devices stay enrolled: add an entry for them, or switch back to everyone, and they can sign in again.',
        ],
        confirm: 'Allow only whitelisted users', danger: true,
      })
      if (!ok) {
        // Nothing changed: the choice shows the saved mode again.
        for (const input of /** @type {NodeListOf<HTMLInputElement>} */ (modeForm.querySelectorAll('input[name=mode]'))) input.checked = input.value === current
        saveMode.focus()
        return
      }
    }
    await busy(saveMode, async () => {
      try {
        const res = await api('PUT', '/whitelist/mode', { mode: chosen.value })
        const was = current
        current = res.mode
        showMessage(message, res.mode === 'all'
          ? 'Mode saved: everyone may enroll and connect, from now on.'
          : was === 'whitelist'
            ? 'Mode saved: only whitelisted users may enroll and connect.'
            : 'Mode saved: only whitelisted users may enroll and connect. It applied at once: active users no entry matches were disconnected.')
      } catch (err) { showError(message, err) }
    })
    saveMode.focus()
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
          ...(manage ? [h('button', { type: 'button', class: 'danger', onclick: () => remove(entry, typeof value === 'string' ? value : value.textContent ?? entry.value) }, 'Remove', h('span', { class: 'visually-hidden' }, ` ${entry.kind} ${entry.value}`))] : []),
        ], { header: true })
      }),
      emptyText: 'No entries. With the mode “whitelisted users only”, nobody could connect.',
    }))
  }
  async function reload() {
    const { entries } = await api('GET', '/whitelist/entries')
    if (ctx.current()) draw(entries)
  }
  /** @param {any} entry @param {string} label what the entry names, as shown */
  async function remove(entry, label) {
    const kind = KINDS.find(([k]) => k === entry.kind)?.[1] ?? entry.kind
    const ok = await confirmDialog({
      title: `Remove the entry ${kind.toLowerCase()} ${label}?`,
      body: [current === 'whitelist'
        ? 'This takes effect at once: users it matched that no other entry matches may be disconnected now, on every gateway, and cannot connect or enroll until an entry matches them again.'
        : 'The mode is “everyone”, so nobody is disconnected now; but if it is switched to “whitelisted users only”, users it matched may be disconnected at once.'],
      confirm: 'Remove entry', danger: true,
    })
    if (!ok) return
    try {
      await api('DELETE', `/whitelist/entries/${entry.id}`)
      showMessage(message, `Entry ${kind.toLowerCase()} ${label} removed.`)
      await reload()
    } catch (err) { showError(message, err) }
    message.focus()
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
