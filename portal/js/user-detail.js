// @ts-check
// One user: profile (editable with users:write), lock / unlock / offboard, a new enrollment token,
// and with audit:read the activity: devices and sessions, failed sign-ins, messages per day and
// the audit entries about them.
import { api, query } from './api.js'
import { alertBox, announce, badge, busy, confirmDialog, field, h, replace, row, select, showError, showMessage, table, text, time } from './dom.js'
import { enrollmentView } from './enrollment.js'
import { actorNames, auditTable } from './audit.js'

/** @param {HTMLElement} main @param {import('../app.js').Context} ctx @param {string} userId */
export async function renderUserDetail(main, ctx, userId) {
  const detail = await api('GET', `/users/${encodeURIComponent(userId)}`)
  if (!ctx.current()) return
  /** @type {any} */
  let user = detail.user
  ctx.title(user.username)

  const message = alertBox()
  const heading = h('h1', { tabindex: '-1' })
  const status = h('span')
  const facts = h('dl', { class: 'facts' })
  const actionBar = h('div', { class: 'actions' })
  const enrollmentArea = h('div')
  const activityArea = h('div')

  function draw() {
    replace(heading, user.displayName || user.username)
    replace(status, badge(user.status))
    replace(facts,
      h('dt', {}, 'Username'), h('dd', {}, user.username),
      h('dt', {}, 'Status'), h('dd', {}, badge(user.status)),
      h('dt', {}, 'E-mail'), h('dd', {}, text(user.email)),
      h('dt', {}, 'External id'), h('dd', {}, text(user.externalId)),
      h('dt', {}, 'Active devices'), h('dd', {}, String(user.devices)),
      h('dt', {}, 'Created'), h('dd', {}, time(user.createdAt)),
      h('dt', {}, 'Last seen'), h('dd', {}, time(user.lastSeenAt, 'never')))
    const buttons = []
    if (ctx.can('users:lock') && user.status !== 'offboarded') {
      buttons.push(user.status === 'locked'
        ? h('button', { type: 'button', onclick: (/** @type {Event} */ e) => change(e, 'unlock', 'Unlocked') }, 'Unlock')
        : h('button', { type: 'button', class: 'danger', onclick: (/** @type {Event} */ e) => change(e, 'lock', 'Locked') }, 'Lock'))
    }
    if (ctx.can('users:invite') && (user.status === 'invited' || user.status === 'active')) {
      buttons.push(h('button', { type: 'button', onclick: (/** @type {Event} */ e) => newToken(e) }, 'New enrollment token'))
    }
    if (ctx.can('users:write') && user.status !== 'offboarded') {
      buttons.push(h('button', { type: 'button', class: 'danger', onclick: (/** @type {Event} */ e) => change(e, 'offboard', 'Offboarded') }, 'Offboard'))
    }
    replace(actionBar, buttons)
  }

  /** @param {Event} e @param {'lock' | 'unlock' | 'offboard'} verb @param {string} done */
  async function change(e, verb, done) {
    const button = /** @type {HTMLButtonElement} */ (e.currentTarget)
    if (verb !== 'unlock') {
      const ok = await confirmDialog({
        title: `${verb === 'lock' ? 'Lock' : 'Offboard'} ${user.username}?`,
        body: verb === 'lock'
          ? ['Their sessions end and their connections close on every gateway at once. You can unlock them later.']
          : ['Every device is revoked and their sessions end at once. Offboarding is final; the user and the audit trail stay for compliance.'],
        confirm: verb === 'lock' ? 'Lock' : 'Offboard', danger: true,
      })
      if (!ok) return
    }
    await busy(button, async () => {
      try {
        user = (await api('POST', `/users/${user.id}/${verb}`)).user
        draw()
        showMessage(message, `${done}: ${user.username} is now ${user.status}.`)
        actionBar.querySelector('button')?.focus()
        void loadActivity()
      } catch (err) { showError(message, err) }
    })
  }

  /** @param {Event} e */
  async function newToken(e) {
    await busy(/** @type {HTMLButtonElement} */ (e.currentTarget), async () => {
      try {
        const res = await api('POST', `/users/${user.id}/token`)
        user = res.user
        const title = h('h2', { id: 'enrollment-title', tabindex: '-1' }, 'New enrollment token')
        replace(enrollmentArea, h('section', { class: 'card', 'aria-labelledby': 'enrollment-title' }, title, enrollmentView(res.enrollment, user.username)))
        // The button was disabled while waiting (focus dropped): go to what it made.
        title.focus()
        announce('A new enrollment link and QR code are shown.')
      } catch (err) { showError(message, err) }
    })
  }

  // --- profile ---------------------------------------------------------------------------------
  const profileError = alertBox()
  let profile
  if (ctx.can('users:write') && user.status !== 'offboarded') {
    const displayName = h('input', { type: 'text', name: 'displayName', maxlength: 128, value: user.displayName })
    const team = h('input', { type: 'text', name: 'team', maxlength: 128, value: user.team ?? '' })
    const businessArea = h('input', { type: 'text', name: 'businessArea', maxlength: 128, value: user.businessArea ?? '' })
    const save = h('button', { type: 'submit', class: 'primary' }, 'Save profile')
    profile = h('form', { 'aria-labelledby': 'profile-title' },
      h('div', { class: 'grid' }, field('Display name', displayName), field('Team', team, 'Empty clears it'), field('Business area', businessArea, 'Empty clears it')),
      profileError, h('div', { class: 'form-actions' }, save))
    profile.addEventListener('submit', (e) => {
      e.preventDefault()
      void busy(save, async () => {
        /** @type {Record<string, string | null>} */
        const body = { team: team.value.trim() || null, businessArea: businessArea.value.trim() || null }
        if (displayName.value.trim()) body.displayName = displayName.value.trim()
        try {
          user = (await api('PATCH', `/users/${user.id}`, body)).user
          draw()
          showMessage(profileError, 'Profile saved.')
        } catch (err) { showError(profileError, err) }
      })
    })
  } else {
    profile = h('dl', { class: 'facts' }, h('dt', {}, 'Display name'), h('dd', {}, text(user.displayName)),
      h('dt', {}, 'Team'), h('dd', {}, text(user.team)), h('dt', {}, 'Business area'), h('dd', {}, text(user.businessArea)))
  }

  // --- activity ----------------------------------------------------------------------------------
  // The heading and the period stay put; only what is below them is redrawn, so the select keeps
  // the focus while someone steps through the periods with the arrow keys.
  const days = select('days', [['7', 'Last 7 days'], ['30', 'Last 30 days'], ['90', 'Last 90 days'], ['366', 'Last year']], '30')
  days.addEventListener('change', () => { void loadActivity() })
  const activityBody = h('div')
  const names = ctx.can('audit:read') ? await actorNames(ctx) : new Map()
  names.set(user.id, user.username)
  for (const d of detail.devices) if (d.name) names.set(d.id, d.name)
  if (!ctx.current()) return
  let activityCall = 0

  async function loadActivity() {
    if (!ctx.can('audit:read')) {
      replace(activityArea, h('h2', {}, 'Devices'), devicesTable(detail.devices, false))
      return
    }
    if (!activityArea.firstChild) {
      replace(activityArea, h('div', { class: 'page-head' }, h('h2', { id: 'activity-title' }, 'Activity'), h('div', { class: 'actions' }, field('Period', days))), activityBody)
    }
    const mine = ++activityCall
    const error = alertBox()
    try {
      const a = await api('GET', `/users/${user.id}/activity${query({ days: days.value })}`)
      // Only the latest period's answer is drawn (arrow keys send several in a row).
      if (!ctx.current() || mine !== activityCall) return
      const totals = a.messagesPerDay.reduce((/** @type {{ sent: number, received: number }} */ t, /** @type {any} */ d) => ({ sent: t.sent + d.sent, received: t.received + d.received }), { sent: 0, received: 0 })
      replace(activityBody,
        h('h3', {}, 'Devices and sessions'), devicesTable(a.devices, true),
        h('div', { class: 'columns' },
          h('section', { 'aria-labelledby': 'failed-title' }, h('h3', { id: 'failed-title' }, 'Failed sign-ins'),
            table({
              caption: `Failed device sign-ins, ${days.selectedOptions[0]?.textContent?.toLowerCase()}`, columns: ['Time', 'Device', 'Reason', 'Source address'],
              rows: a.failedAuthentications.map((/** @type {any} */ f) => row([time(f.at), f.deviceId ? h('code', {}, f.deviceId.slice(0, 8)) : text(null), f.reason, text(f.sourceIp)], { header: true })),
              emptyText: 'No failed sign-ins in this period.',
            })),
          h('section', { 'aria-labelledby': 'messages-title' }, h('h3', { id: 'messages-title' }, `Messages per day (${totals.sent} sent, ${totals.received} received)`),
            table({
              caption: 'Messages sent and received per day (counts only, never content)', columns: ['Day', { label: 'Sent', class: 'num' }, { label: 'Received', class: 'num' }],
              rows: a.messagesPerDay.filter((/** @type {any} */ d) => d.sent || d.received).reverse()
                .map((/** @type {any} */ d) => row([d.day, { cell: String(d.sent), class: 'num' }, { cell: String(d.received), class: 'num' }], { header: true })),
              emptyText: 'No messages in this period.',
            }))),
        h('h3', {}, 'Audit entries'), auditTable(a.audit, 'The latest audit entries about this user and their devices', names))
    } catch (err) {
      if (mine !== activityCall) return
      replace(activityBody, error)
      showError(error, err)
    }
  }

  replace(main,
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/users' }, 'Users'), ' › ', user.username),
    h('div', { class: 'page-head' }, heading, status, actionBar),
    message,
    h('div', { class: 'columns' },
      h('section', { class: 'card', 'aria-labelledby': 'facts-title' }, h('h2', { id: 'facts-title' }, 'Account'), facts),
      h('section', { class: 'card', 'aria-labelledby': 'profile-title' }, h('h2', { id: 'profile-title' }, 'Profile'), profile)),
    enrollmentArea, activityArea)
  draw()
  await loadActivity()
}

/** @param {any[]} devices @param {boolean} withSessions */
function devicesTable(devices, withSessions) {
  return table({
    caption: 'Every device of the user, enrolled or revoked',
    columns: ['Device', 'Platform', 'State', 'Enrolled', 'Last seen', ...(withSessions ? ['Open sessions'] : [])],
    rows: devices.map((d) => {
      const sessions = withSessions ? [d.sessions.length === 0 ? text(null) : h('span', {}, `${d.sessions.length}, until `, time(d.sessions.map((/** @type {any} */ s) => s.expiresAt).sort().at(-1)))] : []
      return row([d.name || h('code', {}, d.id.slice(0, 8)), d.platform, badge(d.state), time(d.enrolledAt), time(d.lastSeenAt, 'never'), ...sessions], { header: true })
    }),
    emptyText: 'No device enrolled yet.',
  })
}
