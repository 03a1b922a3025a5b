// npm run vectors -- <file.json>...: runs Wycheproof files through both crypto providers.
// Exit 0 all passed, 1 some case failed, 2 a file could not be read or is not supported.
import { readFile } from 'node:fs/promises'
import { createNativeProvider } from '#sdk/crypto/native.ts'
import { pureProvider } from '#sdk/crypto/pure.ts'
import { VectorFileError, formatFileResult, runWycheproof } from '#sdk/crypto/wycheproof.ts'

const files = process.argv.slice(2)
if (files.length === 0) {
  console.error('usage: npm run vectors -- <wycheproof-file.json>...')
  process.exit(2)
}

const providers = [createNativeProvider(), pureProvider]
let passed = 0
let failed = 0
let unusable = false
for (const file of files) {
  let json: unknown
  try {
    json = JSON.parse(await readFile(file, 'utf8'))
  } catch (err) {
    const problem = err instanceof SyntaxError ? 'not JSON' : 'cannot read'
    console.error(`${file}: ${problem}: ${(err as Error).message}`)
    unusable = true
    continue
  }
  try {
    const result = runWycheproof(json, providers, file)
    for (const line of formatFileResult(result)) console.log(line)
    passed += result.passed
    failed += result.failed
  } catch (err) {
    if (!(err instanceof VectorFileError)) throw err
    console.error(err.message)
    unusable = true
  }
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(unusable ? 2 : failed > 0 ? 1 : 0)
