// @ts-check
// API tokens for automation (docs/admin-api.md §2.2, §6): the list, a new token (shown once, with
// a copy button) and revocation. A token never holds more than its creator's role allows, so the
// scopes beyond the signed-in role cannot be chosen.
import { api } from './api.js'
import { alertBox, busy, confirmDialog, field, h, replace, row, secretField, showError, showMessage, table, text, time } from './dom.js'
import { SCOPES } from './rights.js'

/** @param {HTMLElement} main @param {import('../app.js').Context} ctx */
export async function renderApiTokens(main, ctx) {
  ctx.title('API tokens')
  const message = alertBox()
  message.tabIndex = -1
  const created = h('div')
  const list = h('div')

  async function load() {
    const { apiTokens } = await api('GET', '/api-tokens')
    if (!ctx.current()) return
    const now = Date.now()
    replace(list, table({
      caption: 'API tokens, newest first, revoked ones included',
      columns: ['Name', 'Scopes', 'Created by', 'Created', 'Expires', 'Last used', 'State', { label: 'Actions', hidden: true }],
      rows: apiTokens.map((/** @type {any} */ tk) => {
        const expired = tk.expiresAt && Date.parse(tk.expiresAt) <= now
        const state = tk.revokedAt ? h('span', {}, 'revoked ', time(tk.revokedAt)) : expired ? 'expired' : 'active'
        return row([
          tk.name, h('span', {}, tk.scopes.map((/** @type {string} */ s) => h('code', { class: 'scope' }, s))), tk.createdBy.username,
          time(tk.createdAt), time(tk.expiresAt, 'never'), time(tk.lastUsedAt, 'never'), state,
          tk.revokedAt ? text(null) : h('button', { type: 'button', class: 'danger', onclick: () => revoke(tk) }, 'Revoke', h('span', { class: 'visually-hidden' }, ` ${tk.name}`)),
        ], { header: true })
      }),
      emptyText: 'No API tokens yet.',
    }))
  }

  /** @param {any} tk */
  async function revoke(tk) {
    const ok = await confirmDialog({
      title: `Revoke the API token ${tk.name}?`,
      body: ['Every request with it is refused from now on (401), on every gateway. This cannot be undone; issue a new token instead.'],
      confirm: 'Revoke', danger: true,
    })
    if (!ok) return
    try {
      await api('DELETE', `/api-tokens/${tk.id}`)
      showMessage(message, `The API token ${tk.name} is revoked.`)
      await load()
    } catch (err) { showError(message, err) }
    message.focus()
  }

  // --- a new token -----------------------------------------------------------------------------
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 128, placeholder: 'e.g. Directory sync' })
  const days = h('input', { type: 'number', name: 'expiresInDays', min: 1, max: 3650, step: 1, inputmode: 'numeric' })
  const boxes = SCOPES.map((s) => {
    const allowed = s.rights.every((r) => ctx.can(r))
    const box = h('input', { type: 'checkbox', name: 'scope', value: s.scope, disabled: !allowed })
    return { box, label: h('label', { class: 'radio' }, box, h('code', {}, s.scope), ` ${s.label}`, allowed ? null : h('span', { class: 'muted' }, ' (beyond your role)')) }
  })
  const formError = alertBox()
  formError.tabIndex = -1
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create token')
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-token-title' },
    h('h2', { id: 'new-token-title' }, 'New API token'),
    h('div', { class: 'grid' }, field('Name', name, 'What uses it'), field('Expires after (days)', days, 'Empty: never expires. 1–3650')),
    h('fieldset', {}, h('legend', {}, 'Scopes'), boxes.map((b) => b.label)),
    formError, h('div', { class: 'form-actions' }, submit))
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    const scopes = boxes.filter((b) => b.box.checked).map((b) => b.box.value)
    if (scopes.length === 0) {
      showError(formError, 'Choose at least one scope.')
      boxes.find((b) => !b.box.disabled)?.box.focus()
      return
    }
    /** @type {HTMLElement} */
    let focusOn = formError
    await busy(submit, async () => {
      try {
        const res = await api('POST', '/api-tokens', { name: name.value.trim(), scopes, ...(days.value ? { expiresInDays: Number(days.value) } : {}) })
        formError.textContent = ''
        const title = h('h2', { tabindex: '-1' }, `API token ${res.apiToken.name} created`)
        replace(created, h('section', { class: 'card', 'aria-label': 'New API token' }, title,
          secretField({
            label: 'The token', value: res.token, copy: 'Copy token',
            note: ['Shown only now: copy it into the system that uses it, as ', h('code', {}, 'Authorization: Bearer <token>'), '. The gateway keeps only its hash.'],
          })))
        name.value = days.value = ''
        for (const b of boxes) b.box.checked = false
        focusOn = title
        await load()
      } catch (err) { showError(formError, err) }
    })
    focusOn.focus()
  })

  replace(main, h('h1', { tabindex: '-1' }, 'API tokens'),
    h('p', { class: 'muted' }, 'For automation (EMM, directory sync, SIEM). A token holds the rights of its scopes that its creator’s role has at each request; revoked, expired, or with its creator disabled, it stops working.'),
    message, form, created, list)
  await load()
}
