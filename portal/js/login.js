// @ts-check
// Sign-in: username and password, then a TOTP code when the account asks for one.
import { api, ApiError } from './api.js'
import { alertBox, field, h, replace, showError, showMessage } from './dom.js'

/**
 * @param {HTMLElement} main
 * @param {{ notice?: string, onSignedIn: (session: any) => void }} opts
 */
export function renderLogin(main, opts) {
  const username = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true, maxlength: 64, autocapitalize: 'none', spellcheck: 'false' })
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, maxlength: 256 })
  const totp = h('input', { type: 'text', name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxlength: 6 })
  const totpField = field('Authentication code', totp, 'The 6-digit code from your authenticator app')
  totpField.hidden = true
  const message = alertBox()
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in')
  const form = h('form', { 'aria-labelledby': 'login-title' },
    field('Username', username), field('Password', password), totpField, submit)
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    message.textContent = ''
    submit.disabled = true
    try {
      const body = { username: username.value.trim(), password: password.value, ...(totpField.hidden ? {} : { totp: totp.value.trim() }) }
      const session = await api('POST', '/login', body)
      opts.onSignedIn(session)
    } catch (err) {
      if (err instanceof ApiError && err.code === 'MVM_ADMIN_TOTP_REQUIRED') {
        totpField.hidden = false
        totp.required = true
        showMessage(message, 'Enter the code from your authenticator app.', 'info')
        totp.focus()
      } else if (!totpField.hidden) {
        showError(message, err instanceof ApiError ? loginError(err) : err)
        totp.value = ''
        totp.focus()
      } else {
        showError(message, err instanceof ApiError ? loginError(err) : err)
        password.value = ''
        password.focus()
      }
    } finally {
      submit.disabled = false
    }
  })
  replace(main, h('section', { class: 'login', 'aria-labelledby': 'login-title' },
    h('div', { class: 'card' },
      h('h1', { id: 'login-title', tabindex: '-1' }, 'Sign in to the admin portal'),
      opts.notice ? h('div', { class: 'alert info', role: 'status' }, opts.notice) : null,
      message, form)))
  username.focus()
}

/** @param {ApiError} err */
function loginError(err) {
  switch (err.code) {
    case 'MVM_ADMIN_LOGIN_FAILED': return 'Wrong username, password or code.'
    case 'MVM_ADMIN_LOCKED_OUT': return `This account is locked after too many failed sign-ins. ${err.message}`
    case 'MVM_RATE_LIMITED': return 'Too many failed sign-ins. Please wait a few minutes and try again.'
    case 'MVM_REQUEST_INVALID': return 'Please fill in the username and password.'
    default: return err.message
  }
}
