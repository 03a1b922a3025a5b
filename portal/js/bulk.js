// @ts-check
// A bulk operation from start to finish: the question, POST /bulk-operations, a progress bar fed
// by polling the operation, then the users it failed for (and new enrollment links for invites).
import { api, NetworkError, query } from './api.js'
import { alertBox, confirmDialog, h, replace, row, showError, table, text, time } from './dom.js'
import { BULK_ACTIONS } from './rights.js'

const POLL_MS = 400

/**
 * @typedef {{ action: string, userIds?: string[], filter?: Record<string, unknown>, poolId?: string }} BulkRequest
 * @param {HTMLElement} panel where the progress and the outcome are shown
 * @param {BulkRequest} request
 * @param {{ who: string, poolName?: string, current: () => boolean, onFinished: () => void }} opts
 */
export async function runBulk(panel, request, opts) {
  const spec = BULK_ACTIONS.find((a) => a.action === request.action)
  if (!spec) return
  const ok = await confirmDialog({
    title: spec.ask.replace('{who}', opts.who),
    body: [
      opts.poolName ? `The pool: “${opts.poolName}”.` : null,
      request.action === 'offboard' ? 'Offboarding is final: every device is revoked and the users cannot come back.' : null,
      'The operation runs in the background; you can follow its progress here.',
    ],
    confirm: spec.label,
    danger: request.action === 'offboard' || request.action === 'lock',
  })
  if (!ok) return
  const error = alertBox()
  const progress = h('progress', { max: 1, value: 0, id: 'bulk-progress', 'aria-describedby': 'bulk-progress-text' })
  const progressText = h('p', { class: 'progress-text', id: 'bulk-progress-text', 'aria-live': 'polite' }, 'Starting…')
  const outcome = h('div')
  const heading = h('h2', { tabindex: '-1' }, `${spec.verb}: ${opts.who}`)
  replace(panel, h('section', { class: 'card bulk-panel', 'aria-labelledby': 'bulk-title' },
    heading, h('label', { for: 'bulk-progress' }, 'Progress'), progress, progressText, error, outcome))
  heading.id = 'bulk-title'
  heading.focus()

  /** @type {any} */
  let operation
  try {
    operation = (await api('POST', '/bulk-operations', request)).operation
  } catch (err) {
    progressText.textContent = 'Not started here.'
    showError(error, err instanceof NetworkError
      ? 'The gateway could not be reached, so it is not known whether the operation started. Before trying again, look for it in the audit log (action bulk.started).'
      : err)
    return
  }

  /** Polls until the operation ends; a network failure leaves a retry button instead of a dead panel. */
  const follow = async () => {
    try {
      let lastText = ''
      for (;;) {
        progress.max = Math.max(operation.total, 1)
        progress.value = operation.done
        const line = describe(operation)
        // A live region that changes every 400 ms would talk over everything; say each new count once.
        if (line !== lastText) progressText.textContent = lastText = line
        if (operation.state === 'done' || operation.state === 'failed') break
        await new Promise((r) => setTimeout(r, POLL_MS))
        if (!opts.current()) return
        operation = (await api('GET', `/bulk-operations/${operation.id}`)).operation
      }
    } catch (err) {
      if (!(err instanceof NetworkError)) { showError(error, err); return }
      progressText.textContent = `Last known: ${describe(operation)}`
      const retry = h('button', { type: 'button' }, 'Check the progress again')
      retry.addEventListener('click', () => {
        replace(error)
        progressText.textContent = 'Checking again…'
        void follow()
      })
      error.className = 'alert error'
      error.setAttribute('role', 'alert')
      replace(error, h('p', {}, 'The gateway could not be reached; the operation may still be running on the server. ',
        'Check the progress again when the connection is back, or see the audit log later (actions bulk.started and bulk.finished).'), retry)
      return
    }
    if (operation.state === 'failed' && operation.error) showError(error, `The operation stopped: ${operation.error}`)
    try {
      if (operation.failed > 0) await resultList(outcome, operation, 'failed')
      if (request.action === 'invite' && operation.succeeded > 0) await resultList(outcome, operation, 'ok')
    } catch (err) { showError(error, err) }
    opts.onFinished()
  }
  await follow()
}

/** @param {any} op */
function describe(op) {
  if (op.state === 'queued') return `Queued: ${op.total} users waiting to start.`
  const failed = op.failed ? `, ${op.failed} failed` : ''
  if (op.state === 'running') return `${op.done} of ${op.total} done${failed}.`
  if (op.state === 'done') return `Done: ${op.succeeded} of ${op.total} succeeded${failed}.`
  return `Stopped after ${op.done} of ${op.total}${failed}.`
}

/**
 * The users the operation failed for, or (for invites) the new enrollment links, with "More".
 * @param {HTMLElement} outcome @param {any} op @param {'ok' | 'failed'} kind
 */
async function resultList(outcome, op, kind) {
  const body = h('tbody')
  const more = h('button', { type: 'button', hidden: true }, 'More results')
  const columns = kind === 'failed' ? ['User', 'Error'] : ['User', 'Enrollment link', 'Valid until']
  const section = h('section', { 'aria-label': kind === 'failed' ? 'Failed users' : 'New enrollment links' },
    h('h3', {}, kind === 'failed' ? `Failed for ${op.failed} ${op.failed === 1 ? 'user' : 'users'}` : 'New enrollment links'))
  // GET …/results gives the links back until they expire (docs/admin-api.md §11): not "only now".
  const collect = h('p', { class: 'alert info' })
  const tableWrap = table({ caption: kind === 'failed' ? 'Users the operation failed for' : 'Enrollment links', columns, rows: [] })
  tableWrap.querySelector('tbody')?.replaceWith(body)
  tableWrap.querySelector('.empty')?.remove()
  if (kind === 'ok') section.append(collect)
  section.append(tableWrap, h('div', { class: 'table-foot' }, more))
  outcome.append(section)
  /** @param {string | null} cursor */
  const load = async (cursor) => {
    const page = await api('GET', `/bulk-operations/${op.id}/results${query({ outcome: kind, cursor, limit: 100 })}`)
    for (const r of page.results) {
      const user = r.userId ? h('a', { href: `#/users/${r.userId}` }, r.username) : r.username
      body.append(kind === 'failed'
        ? row([user, r.error ? `${r.error.message} (${r.error.code})` : text(null)], { header: true })
        : row([user, r.enrollment ? h('code', {}, r.enrollment.link) : text(null), time(r.enrollment?.expiresAt)], { header: true }))
    }
    if (kind === 'ok' && !cursor) {
      const expiry = page.results.map((/** @type {any} */ r) => r.enrollment?.expiresAt).filter(Boolean).sort()[0]
      replace(collect, 'Collect them now: they stay available until ', expiry ? time(expiry) : 'they expire',
        ' and are secrets: anyone holding one can enroll a device for that user.')
    }
    more.hidden = !page.nextCursor
    more.onclick = () => { void load(page.nextCursor) }
  }
  await load(null)
}
