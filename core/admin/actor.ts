// Who did something, as the audit log records it: a signed-in administrator, an API token, or the
// system (the CLI, the first-owner step), with the address the request came from.
export interface Actor {
  type: 'admin' | 'api-token' | 'system'
  id: string
  sourceIp?: string | undefined
}

/** The actor and source address members of an audit entry. */
export function actorOf(a: Actor): { actor: { type: Actor['type']; id: string }; sourceIp?: string } {
  return { actor: { type: a.type, id: a.id }, ...(a.sourceIp ? { sourceIp: a.sourceIp } : {}) }
}
