// What an administrator hands to an employee: the enrollment link the app opens, and the same as
// a QR code to scan from the portal's screen (SVG, so it scales and needs no image library).
import QRCode from 'qrcode'

export function enrollmentLink(server: string, token: string): string {
  return `mobivisor://enroll?server=${encodeURIComponent(server.replace(/\/+$/, ''))}&token=${encodeURIComponent(token)}`
}

export function qrSvg(text: string): Promise<string> {
  return QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 })
}
