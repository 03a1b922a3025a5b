// @ts-check
// An enrollment token as the administrator hands it on: the link to copy and its QR code. The
// server's SVG is shown through an <img> from a blob URL, never parsed into the page.
import { field, h, time } from './dom.js'

/** @param {{ link: string, expiresAt: string, qrSvg: string }} enrollment @param {string} username */
export function enrollmentView(enrollment, username) {
  const url = URL.createObjectURL(new Blob([enrollment.qrSvg], { type: 'image/svg+xml' }))
  const img = h('img', { src: url, alt: `QR code of the enrollment link for ${username}`, width: 180, height: 180 })
  const link = h('input', { type: 'text', readonly: true, value: enrollment.link, class: 'mono', 'data-testid': 'enrollment-link' })
  const copied = h('span', { role: 'status', class: 'muted' })
  const copy = h('button', {
    type: 'button',
    onclick: async () => {
      link.select()
      try { await navigator.clipboard.writeText(enrollment.link); copied.textContent = 'Copied.' } catch { copied.textContent = 'Selected: press Ctrl+C to copy.' }
    },
  }, 'Copy link')
  return h('div', { class: 'enrollment' }, img,
    h('div', { class: 'enrollment-text' }, field('Enrollment link (one use)', link),
      h('div', { class: 'actions' }, copy, copied),
      h('p', { class: 'muted' }, 'Valid until ', time(enrollment.expiresAt), '. It is shown only now: hand it to ', username, ' or let them scan the code.')))
}
