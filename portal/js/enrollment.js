// @ts-check
// An enrollment token as the administrator hands it on: the link to copy and its QR code.
import { copyActions, field, h, svgImage, time } from './dom.js'

/** @param {{ link: string, expiresAt: string, qrSvg: string }} enrollment @param {string} username */
export function enrollmentView(enrollment, username) {
  const img = svgImage(enrollment.qrSvg, `QR code of the enrollment link for ${username}`)
  const link = h('input', { type: 'text', readonly: true, value: enrollment.link, class: 'mono', 'data-testid': 'enrollment-link' })
  return h('div', { class: 'enrollment' }, img,
    h('div', { class: 'enrollment-text' }, field('Enrollment link (one use)', link),
      copyActions(link, 'Copy link'),
      h('p', { class: 'muted' }, 'Valid until ', time(enrollment.expiresAt), '. It is shown only now: hand it to ', username, ' or let them scan the code.')))
}
