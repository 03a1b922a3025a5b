// @ts-check
// The signed-in administrator's own account: change the password, and set up two-factor sign-in
// (TOTP: a secret for an authenticator app, shown as a QR code, turned on with a first code).
import { api, ApiError } from './api.js'
import { alertBox, busy, field, h, replace, showError, showMessage, svgImage } from './dom.js'

/** @param {HTMLElement} main @param {import('../app.js').Context} ctx */
export async function renderAccount(main, ctx) {
  ctx.title('Your account')
  /** @type {{ admin: any }} */
  const { admin } = await api('GET', '/me')
  if (!ctx.current()) return

  const facts = h('dl', { class: 'facts' },
    h('dt', {}, 'Username'), h('dd', {}, admin.username),
    h('dt', {}, 'Name'), h('dd', {}, admin.displayName || admin.username),
    h('dt', {}, 'Role'), h('dd', {}, admin.role))

  const passwordForm = passwordChangeForm(admin.username, {
    done: 'Password changed. Your other sessions have ended; this one continues.',
  })

  // --- two-factor sign-in ------------------------------------------------------------------------
  const totpArea = h('div')
  const totpMessage = alertBox()
  totpMessage.tabIndex = -1

  function drawEnabled() {
    replace(totpArea,
      h('p', {}, 'On: signing in asks for a code from your authenticator app.'),
      h('p', { class: 'muted' }, 'To turn it off (for instance after losing the phone), an owner resets your password with “Also remove two-factor sign-in” under Administrators; there is no way to turn it off yourself.'))
  }

  function drawOff() {
    const start = h('button', { type: 'button', class: 'primary' }, 'Set up two-factor sign-in')
    start.addEventListener('click', () => busy(start, async () => {
      try {
        drawSetup(await api('POST', '/me/totp'))
      } catch (err) {
        if (err instanceof ApiError && err.code === 'MVM_ADMIN_TOTP_ENABLED') { drawEnabled(); return }
        showError(totpMessage, err)
      }
    }))
    replace(totpArea, h('p', {}, 'Off: signing in needs only your password. With it on, it also needs a 6-digit code from an authenticator app on your phone.'), start)
  }

  /** @param {{ secret: string, otpauthUri: string, qrSvg: string }} setup */
  function drawSetup(setup) {
    const code = h('input', { type: 'text', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxlength: 6, required: true, spellcheck: 'false' })
    const enable = h('button', { type: 'submit', class: 'primary' }, 'Turn on')
    const title = h('h3', { tabindex: '-1' }, 'Scan the code with your authenticator app')
    const form = h('form', { class: 'form-row' }, field('Code from the app', code, 'The 6 digits it shows now'), enable)
    form.addEventListener('submit', async (e) => {
      e.preventDefault()
      let done = false
      await busy(enable, async () => {
        try {
          await api('POST', '/me/totp/enable', { code: code.value.trim() })
          done = true
        } catch (err) {
          if (err instanceof ApiError && err.code === 'MVM_ADMIN_TOTP_NOT_STARTED') {
            showError(totpMessage, 'The setup has expired (it lasts 10 minutes). Please start again.')
            drawOff()
            return
          }
          showError(totpMessage, err instanceof ApiError && err.code === 'MVM_ADMIN_TOTP_INVALID' ? 'That code is wrong. Check the time on your phone and enter the code it shows now.' : err)
        }
      })
      if (done) {
        drawEnabled()
        showMessage(totpMessage, 'Two-factor sign-in is on. From your next sign-in, the portal asks for a code.')
        totpMessage.focus()
      } else if (code.isConnected) {
        code.value = ''
        code.focus()
      } else totpMessage.focus()
    })
    replace(totpArea,
      title,
      h('div', { class: 'enrollment' },
        svgImage(setup.qrSvg, 'QR code of the two-factor secret for your authenticator app'),
        h('div', { class: 'enrollment-text' },
          field('Secret (to type in instead of scanning)', h('input', { type: 'text', readonly: true, value: setup.secret, class: 'mono', 'data-testid': 'totp-secret' })),
          field('otpauth URI', h('input', { type: 'text', readonly: true, value: setup.otpauthUri, class: 'mono' })),
          h('p', { class: 'muted' }, 'Keep the secret to yourself. The setup lasts 10 minutes; then enter the code the app shows.'),
          form)))
    title.focus()
  }

  if (admin.totpEnabled) drawEnabled()
  else drawOff()

  replace(main,
    h('h1', { tabindex: '-1' }, 'Your account'),
    h('div', { class: 'columns' },
      h('section', { class: 'card', 'aria-labelledby': 'me-title' }, h('h2', { id: 'me-title' }, 'You'), facts),
      h('section', { class: 'card', 'aria-labelledby': 'password-title' }, h('h2', { id: 'password-title' }, 'Password'), passwordForm)),
    h('section', { class: 'card', 'aria-labelledby': 'totp-title' }, h('h2', { id: 'totp-title' }, 'Two-factor sign-in'), totpMessage, totpArea))
}

/**
 * The form that changes the own password: the current one, the new one twice. `onChanged` runs
 * after the server took it; without it the form says `done` and stays.
 * @param {string} username for password managers: which account the new password belongs to
 * @param {{ done: string, submitLabel?: string, onChanged?: () => Promise<void> }} opts
 */
function passwordChangeForm(username, opts) {
  const current = h('input', { type: 'password', name: 'currentPassword', autocomplete: 'current-password', required: true, maxlength: 256 })
  const next = h('input', { type: 'password', name: 'newPassword', autocomplete: 'new-password', required: true, minlength: 12, maxlength: 256 })
  const repeat = h('input', { type: 'password', name: 'repeatPassword', autocomplete: 'new-password', required: true, minlength: 12, maxlength: 256 })
  const passwordMessage = alertBox()
  passwordMessage.tabIndex = -1
  const change = h('button', { type: 'submit', class: 'primary' }, opts.submitLabel ?? 'Change password')
  const form = h('form', { 'aria-labelledby': 'password-title' },
    h('input', { type: 'text', name: 'username', autocomplete: 'username', value: username, readonly: true, hidden: true }),
    field('Current password', current), field('New password', next, 'At least 12 characters'), field('New password again', repeat),
    passwordMessage, h('div', { class: 'form-actions' }, change))
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    if (next.value !== repeat.value) {
      showError(passwordMessage, 'The two new passwords differ.')
      repeat.focus()
      return
    }
    /** @type {HTMLInputElement | HTMLElement} */
    let focusOn = passwordMessage
    let changed = false
    await busy(change, async () => {
      try {
        await api('POST', '/me/password', { currentPassword: current.value, newPassword: next.value })
        current.value = next.value = repeat.value = ''
        changed = true
      } catch (err) {
        const code = err instanceof ApiError ? err.code : ''
        showError(passwordMessage, code === 'MVM_ADMIN_PASSWORD_WRONG' ? 'The current password is wrong.'
          : code === 'MVM_ADMIN_PASSWORD_UNCHANGED' ? 'Choose a new password: not the one you were given.' : err)
        if (code === 'MVM_ADMIN_PASSWORD_WRONG') { current.value = ''; focusOn = current }
        if (code === 'MVM_ADMIN_PASSWORD_WEAK' || code === 'MVM_ADMIN_PASSWORD_UNCHANGED') focusOn = next
      }
    })
    if (changed && opts.onChanged) return opts.onChanged()
    if (changed) showMessage(passwordMessage, opts.done)
    focusOn.focus()
  })
  return form
}

/**
 * Shown instead of every screen while the password is one that was handed out (a new account, a
 * reset): the server answers nothing else until it is changed.
 * @param {HTMLElement} main @param {import('../app.js').Context} ctx @param {() => Promise<void>} onChanged
 */
export function renderPasswordRequired(main, ctx, onChanged) {
  ctx.title('Choose your password')
  const form = passwordChangeForm(ctx.admin.username, { done: 'Password changed.', submitLabel: 'Save my password', onChanged })
  replace(main, h('section', { class: 'login', 'aria-labelledby': 'password-title' },
    h('div', { class: 'card' },
      h('h1', { id: 'password-title', tabindex: '-1' }, 'Choose your own password'),
      h('p', {}, 'The password you signed in with was generated for you: by another administrator, or printed when the messenger was first started. Before anything else, replace it with one that only you know.'),
      form)))
}
