import { createNativeProvider, loadNodeCrypto } from './native.ts'
import { pureProvider } from './pure.ts'
import type { CryptoProvider } from './provider.ts'

export * from './provider.ts'
export * from './construction.ts'
export { createNativeProvider, loadNodeCrypto, pureProvider }

let cached: CryptoProvider | undefined

/** node:crypto where the runtime has it (Node), the pure-JS provider elsewhere (React Native). */
export function defaultProvider(): CryptoProvider {
  cached ??= loadNodeCrypto() ? createNativeProvider() : pureProvider
  return cached
}
