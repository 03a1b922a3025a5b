// How the client reaches a gateway. The SDK talks through this interface so that a React Native
// app can plug in fetch + WebSocket; Node (the terminal client, tests, bench) uses node:https
// and `ws`, trusting a given CA file for private deployments.
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly body: Record<string, unknown> = {}) {
    super(message)
    this.name = 'ApiError'
  }
}

export interface SocketHandlers {
  onOpen(): void
  onMessage(text: string): void
  onClose(code: number, reason: string): void
  /** The upgrade was refused with this HTTP status (401: authenticate again). */
  onRefused(status: number): void
}

export interface SocketConnection {
  send(text: string): void
  close(code?: number, reason?: string): void
  /** Drops the connection at once, without a closing handshake (for a link that is dead). */
  terminate(): void
  readonly isOpen: boolean
}

export interface Transport {
  request<T>(method: 'GET' | 'POST', path: string, opts?: { body?: unknown; token?: string }): Promise<T>
  socket(path: string, token: string, handlers: SocketHandlers): SocketConnection
  close(): void
}
