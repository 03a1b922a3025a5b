// @ts-check
// The admin portal: sign-in, then one screen per hash route (#/users, #/users/<id>, #/pools,
// #/pools/<id>, #/whitelist, #/audit, #/api-tokens, #/admins, #/account). No framework, no build
// step; the server checks every right.
import { api, setCsrfToken, SIGNED_OUT } from './js/api.js'
import { h, replace } from './js/dom.js'
import { rightsOf } from './js/rights.js'
import { renderLogin } from './js/login.js'
import { renderUsers } from './js/users.js'
import { renderUserDetail } from './js/user-detail.js'
import { renderPools, renderPoolDetail } from './js/pools.js'
import { renderWhitelist } from './js/whitelist.js'
import { renderAudit } from './js/audit.js'
import { renderAccount, renderPasswordRequired } from './js/account.js'
import { renderApiTokens } from './js/api-tokens.js'
import { renderAdmins } from './js/admins.js'

/** @typedef {{ id: string, username: string, displayName: string, role: string, mustChangePassword?: boolean }} Admin */
/**
 * What every screen gets: who is signed in, what they may do, and whether the screen is still
 * the one shown (a slow answer must not draw over the next screen).
 * @typedef {{ admin: Admin, can: (right: string) => boolean, params: URLSearchParams, current: () => boolean, title: (t: string) => void }} Context
 */

const main = /** @type {HTMLElement} */ (document.getElementById('main'))
const nav = /** @type {HTMLElement} */ (document.getElementById('nav'))
const account = /** @type {HTMLElement} */ (document.getElementById('account'))

/** @type {Admin | null} */
let admin = null
let rights = new Set()
let generation = 0

const SECTIONS = [
  { path: 'users', label: 'Users', right: 'users:read' },
  { path: 'pools', label: 'Pools', right: 'policy:read' },
  { path: 'whitelist', label: 'Whitelist', right: 'policy:read' },
  { path: 'audit', label: 'Audit log', right: 'audit:read' },
  { path: 'api-tokens', label: 'API tokens', right: 'api-tokens:manage' },
  { path: 'admins', label: 'Administrators', right: 'admins:manage' },
]

/** @param {string} t */
function setTitle(t) { document.title = `${t} · MobiVisor Messenger admin` }

/** @param {{ admin: Admin, csrfToken: string }} session */
function signedIn(session) {
  admin = session.admin
  rights = rightsOf(admin.role)
  setCsrfToken(session.csrfToken)
  // A handed-out password: no way anywhere but to its replacement (the server refuses the rest).
  const sections = admin.mustChangePassword ? [] : SECTIONS.filter((s) => rights.has(s.right))
  replace(nav, h('ul', {}, sections.map((s) => h('li', {}, h('a', { href: `#/${s.path}`, 'data-section': s.path }, s.label)))))
  nav.hidden = false
  const signOut = h('button', { type: 'button', class: 'button', onclick: () => { void logout() } }, 'Sign out')
  replace(account, h('span', {}, `${admin.displayName || admin.username} · ${admin.role}`),
    admin.mustChangePassword ? null : h('a', { href: '#/account', 'data-section': 'account' }, 'Account'), signOut)
  account.hidden = false
}

function signedOut() {
  admin = null
  rights = new Set()
  setCsrfToken('')
  nav.hidden = true
  account.hidden = true
  replace(nav)
  replace(account)
}

async function logout() {
  try { await api('POST', '/logout') } catch { /* the session is gone either way */ }
  signedOut()
  showLogin('You have signed out.')
}

/** @param {string} [notice] */
function showLogin(notice) {
  generation++
  setTitle('Sign in')
  renderLogin(main, {
    notice,
    onSignedIn: (session) => {
      signedIn(session)
      if (!location.hash || location.hash === '#/' || location.hash === '#') location.hash = '#/users'
      else void route({ focus: true })
    },
  })
}

/** @param {{ focus?: boolean }} [opts] focus: false on the first screen of a page load */
async function route(opts = {}) {
  if (!admin) return
  const mine = ++generation
  const [path = '', search = ''] = location.hash.replace(/^#\/?/, '').split('?')
  const parts = path.split('/').filter(Boolean)
  const section = parts[0] ?? 'users'
  for (const a of [...nav.querySelectorAll('a'), ...account.querySelectorAll('a')]) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
  /** @type {Context} */
  const ctx = { admin, can: (r) => rights.has(r), params: new URLSearchParams(search), current: () => mine === generation, title: setTitle }
  replace(main)
  try {
    if (admin.mustChangePassword) {
      renderPasswordRequired(main, ctx, async () => {
        signedIn(await api('GET', '/me'))
        await route({ focus: true })
      })
    } else if (section === 'users' && parts[1]) await renderUserDetail(main, ctx, decodeURIComponent(parts[1]))
    else if (section === 'users') await renderUsers(main, ctx)
    else if (section === 'pools' && parts[1]) await renderPoolDetail(main, ctx, decodeURIComponent(parts[1]))
    else if (section === 'pools') await renderPools(main, ctx)
    else if (section === 'whitelist') await renderWhitelist(main, ctx)
    else if (section === 'audit') await renderAudit(main, ctx)
    else if (section === 'api-tokens' && rights.has('api-tokens:manage')) await renderApiTokens(main, ctx)
    else if (section === 'admins' && rights.has('admins:manage')) await renderAdmins(main, ctx)
    else if (section === 'account') await renderAccount(main, ctx)
    else {
      setTitle('Not found')
      replace(main, h('h1', { tabindex: '-1' }, 'Not found'), h('p', {}, h('a', { href: '#/users' }, 'Go to the users')))
    }
  } catch (err) {
    if (!ctx.current() || !admin) return
    replace(main, h('h1', { tabindex: '-1' }, 'Something went wrong'), h('div', { class: 'alert error', role: 'alert' }, err instanceof Error ? err.message : String(err)))
  }
  // Move focus to the new screen's heading so keyboard and screen-reader users start there: after a
  // link, after signing in, and when the control that had the focus went with the old screen
  // (else it would fall to <body>). A screen that put the focus somewhere itself keeps it.
  const active = document.activeElement
  const placed = active && active !== main && main.contains(active)
  if (ctx.current() && opts.focus !== false && !placed) main.querySelector('h1')?.focus()
}

window.addEventListener('hashchange', () => { void route() })
window.addEventListener(SIGNED_OUT, () => {
  if (!admin) return
  signedOut()
  showLogin('Your session has ended. Please sign in again.')
})

async function start() {
  try {
    signedIn(await api('GET', '/me'))
    if (!location.hash || location.hash === '#/') history.replaceState(null, '', '#/users')
    await route({ focus: false })
  } catch {
    signedOut()
    showLogin()
  }
}
void start()
