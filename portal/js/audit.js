// @ts-check
// The audit log: filters, paging, export as NDJSON or CSV (a plain download from the API), and
// verification of an exported NDJSON file, which the server checks as it streams in.
import { api, API, query } from './api.js'
import { alertBox, announce, busy, field, h, isoToLocal, localToIso, replace, row, select, showError, showMessage, table, text, time } from './dom.js'

const PAGE = 100
const FILTER_KEYS = ['from', 'to', 'action', 'actorType', 'targetType', 'targetId']
const ACTOR_TYPES = /** @type {[string, string][]} */ ([['', 'Any actor'], ['admin', 'Administrator'], ['api-token', 'API token'], ['device', 'Device'], ['user', 'User'], ['system', 'System']])
const ACTIONS = [
  'admin.login', 'admin.login_failed', 'admin.logout', 'admin.locked_out', 'admin.created', 'admin.updated', 'admin.password_changed',
  'api_token.created', 'api_token.revoked', 'api_token.auth_failed', 'user.created', 'user.updated', 'user.enrollment_token_issued',
  'user.lock', 'user.unlock', 'user.offboard', 'device.enrolled', 'device.auth_failed', 'device.revoked', 'device.wipe_requested',
  'device.wipe_acknowledged', 'pool.created', 'pool.updated', 'pool.deleted', 'policy.updated', 'whitelist.updated',
  'archive.exported', 'audit.exported', 'bulk.started', 'bulk.finished',
]

/** @param {HTMLElement} main @param {import('../app.js').Context} ctx */
export async function renderAudit(main, ctx) {
  ctx.title('Audit log')
  /** @type {Record<string, string>} */
  const filter = {}
  for (const key of FILTER_KEYS) {
    const v = ctx.params.get(key)
    if (v) filter[key] = v
  }
  const error = alertBox()

  // --- filters ---------------------------------------------------------------------------------
  const f = {
    from: h('input', { type: 'datetime-local', name: 'from', value: isoToLocal(filter.from ?? '') }),
    to: h('input', { type: 'datetime-local', name: 'to', value: isoToLocal(filter.to ?? '') }),
    action: h('input', { type: 'text', name: 'action', maxlength: 64, list: 'audit-actions', value: filter.action ?? '', spellcheck: 'false' }),
    actorType: select('actorType', ACTOR_TYPES, filter.actorType),
    targetType: h('input', { type: 'text', name: 'targetType', maxlength: 32, value: filter.targetType ?? '', spellcheck: 'false' }),
    targetId: h('input', { type: 'text', name: 'targetId', maxlength: 256, value: filter.targetId ?? '', spellcheck: 'false' }),
  }
  const form = h('form', { class: 'card', role: 'search', 'aria-label': 'Filter the audit log' },
    h('datalist', { id: 'audit-actions' }, ACTIONS.map((a) => h('option', { value: a }))),
    h('div', { class: 'grid' },
      field('From', f.from, 'Inclusive, your local time'), field('To', f.to, 'Exclusive'), field('Action', f.action, 'e.g. user.lock'),
      field('Actor', f.actorType), field('Target type', f.targetType, 'e.g. user, device, pool'), field('Target id', f.targetId)),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply filter'),
      h('button', { type: 'button', onclick: () => { location.hash = '#/audit' } }, 'Clear filter')))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const next = {
      from: localToIso(f.from.value), to: localToIso(f.to.value), action: f.action.value.trim(),
      actorType: f.actorType.value, targetType: f.targetType.value.trim(), targetId: f.targetId.value.trim(),
    }
    const hash = `#/audit${query(next)}`
    if (location.hash === hash) void reload()
    else location.hash = hash
  })

  // --- export and verify ---------------------------------------------------------------------------
  // The export needs a period: the filter's, else everything up to now (taken at the click).
  const exportLink = (/** @type {'ndjson' | 'csv'} */ format, /** @type {string} */ label) => {
    const a = h('a', { class: 'button', href: '#', download: `audit.${format}` }, label)
    const refresh = () => {
      a.href = `${API}/audit/export${query({ format, ...filter, from: filter.from ?? '1970-01-01T00:00:00.000Z', to: filter.to ?? new Date(Date.now() + 1000).toISOString() })}`
    }
    refresh()
    a.addEventListener('click', refresh)
    return a
  }
  const exportLinks = h('div', { class: 'actions' }, exportLink('ndjson', 'Download NDJSON'), exportLink('csv', 'Download CSV'))
  const file = h('input', { type: 'file', name: 'file', accept: '.ndjson,.jsonl,application/x-ndjson', required: true })
  const verifyResult = alertBox('info')
  const verifyButton = h('button', { type: 'submit' }, 'Verify file')
  const verifyForm = h('form', { 'aria-labelledby': 'verify-title' },
    field('Exported NDJSON file', file, 'Checks the hash chain: complete and unchanged'), h('div', { class: 'form-actions' }, verifyButton), verifyResult)
  verifyForm.addEventListener('submit', (e) => {
    e.preventDefault()
    const chosen = file.files?.[0]
    if (!chosen) return
    void busy(verifyButton, async () => {
      try {
        const r = await api('POST', '/audit/verify', chosen, { contentType: 'application/x-ndjson' })
        if (r.ok) showMessage(verifyResult, `The file verifies: ${r.entries} entries, unbroken${r.lastSeq ? ` up to entry ${r.lastSeq}` : ''}.`)
        else {
          showError(verifyResult, r.firstBroken
            ? `The file does not verify: line ${r.firstBroken.line} (entry ${r.firstBroken.seq ?? '?'}) — ${r.firstBroken.reason}.`
            : 'The file does not verify.')
        }
      } catch (err) { showError(verifyResult, err) }
    })
  })

  // --- the table -------------------------------------------------------------------------------
  const tbody = h('tbody')
  const more = h('button', { type: 'button' }, 'Load more')
  const shown = h('span', { 'aria-live': 'polite' })
  const names = await actorNames(ctx)
  if (!ctx.current()) return
  const tableWrap = auditTable([], describe(filter))
  tableWrap.querySelector('tbody')?.replaceWith(tbody)
  const empty = tableWrap.querySelector('.empty')
  if (empty) empty.textContent = 'No entries match the filter.'
  let count = 0
  let nextCursor = /** @type {string | null} */ (null)

  /** @param {string | null} cursor */
  async function load(cursor) {
    const page = await api('GET', `/audit${query({ ...filter, limit: PAGE, cursor })}`)
    if (!ctx.current()) return
    for (const entry of page.entries) tbody.append(auditRow(entry, names))
    count += page.entries.length
    nextCursor = page.nextCursor
    more.hidden = !nextCursor
    if (empty) /** @type {HTMLElement} */ (empty).hidden = count > 0
    shown.textContent = `Showing ${count} ${count === 1 ? 'entry' : 'entries'}${nextCursor ? ' (more available)' : ''}.`
  }
  async function reload() {
    count = 0
    replace(tbody)
    try { await load(null) } catch (err) { showError(error, err) }
  }
  more.addEventListener('click', () => busy(more, async () => {
    try { await load(nextCursor); announce(`${count} entries shown.`) } catch (err) { showError(error, err) }
  }))

  replace(main,
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Audit log'), exportLinks),
    form,
    h('section', { class: 'card', 'aria-labelledby': 'verify-title' }, h('h2', { id: 'verify-title' }, 'Verify an export'), verifyForm),
    error, tableWrap, h('div', { class: 'table-foot' }, shown, more))
  await reload()
}

/** @param {Record<string, string>} filter */
function describe(filter) {
  const parts = Object.entries(filter).map(([k, v]) => `${k} ${k === 'from' || k === 'to' ? new Date(v).toLocaleString() : v}`)
  return parts.length ? `Audit entries, newest first: ${parts.join(', ')}` : 'Audit entries, newest first'
}

/**
 * Names for the ids in audit entries, where the portal can know them cheaply: the signed-in
 * administrator always; every administrator and API token when the role may list them.
 * @param {import('../app.js').Context} ctx @returns {Promise<Map<string, string>>}
 */
export async function actorNames(ctx) {
  /** @type {Map<string, string>} */
  const names = new Map([[ctx.admin.id, ctx.admin.username]])
  const [admins, tokens] = await Promise.all([
    ctx.can('admins:manage') ? api('GET', '/admins').catch(() => null) : null,
    ctx.can('api-tokens:manage') ? api('GET', '/api-tokens').catch(() => null) : null,
  ])
  for (const a of admins?.admins ?? []) names.set(a.id, a.username)
  for (const t of tokens?.apiTokens ?? []) names.set(t.id, t.name)
  return names
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * "admin root" where the name is known; else the type and the id, a UUID cut to 8 characters on
 * screen with the whole id as its tooltip and for screen readers.
 * @param {string} type @param {string | null} idValue @param {Map<string, string>} names
 */
function who(type, idValue, names) {
  if (!idValue) return [type]
  const name = names.get(idValue)
  if (name) return [`${type} `, h('span', { class: 'name', title: idValue }, name)]
  if (!UUID.test(idValue)) return [`${type} `, h('code', {}, idValue)]
  return [`${type} `, h('code', { class: 'short-id', title: idValue, 'aria-label': idValue },
    h('span', { 'aria-hidden': 'true' }, idValue.slice(0, 8)), h('span', { class: 'visually-hidden' }, idValue))]
}

/** @param {any} e @param {Map<string, string>} names */
function auditRow(e, names) {
  const details = JSON.stringify(e.details ?? {})
  return row([
    { cell: String(e.seq), class: 'num' }, time(e.at), e.action,
    h('span', {}, who(e.actorType, e.actorId, names)),
    e.targetType ? h('span', {}, targetLink(e, names)) : text(null), text(e.sourceIp),
    { cell: details === '{}' ? text(null) : h('code', {}, details.length > 240 ? `${details.slice(0, 240)}…` : details), class: 'details' },
  ], { header: 0 })
}

/** @param {any} e @param {Map<string, string>} names */
function targetLink(e, names) {
  const label = who(e.targetType, e.targetId, names)
  if (e.targetType === 'user' && e.targetId) return h('a', { href: `#/users/${e.targetId}` }, label)
  if (e.targetType === 'pool' && e.targetId) return h('a', { href: `#/pools/${e.targetId}` }, label)
  return h('span', {}, label)
}

/**
 * A table of audit entries (the audit screen and a user's activity).
 * @param {any[]} entries @param {string} caption @param {Map<string, string>} [names] see actorNames
 */
export function auditTable(entries, caption, names = new Map()) {
  return table({
    caption,
    columns: [{ label: 'Seq', class: 'num' }, 'Time', 'Action', 'Actor', 'Target', 'Source address', 'Details'],
    rows: entries.map((e) => auditRow(e, names)),
    emptyText: 'No audit entries.',
  })
}
