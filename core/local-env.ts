// Command-line tools (mvctl, mvchat) run in other terminals than `npm start`; they read the
// connection settings it wrote to .data/local.env unless the environment already has them.
import { existsSync, readFileSync } from 'node:fs'

const LOCAL_ENV = new URL('../.data/local.env', import.meta.url)

export function loadLocalEnv(env: NodeJS.ProcessEnv = process.env): void {
  if (!existsSync(LOCAL_ENV)) return
  for (const line of readFileSync(LOCAL_ENV, 'utf8').split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim())
    if (match && env[match[1]!] === undefined) env[match[1]!] = match[2]!
  }
}
