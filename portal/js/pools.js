// @ts-check
// Pools (closed areas, DESIGN §6): list, create, rename, delete, and one pool's members.
import { api, query } from './api.js'
import { alertBox, badge, busy, confirmDialog, field, h, promptDialog, replace, row, showError, showMessage, table, text, time } from './dom.js'

/** @param {HTMLElement} main @param {import('../app.js').Context} ctx */
export async function renderPools(main, ctx) {
  ctx.title('Pools')
  const manage = ctx.can('policy:manage')
  const message = alertBox()
  const list = h('div')

  async function load() {
    const { pools } = await api('GET', '/pools')
    if (!ctx.current()) return
    replace(list, table({
      caption: 'Pools by name. Two users may exchange messages only if both are in no pool or they share one.',
      columns: ['Name', { label: 'Members', class: 'num' }, 'Created', ...(manage ? [{ label: 'Actions', hidden: true }] : [])],
      rows: pools.map((/** @type {any} */ p) => row([
        h('a', { href: `#/pools/${p.id}` }, p.name), { cell: String(p.members), class: 'num' }, time(p.createdAt),
        ...(manage ? [h('div', { class: 'actions' },
          h('button', { type: 'button', onclick: () => rename(p) }, 'Rename', h('span', { class: 'visually-hidden' }, ` ${p.name}`)),
          h('button', { type: 'button', class: 'danger', onclick: () => remove(p) }, 'Delete', h('span', { class: 'visually-hidden' }, ` ${p.name}`)))] : []),
      ], { header: true })),
      emptyText: 'No pools yet: every user can reach every other user.',
    }))
  }

  /** @param {any} p */
  async function rename(p) {
    const name = await promptDialog({ title: `Rename pool ${p.name}`, label: 'New name', value: p.name, confirm: 'Rename' })
    if (!name || name === p.name) return
    try {
      await api('PATCH', `/pools/${p.id}`, { name })
      showMessage(message, `Renamed to ${name}.`)
      await load()
    } catch (err) { showError(message, err) }
  }

  /** @param {any} p */
  async function remove(p) {
    const ok = await confirmDialog({
      title: `Delete pool ${p.name}?`,
      body: [`Its ${p.members} members are then in no pool (unless in another), and can reach everyone outside pools.`],
      confirm: 'Delete', danger: true,
    })
    if (!ok) return
    try {
      await api('DELETE', `/pools/${p.id}`)
      showMessage(message, `Pool ${p.name} deleted.`)
      await load()
    } catch (err) { showError(message, err) }
  }

  let create = null
  if (manage) {
    const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 128 })
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Create pool')
    create = h('form', { class: 'card', 'aria-labelledby': 'create-pool-title' },
      h('h2', { id: 'create-pool-title' }, 'New pool'), h('div', { class: 'form-row' }, field('Name', name), submit))
    create.addEventListener('submit', (e) => {
      e.preventDefault()
      void busy(submit, async () => {
        try {
          const { pool } = await api('POST', '/pools', { name: name.value.trim() })
          name.value = ''
          showMessage(message, `Pool ${pool.name} created.`)
          await load()
        } catch (err) { showError(message, err) }
      })
    })
  }
  replace(main, h('h1', { tabindex: '-1' }, 'Pools'), message, create, list)
  await load()
}

/** @param {HTMLElement} main @param {import('../app.js').Context} ctx @param {string} poolId */
export async function renderPoolDetail(main, ctx, poolId) {
  const manage = ctx.can('policy:manage')
  const detail = await api('GET', `/pools/${encodeURIComponent(poolId)}`)
  if (!ctx.current()) return
  const pool = detail.pool
  ctx.title(`Pool ${pool.name}`)
  const message = alertBox()
  const list = h('div')

  /** The members with their names: the users filter by pool, page by page. */
  async function load() {
    /** @type {any[]} */
    const members = []
    let cursor = null
    do {
      const page = await api('GET', `/users${query({ pool: pool.id, limit: 200, cursor })}`)
      members.push(...page.users)
      cursor = page.nextCursor
    } while (cursor && members.length < 5000)
    if (!ctx.current()) return
    replace(list, table({
      caption: `${members.length} ${members.length === 1 ? 'member' : 'members'} of ${pool.name}`,
      columns: ['Username', 'Name', 'Team', 'Status', ...(manage ? [{ label: 'Actions', hidden: true }] : [])],
      rows: members.map((u) => row([
        h('a', { href: `#/users/${u.id}` }, u.username), text(u.displayName), text(u.team), badge(u.status),
        ...(manage ? [h('button', { type: 'button', class: 'danger', onclick: () => removeMember(u) }, 'Remove', h('span', { class: 'visually-hidden' }, ` ${u.username}`))] : []),
      ], { header: true })),
      emptyText: 'The pool has no members.',
    }))
  }

  /** @param {any} u */
  async function removeMember(u) {
    try {
      await api('DELETE', `/pools/${pool.id}/members/${u.id}`)
      showMessage(message, `${u.username} removed from ${pool.name}.`)
      await load()
    } catch (err) { showError(message, err) }
  }

  let add = null
  if (manage) {
    const username = h('input', { type: 'text', name: 'username', required: true, maxlength: 64, autocomplete: 'off', spellcheck: 'false' })
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Add member')
    add = h('form', { class: 'card', 'aria-labelledby': 'add-member-title' },
      h('h2', { id: 'add-member-title' }, 'Add a member'), h('div', { class: 'form-row' }, field('Username', username, 'Several users at once: select them in Users and use “Add to pool”'), submit))
    add.addEventListener('submit', (e) => {
      e.preventDefault()
      void busy(submit, async () => {
        try {
          const user = await findUser(username.value.trim())
          await api('POST', `/pools/${pool.id}/members`, { userIds: [user.id] })
          username.value = ''
          showMessage(message, `${user.username} added to ${pool.name}.`)
          await load()
        } catch (err) { showError(message, err) }
      })
    })
  }
  replace(main,
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/pools' }, 'Pools'), ' › ', pool.name),
    h('h1', { tabindex: '-1' }, `Pool ${pool.name}`), message, add, list)
  await load()
}

/** The user with exactly this username (compared without case). @param {string} username */
export async function findUser(username) {
  const { users } = await api('GET', `/users${query({ q: username, limit: 200 })}`)
  const match = users.find((/** @type {any} */ u) => u.username.toLowerCase() === username.toLowerCase())
  if (!match) throw new Error(`No user named ${username}.`)
  return match
}
