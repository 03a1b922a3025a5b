// The MobiVisor Messenger client SDK.
export * from './crypto/index.ts'
export * from './client/transport.ts'
export * from './client/identity.ts'
export * from './client/state.ts'
export * from './client/messenger-client.ts'
export { createNodeTransport } from './client/node-transport.ts'
export * from './store/local-store.ts'
