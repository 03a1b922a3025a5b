// One error shape for every route: 4xx { statusCode, code, message, reqId } with a stable code;
// 5xx a generic message and the reqId only, never internals.
import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'

const FASTIFY_CODES: Record<string, { code: string; message?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'MVM_REQUEST_MALFORMED', message: 'body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'MVM_REQUEST_MALFORMED', message: 'body is empty' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'MVM_REQUEST_TOO_LARGE', message: 'body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'MVM_REQUEST_MEDIA_TYPE', message: 'content type must be application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'MVM_REQUEST_MALFORMED', message: 'content length does not match the body' },
}

export default fp(async (app) => {
  app.setErrorHandler((error: FastifyError & { missingDevices?: string[]; extraDevices?: string[]; retryAfter?: number }, req, reply) => {
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500
    if (status >= 500) {
      app.metrics?.errors.inc({ code: 'MVM_INTERNAL' })
      req.log.error({ err: error }, 'request failed')
      return reply.code(status).send({ statusCode: status, code: 'MVM_INTERNAL', message: 'internal error', reqId: req.id })
    }
    let code = error.code?.startsWith('MVM_') ? error.code : 'MVM_REQUEST_INVALID'
    let message = error.message
    const known = error.code ? FASTIFY_CODES[error.code] : undefined
    if (known) ({ code, message = message } = known)
    else if (error instanceof SyntaxError) ({ code, message } = { code: 'MVM_REQUEST_MALFORMED', message: 'body is not valid JSON' })
    else if (error.validation) message = `${error.validationContext ?? 'request'}${error.validation[0]?.instancePath ?? ''} ${error.validation[0]?.message ?? 'is invalid'}`
    app.metrics?.errors.inc({ code })
    if (error.retryAfter) reply.header('retry-after', String(error.retryAfter))
    return reply.code(status).send({
      statusCode: status, code, message, reqId: req.id,
      ...(error.missingDevices ? { missingDevices: error.missingDevices, extraDevices: error.extraDevices } : {}),
    })
  })
  app.setNotFoundHandler((req, reply) => {
    app.metrics?.errors.inc({ code: 'MVM_NOT_FOUND' })
    reply.code(404).send({ statusCode: 404, code: 'MVM_NOT_FOUND', message: 'no such route', reqId: req.id })
  })
}, { name: 'errors' })
