// @ts-check
// The users table: the contract's filters (kept in the address, so back and reload keep them),
// cursor paging, selection by row, by page or by the whole filter, and bulk actions.
import { api, ApiError, query } from './api.js'
import { alertBox, badge, busy, field, h, id, isoToLocal, localToIso, replace, row, select, showError, table, text, time, announce } from './dom.js'
import { BULK_ACTIONS } from './rights.js'
import { runBulk } from './bulk.js'
import { enrollmentView } from './enrollment.js'

const PAGE = 50
const FILTER_KEYS = ['q', 'status', 'pool', 'team', 'businessArea', 'whitelisted', 'lastSeenAfter', 'lastSeenBefore']
const STATUSES = /** @type {[string, string][]} */ ([['', 'Any status'], ['invited', 'Invited'], ['active', 'Active'], ['locked', 'Locked'], ['offboarded', 'Offboarded']])

/** @param {HTMLElement} main @param {import('../app.js').Context} ctx */
export async function renderUsers(main, ctx) {
  ctx.title('Users')
  /** @type {Record<string, string>} */
  const filter = {}
  for (const key of FILTER_KEYS) {
    const v = ctx.params.get(key)
    if (v) filter[key] = v
  }
  /** @type {{ id: string, name: string }[]} */
  const pools = ctx.can('policy:read') ? (await api('GET', '/pools')).pools : []
  if (!ctx.current()) return

  const error = alertBox()
  const bulkArea = h('div', { id: 'bulk-area' })
  const actions = BULK_ACTIONS.filter((a) => ctx.can(a.right))
  const canBulk = actions.length > 0

  // --- filters -------------------------------------------------------------------------------
  const f = {
    q: h('input', { type: 'search', name: 'q', maxlength: 128, value: filter.q ?? '', placeholder: 'Username or name' }),
    status: select('status', STATUSES, filter.status),
    team: h('input', { type: 'text', name: 'team', maxlength: 128, value: filter.team ?? '' }),
    businessArea: h('input', { type: 'text', name: 'businessArea', maxlength: 128, value: filter.businessArea ?? '' }),
    pool: select('pool', [['', 'Any pool'], ...pools.map((p) => /** @type {[string, string]} */ ([p.id, p.name]))], filter.pool),
    whitelisted: select('whitelisted', [['', 'Either'], ['true', 'Whitelisted'], ['false', 'Not whitelisted']], filter.whitelisted),
    lastSeenAfter: h('input', { type: 'datetime-local', name: 'lastSeenAfter', value: isoToLocal(filter.lastSeenAfter ?? '') }),
    lastSeenBefore: h('input', { type: 'datetime-local', name: 'lastSeenBefore', value: isoToLocal(filter.lastSeenBefore ?? '') }),
  }
  const filterForm = h('form', { class: 'card', role: 'search', 'aria-label': 'Filter users' },
    h('div', { class: 'grid' },
      field('Search', f.q), field('Status', f.status), field('Team', f.team), field('Business area', f.businessArea),
      ctx.can('policy:read') ? field('Pool', f.pool) : null, field('Whitelist', f.whitelisted),
      field('Last seen after', f.lastSeenAfter), field('Last seen before', f.lastSeenBefore)),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply filter'),
      h('button', { type: 'button', onclick: () => { location.hash = '#/users' } }, 'Clear filter')))
  filterForm.addEventListener('submit', (e) => {
    e.preventDefault()
    const next = {
      q: f.q.value.trim(), status: f.status.value, team: f.team.value.trim(), businessArea: f.businessArea.value.trim(),
      pool: f.pool.value, whitelisted: f.whitelisted.value,
      lastSeenAfter: localToIso(f.lastSeenAfter.value), lastSeenBefore: localToIso(f.lastSeenBefore.value),
    }
    const hash = `#/users${query(next)}`
    if (location.hash === hash) void reload()
    else location.hash = hash
  })

  // --- selection and bulk actions ----------------------------------------------------------------
  /** @type {Map<string, any>} */
  const loaded = new Map()
  const selected = new Set()
  let allMatching = false
  let nextCursor = /** @type {string | null} */ (null)

  const count = h('span', { class: 'count', 'aria-live': 'polite' })
  const selectMatching = h('button', { type: 'button', onclick: () => { allMatching = true; syncChecks() } }, 'Select all users matching the filter')
  const clearSelection = h('button', { type: 'button', onclick: () => { allMatching = false; selected.clear(); syncChecks() } }, 'Clear selection')
  const action = select('action', actions.map((a) => /** @type {[string, string]} */ ([a.action, a.label])))
  const poolChoice = select('poolId', pools.map((p) => /** @type {[string, string]} */ ([p.id, p.name])))
  const poolField = h('div', { class: 'field' }, h('label', { for: poolChoice.id = id('pool') }, 'Pool'), poolChoice)
  const apply = h('button', { type: 'button', class: 'primary' }, 'Apply…')
  const actionField = h('div', { class: 'field' }, h('label', { for: action.id = id('action') }, 'Action'), action)
  const syncPoolField = () => { poolField.hidden = !action.value.startsWith('pool.') }
  action.addEventListener('change', syncPoolField)
  syncPoolField()
  const selectionBar = h('div', { class: 'selection-bar', role: 'region', 'aria-label': 'Bulk actions' },
    count, selectMatching, clearSelection, actionField, poolField, apply)
  if (!canBulk) selectionBar.hidden = true

  apply.addEventListener('click', async () => {
    const n = allMatching ? 0 : selected.size
    if (!allMatching && n === 0) return
    const poolId = action.value.startsWith('pool.') ? poolChoice.value : undefined
    if (action.value.startsWith('pool.') && !poolId) { showError(error, 'Create a pool first.'); return }
    /** @type {import('./bulk.js').BulkRequest} */
    const request = { action: action.value, ...(allMatching ? { filter: bulkFilter(filter) } : { userIds: [...selected] }), ...(poolId ? { poolId } : {}) }
    let who = `${n} selected ${n === 1 ? 'user' : 'users'}`
    if (allMatching) {
      // The question names how many and by which filter, counted now (the list shows one page).
      try {
        const { count: matching } = await busy(apply, () => api('GET', `/users/count${query(filter)}`))
        const users = `${matching.toLocaleString('en')} ${matching === 1 ? 'user' : 'users'}`
        const parts = filterParts(filter, pools)
        who = parts.length ? `${users} matching: ${parts.join(', ')}` : `all ${users} (no filter)`
      } catch (err) { showError(error, err); return }
    }
    await runBulk(bulkArea, request, {
      who, poolName: pools.find((p) => p.id === poolId)?.name, current: ctx.current,
      onFinished: () => { allMatching = false; selected.clear(); void reload() },
    })
  })

  const pageCheck = h('input', { type: 'checkbox', id: id('all'), 'aria-label': 'Select all users on this page' })
  pageCheck.addEventListener('change', () => {
    if (pageCheck.checked) for (const uid of loaded.keys()) selected.add(uid)
    else { selected.clear(); allMatching = false }
    syncChecks()
  })

  function syncChecks() {
    for (const box of /** @type {NodeListOf<HTMLInputElement>} */ (tbody.querySelectorAll('input[type=checkbox]'))) {
      box.checked = allMatching || selected.has(box.value)
      box.closest('tr')?.classList.toggle('selected', box.checked)
    }
    pageCheck.checked = loaded.size > 0 && (allMatching || [...loaded.keys()].every((k) => selected.has(k)))
    pageCheck.indeterminate = !pageCheck.checked && selected.size > 0
    count.textContent = allMatching ? 'All users matching the filter are selected' : `${selected.size} selected`
    selectMatching.hidden = allMatching || loaded.size === 0
    clearSelection.hidden = !allMatching && selected.size === 0
    apply.disabled = !allMatching && selected.size === 0
  }

  // --- the table -------------------------------------------------------------------------------
  const tbody = h('tbody')
  const more = h('button', { type: 'button' }, 'Load more')
  const shown = h('span', { 'aria-live': 'polite' })
  const columns = [
    ...(canBulk ? [{ label: 'Select', class: 'check', node: pageCheck }] : []),
    'Username', 'Name', 'Team', 'Business area', 'Status', { label: 'Devices', class: 'num' }, 'Last seen',
  ]
  const tableWrap = table({ caption: describeFilter(filter, pools), columns, rows: [] })
  tableWrap.querySelector('tbody')?.replaceWith(tbody)
  const empty = tableWrap.querySelector('.empty')
  if (empty) empty.textContent = 'No users match the filter.'

  /** @param {any} u */
  function userRow(u) {
    const check = h('input', { type: 'checkbox', value: u.id, 'aria-label': `Select ${u.username}` })
    check.addEventListener('change', () => {
      if (allMatching) { allMatching = false; for (const k of loaded.keys()) selected.add(k) }
      if (check.checked) selected.add(u.id)
      else selected.delete(u.id)
      syncChecks()
    })
    return row([
      ...(canBulk ? [{ cell: check, class: 'check' }] : []),
      h('a', { href: `#/users/${u.id}` }, u.username), text(u.displayName), text(u.team), text(u.businessArea),
      badge(u.status), { cell: String(u.devices), class: 'num' }, time(u.lastSeenAt, 'never'),
    ], { header: canBulk ? 1 : 0 })
  }
  /** @param {string | null} cursor */
  async function load(cursor) {
    const page = await api('GET', `/users${query({ ...filter, limit: PAGE, cursor })}`)
    if (!ctx.current()) return
    for (const u of page.users) {
      loaded.set(u.id, u)
      tbody.append(userRow(u))
    }
    nextCursor = page.nextCursor
    more.hidden = !nextCursor
    if (empty) /** @type {HTMLElement} */ (empty).hidden = loaded.size > 0
    shown.textContent = `Showing ${loaded.size} ${loaded.size === 1 ? 'user' : 'users'}${nextCursor ? ' (more available)' : ''}.`
    syncChecks()
  }

  async function reload() {
    loaded.clear()
    replace(tbody)
    error.textContent = ''
    try { await load(null) } catch (err) { showError(error, err) }
  }

  more.addEventListener('click', () => busy(more, async () => {
    try {
      const before = loaded.size
      await load(nextCursor)
      announce(`${loaded.size - before} more users loaded.`)
    } catch (err) { showError(error, err) }
  }))

  const invite = ctx.can('users:invite') ? h('button', { type: 'button', class: 'primary', onclick: () => { void inviteDialog(reload) } }, 'Invite user') : null
  replace(main,
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Users'), h('div', { class: 'actions' }, invite)),
    filterForm, error, canBulk ? selectionBar : null, bulkArea, tableWrap, h('div', { class: 'table-foot' }, shown, more))
  try { await load(null) } catch (err) { showError(error, err) }
}

/** The filter as the bulk API takes it: `whitelisted` as a boolean. @param {Record<string, string>} filter */
function bulkFilter(filter) {
  /** @type {Record<string, string | boolean>} */
  const out = {}
  for (const [k, v] of Object.entries(filter)) out[k] = k === 'whitelisted' ? v === 'true' : v
  return out
}

/** The filter in words, one part a condition. @param {Record<string, string>} filter @param {{ id: string, name: string }[]} pools */
function filterParts(filter, pools) {
  const parts = []
  if (filter.q) parts.push(`name containing “${filter.q}”`)
  if (filter.team) parts.push(`team ${filter.team}`)
  if (filter.businessArea) parts.push(`business area ${filter.businessArea}`)
  if (filter.pool) parts.push(`in pool ${pools.find((p) => p.id === filter.pool)?.name ?? filter.pool}`)
  if (filter.status) parts.push(`status ${filter.status}`)
  if (filter.whitelisted) parts.push(filter.whitelisted === 'true' ? 'whitelisted' : 'not whitelisted')
  if (filter.lastSeenAfter) parts.push(`seen since ${new Date(filter.lastSeenAfter).toLocaleString()}`)
  if (filter.lastSeenBefore) parts.push(`not seen since ${new Date(filter.lastSeenBefore).toLocaleString()}`)
  return parts
}

/** @param {Record<string, string>} filter @param {{ id: string, name: string }[]} pools */
function describeFilter(filter, pools) {
  const parts = filterParts(filter, pools)
  return parts.length ? `Users, ${parts.join(', ')}` : 'All users'
}

/** Invite one user: a form, then the enrollment link and QR code. @param {() => Promise<void>} onDone */
async function inviteDialog(onDone) {
  const titleId = id('dlg')
  const fields = {
    username: h('input', { type: 'text', name: 'username', required: true, maxlength: 64, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' }),
    displayName: h('input', { type: 'text', name: 'displayName', maxlength: 128 }),
    email: h('input', { type: 'email', name: 'email', maxlength: 254 }),
    team: h('input', { type: 'text', name: 'team', maxlength: 128 }),
    businessArea: h('input', { type: 'text', name: 'businessArea', maxlength: 128 }),
  }
  const error = alertBox()
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Invite')
  const cancel = h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel')
  const form = h('form', {},
    field('Username', fields.username, 'Letters, digits, . - _; no phone numbers'), field('Display name', fields.displayName),
    field('E-mail', fields.email), field('Team', fields.team), field('Business area', fields.businessArea),
    error, h('div', { class: 'form-actions' }, submit, cancel))
  const dialog = h('dialog', { 'aria-labelledby': titleId }, h('h2', { id: titleId }, 'Invite a user'), form)
  error.id = id('invite-error')
  error.tabIndex = -1
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    for (const input of Object.values(fields)) { input.removeAttribute('aria-invalid'); input.removeAttribute('aria-errormessage') }
    /** @type {Record<string, string>} */
    const body = {}
    for (const [k, input] of Object.entries(fields)) if (input.value.trim()) body[k] = input.value.trim()
    /** @type {unknown} */
    let failure = null
    await busy(submit, async () => {
      try {
        const res = await api('POST', '/users', body)
        const done = h('button', { type: 'button', class: 'primary', onclick: () => dialog.close() }, 'Done')
        replace(dialog, h('h2', { id: titleId }, `${res.user.username} is invited`), enrollmentView(res.enrollment, res.user.username), h('div', { class: 'form-actions' }, done))
        done.focus()
        void onDone()
      } catch (err) { failure = err; showError(error, err) }
    })
    if (!failure) return
    // The submit button was disabled while waiting, which drops the focus: put it where the problem is.
    const culprit = offendingField(failure, fields)
    if (culprit) {
      culprit.setAttribute('aria-invalid', 'true')
      culprit.setAttribute('aria-errormessage', error.id)
      culprit.focus()
    } else error.focus()
  })
  dialog.addEventListener('close', () => dialog.remove())
  document.body.appendChild(dialog)
  dialog.showModal()
  fields.username.focus()
}

/**
 * The invite field a refusal is about: the username for a taken or invalid name, else the field
 * the validation message names (`body/email must match…`); null when it names none.
 * @param {unknown} err @param {Record<string, HTMLInputElement>} fields
 */
function offendingField(err, fields) {
  if (!(err instanceof ApiError)) return null
  if (err.code === 'MVM_USER_EXISTS' || err.code === 'MVM_USER_NAME_INVALID') return fields.username ?? null
  const named = /\bbody\/(\w+)/.exec(err.message)?.[1] ?? /\b(username|displayName|email|team|businessArea)\b/.exec(err.message)?.[1]
  return named ? fields[named] ?? null : null
}
