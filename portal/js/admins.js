// @ts-check
// Administrators, for owners (docs/admin-api.md §6): the list, a new administrator (its generated
// password shown once), a change of role, disable and enable, and a password reset (optionally
// removing a lost authenticator).
import { api } from './api.js'
import { alertBox, busy, confirmDialog, field, h, id, replace, row, secretField, select, showError, showMessage, table, text, time } from './dom.js'
import { ROLES, ROLES_HINT } from './rights.js'

/** @param {HTMLElement} main @param {import('../app.js').Context} ctx */
export async function renderAdmins(main, ctx) {
  ctx.title('Administrators')
  const message = alertBox()
  message.tabIndex = -1
  const shown = h('div')
  const list = h('div')

  async function load() {
    const { admins } = await api('GET', '/admins')
    if (!ctx.current()) return
    const now = Date.now()
    replace(list, table({
      caption: 'Administrators',
      columns: ['Username', 'Name', 'Role', 'Two-factor', 'State', 'Last sign-in', { label: 'Actions', hidden: true }],
      rows: admins.map((/** @type {any} */ a) => {
        const self = a.id === ctx.admin.id
        const locked = a.lockedUntil && Date.parse(a.lockedUntil) > now
        const state = a.disabled ? 'disabled' : locked ? h('span', {}, 'locked out until ', time(a.lockedUntil)) : 'active'
        const actions = self
          ? h('a', { href: '#/account' }, 'Your account')
          : h('div', { class: 'actions' },
            h('button', { type: 'button', onclick: () => changeRole(a) }, 'Change role…', hidden(a)),
            a.disabled
              ? h('button', { type: 'button', onclick: () => setDisabled(a, false) }, 'Enable', hidden(a))
              : h('button', { type: 'button', class: 'danger', onclick: () => setDisabled(a, true) }, 'Disable', hidden(a)),
            h('button', { type: 'button', class: 'danger', onclick: () => resetPassword(a) }, 'Reset password…', hidden(a)))
        return row([self ? h('span', {}, a.username, h('span', { class: 'muted' }, ' (you)')) : a.username, text(a.displayName), a.role,
          a.totpEnabled ? 'on' : 'off', state, time(a.lastLoginAt, 'never'), actions], { header: true })
      }),
    }))
  }

  /** @param {string} text @param {unknown} [err] */
  function report(text, err) {
    if (err) showError(message, err)
    else showMessage(message, text)
    message.focus()
  }

  /** @param {any} a */
  async function changeRole(a) {
    const choice = select('role', ROLES, a.role)
    choice.id = id('role')
    const ok = await confirmDialog({
      title: `Change the role of ${a.username}`,
      body: ['The new role applies from their next request.', h('span', { class: 'muted' }, ROLES_HINT)],
      controls: [field('Role', choice)],
      confirm: 'Change role',
    })
    if (!ok || choice.value === a.role) return
    try {
      const { admin } = await api('PATCH', `/admins/${a.id}`, { role: choice.value })
      await load()
      report(`${admin.username} is now ${admin.role}.`)
    } catch (err) { report('', err) }
  }

  /** @param {any} a @param {boolean} disabled */
  async function setDisabled(a, disabled) {
    if (disabled) {
      const ok = await confirmDialog({
        title: `Disable ${a.username}?`,
        body: ['Their sessions end at once and their API tokens stop working. You can enable them again later.'],
        confirm: 'Disable', danger: true,
      })
      if (!ok) return
    }
    try {
      await api('PATCH', `/admins/${a.id}`, { disabled })
      await load()
      report(disabled ? `${a.username} is disabled.` : `${a.username} is enabled again.`)
    } catch (err) { report('', err) }
  }

  /** @param {any} a */
  async function resetPassword(a) {
    const resetTotp = h('input', { type: 'checkbox', name: 'resetTotp' })
    const ok = await confirmDialog({
      title: `Reset the password of ${a.username}?`,
      body: ['They get a new generated password, shown to you once; their sessions end and a lock-out after failed sign-ins is lifted.'],
      controls: a.totpEnabled ? [h('label', { class: 'radio' }, resetTotp, 'Also remove two-factor sign-in (a lost authenticator)')] : [],
      confirm: 'Reset password', danger: true,
    })
    if (!ok) return
    try {
      const res = await api('POST', `/admins/${a.id}/password`, resetTotp.checked ? { resetTotp: true } : {})
      showPassword(`New password for ${res.admin.username}`, res.password)
      await load()
    } catch (err) { report('', err) }
  }

  /** @param {string} title @param {string} password */
  function showPassword(title, password) {
    message.textContent = ''
    const heading = h('h2', { tabindex: '-1' }, title)
    replace(shown, h('section', { class: 'card', 'aria-label': title }, heading,
      secretField({
        label: 'Password', value: password, copy: 'Copy password',
        note: 'Shown only now: hand it over in a safe way. They should change it under Account after signing in.',
      })))
    heading.focus()
  }

  // --- a new administrator ---------------------------------------------------------------------
  const username = h('input', { type: 'text', name: 'username', required: true, maxlength: 64, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' })
  const displayName = h('input', { type: 'text', name: 'displayName', maxlength: 128 })
  const role = select('role', ROLES, 'helpdesk')
  const formError = alertBox()
  formError.tabIndex = -1
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Add administrator')
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-admin-title' },
    h('h2', { id: 'new-admin-title' }, 'New administrator'),
    h('div', { class: 'grid' }, field('Username', username), field('Display name', displayName), field('Role', role)),
    h('p', { class: 'hint muted' }, ROLES_HINT),
    formError, h('div', { class: 'form-actions' }, submit))
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    let ok = false
    await busy(submit, async () => {
      try {
        const res = await api('POST', '/admins', { username: username.value.trim(), role: role.value, ...(displayName.value.trim() ? { displayName: displayName.value.trim() } : {}) })
        formError.textContent = ''
        username.value = displayName.value = ''
        showPassword(`${res.admin.username} added as ${res.admin.role}`, res.password)
        ok = true
        await load()
      } catch (err) { showError(formError, err) }
    })
    if (!ok) username.focus()
  })

  replace(main, h('h1', { tabindex: '-1' }, 'Administrators'), message, form, shown, list)
  await load()
}

/** The row's username for screen readers, after a button's visible label. @param {any} a */
function hidden(a) {
  return h('span', { class: 'visually-hidden' }, ` ${a.username}`)
}
