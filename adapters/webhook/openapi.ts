// The OpenAPI 3.1 document of the webhook adapter's API, generated with zod 4's toJSONSchema from
// the very schemas that validate requests (schemas.ts) and describe events (events.ts), so it
// cannot drift from what the routes enforce. Events are listed under `webhooks` (OpenAPI 3.1).
import { z } from 'zod';
import { batchEvent, eventSchemas } from './events.ts';
import { MAX_BODY_BYTES } from './http.ts';
import {
  batchBody,
  batchResult,
  DEFAULT_MAX_MESSAGES_PER_BATCH,
  directoryQuery,
  directoryResult,
  errorResponse,
  idempotencyKey,
  interopBody,
  interopResult,
  safetyNumberBody,
  safetyNumberResult,
  uploadQuery,
  uploadResult,
  rateLimited,
  messageAccepted,
  messageHistory,
  messageParams,
  receiptsAccepted,
  receiptsBody,
  sendMessageBody,
  userParams,
} from './schemas.ts';
import { ATTEMPT_HEADER, EVENT_COUNT_HEADER, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER } from './signature.ts';

type Json = Record<string, unknown>;

/** JSON Schema (draft 2020-12, OpenAPI 3.1's dialect) of a zod schema, as requests (`input`) or responses (`output`) see it. */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
  return rest;
}

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const jsonContent = (schema: Json): Json => ({ 'application/json': { schema } });
const reply = (description: string, name?: string): Json => ({ description, ...(name ? { content: jsonContent(ref(name)) } : {}) });

/** Parameters from a strict zod object's shape (each property one parameter). */
function params(schema: z.ZodType, where: 'query' | 'path'): Json[] {
  const json = jsonSchemaOf(schema, 'input') as { properties: Record<string, Json>; required?: string[] };
  return Object.entries(json.properties).map(([name, s]) => {
    const { description, ...rest } = s;
    return { name, in: where, required: where === 'path' || (json.required ?? []).includes(name), schema: rest, ...(description ? { description } : {}) };
  });
}

const ERRORS: Json = {
  '400': reply('Invalid request: each issue names its field (`reply_to.id`, `Idempotency-Key`…). Nothing was queued.', 'Error'),
  '401': reply('Missing or invalid bearer token.', 'Error'),
  '503': reply('The sidecar is not ready yet; retry.', 'Error'),
};
const BODY_ERRORS: Json = {
  ...ERRORS,
  '413': reply(`Body larger than ${MAX_BODY_BYTES} bytes.`, 'Error'),
  '415': reply('Content-Type is not application/json.', 'Error'),
};

export function buildOpenApi(prefix: string, o: { maxMessagesPerBatch?: number } = {}): Json {
  const maxBatch = o.maxMessagesPerBatch ?? DEFAULT_MAX_MESSAGES_PER_BATCH;
  const schemas: Json = {
    SendMessage: jsonSchemaOf(sendMessageBody, 'input'),
    SendMessages: jsonSchemaOf(batchBody(maxBatch), 'input'),
    BatchResult: jsonSchemaOf(batchResult, 'output'),
    SetInterop: jsonSchemaOf(interopBody, 'input'),
    AcknowledgeSafetyNumber: jsonSchemaOf(safetyNumberBody, 'input'),
    SafetyNumberResult: jsonSchemaOf(safetyNumberResult, 'output'),
    Receipts: jsonSchemaOf(receiptsBody, 'input'),
    Error: jsonSchemaOf(errorResponse, 'output'),
    RateLimited: jsonSchemaOf(rateLimited, 'output'),
    MessageAccepted: jsonSchemaOf(messageAccepted, 'output'),
    MessageHistory: jsonSchemaOf(messageHistory, 'output'),
    InteropResult: jsonSchemaOf(interopResult, 'output'),
    DirectoryResult: jsonSchemaOf(directoryResult, 'output'),
    ReceiptsAccepted: jsonSchemaOf(receiptsAccepted, 'output'),
    UploadResult: jsonSchemaOf(uploadResult, 'output'),
    MessageReceivedEvent: jsonSchemaOf(eventSchemas['message.received'], 'output'),
    MessageStatusEvent: jsonSchemaOf(eventSchemas['message.status'], 'output'),
    NoticeEvent: jsonSchemaOf(eventSchemas.notice, 'output'),
    BatchEvent: jsonSchemaOf(batchEvent, 'output'),
  };
  const body = (name: string): Json => ({ required: true, content: jsonContent(ref(name)) });
  const webhook = (name: string, summary: string, headers = [SIGNATURE_HEADER, EVENT_ID_HEADER, EVENT_TYPE_HEADER, ATTEMPT_HEADER], more = ''): Json => ({
    post: {
      summary,
      description: `POSTed to webhook_url, signed with ${SIGNATURE_HEADER}: t=UNIX,v1=hex(HMAC-SHA256(webhook_secret, t + "." + body)). Retried with backoff until a 2xx; deduplicate on event_id.${more}`,
      parameters: headers.map((name) => ({ name, in: 'header', required: true, schema: { type: 'string' } })),
      requestBody: body(name),
      responses: { '2XX': { description: 'Acknowledged: the event will not be sent again.' }, default: { description: 'Not acknowledged: retried with backoff.' } },
    },
  });

  return {
    openapi: '3.1.0',
    info: {
      title: 'Causeway webhook adapter API',
      version: '1',
      description: 'The generic provider API of Causeway: send messages to hub users, follow their status, opt users in, look up numbers, send read receipts. Events come back as signed webhooks.',
    },
    security: [{ bearer: [] }],
    paths: {
      [`${prefix}/messages`]: {
        post: {
          operationId: 'sendMessage',
          summary: 'Queue a message to a hub user',
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: true, schema: jsonSchemaOf(idempotencyKey, 'input'), description: 'A repeat with the same key is not sent twice; it answers the first message_id with duplicate: true.' }],
          requestBody: body('SendMessage'),
          responses: {
            '202': reply('Queued durably (or a repeat of a queued message).', 'MessageAccepted'),
            '422': reply('Refused, nothing queued: `to` is a phone number no reachable hub user has, the sender has not opted in, a file was refused…; `issues` names the field.', 'Error'),
            '429': {
              ...reply('The sender is over limits.outbound_rate_per_user: nothing queued; retry after Retry-After seconds with the same Idempotency-Key.', 'RateLimited'),
              headers: { 'Retry-After': { description: 'Seconds until the window ends.', schema: { type: 'integer' } } },
            },
            ...BODY_ERRORS,
          },
        },
      },
      [`${prefix}/messages/batch`]: {
        post: {
          operationId: 'sendMessages',
          summary: `Queue up to ${maxBatch} messages in one request (max_messages_per_batch), each with its own idempotency_key`,
          description: 'The whole body is validated first: an invalid item (400, issues name `messages[i].field`), a key given twice in the batch (400) or too many messages (413) queue nothing. Then each item gets what POST /messages would have answered it, in request order: `queued` (with `duplicate: true` for a key accepted before: the first message_id, never sent twice) or `rejected` (the 422 cases: nothing stored for that item). Messages of one conversation are queued in request order. The answer comes once every queued message is stored durably.',
          requestBody: body('SendMessages'),
          responses: {
            '200': reply('Every message was handled; `results[i].status` says how.', 'BatchResult'),
            ...BODY_ERRORS,
            '413': reply(`More than ${maxBatch} messages, or a body larger than ${MAX_BODY_BYTES} bytes. Nothing was queued.`, 'Error'),
          },
        },
      },
      [`${prefix}/messages/{ref}`]: {
        get: {
          operationId: 'getMessage',
          summary: 'Status history of a message, by Idempotency-Key or message_id',
          parameters: params(messageParams, 'path'),
          responses: { '200': reply('Oldest status first.', 'MessageHistory'), '404': reply('Unknown message.', 'Error'), ...ERRORS },
        },
      },
      [`${prefix}/users/{id}/interop`]: {
        put: {
          operationId: 'setInterop',
          summary: 'Opt a provider user in (keys, enlist) or out (delist)',
          parameters: params(userParams, 'path'),
          requestBody: body('SetInterop'),
          responses: { '200': reply('Done.', 'InteropResult'), ...BODY_ERRORS },
        },
      },
      [`${prefix}/media`]: {
        post: {
          operationId: 'uploadMedia',
          summary: 'Upload a file (raw body, its MIME type as Content-Type) to send later by upload_id; kept 24 h',
          parameters: params(uploadQuery, 'query'),
          requestBody: { required: true, content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
          // The body is streamed, not JSON: no 1 MiB limit (the kind's limit applies) and no 415;
          // a bad Content-Type is a 400 naming it, a refused file a 422 naming media.
          responses: {
            '201': reply('Checked by content, encrypted and hosted.', 'UploadResult'),
            '422': reply('The file was refused (type by content, size limit of its kind…); `issues` names media.', 'Error'),
            ...ERRORS,
          },
        },
      },
      [`${prefix}/users/{id}/safety-number`]: {
        post: {
          operationId: 'acknowledgeSafetyNumber',
          summary: "The provider user acknowledged a hub user's new safety number; messages held for it go out (policy identity_change: hold)",
          parameters: params(userParams, 'path'),
          requestBody: body('AcknowledgeSafetyNumber'),
          responses: { '200': reply('Done.', 'SafetyNumberResult'), ...BODY_ERRORS },
        },
      },
      [`${prefix}/directory`]: {
        get: {
          operationId: 'lookup',
          summary: 'Hub address of a phone number, if reachable from this provider',
          parameters: params(directoryQuery, 'query'),
          responses: { '200': reply('Reachable.', 'DirectoryResult'), '404': reply('Unknown or not reachable (one answer for both).', 'Error'), ...ERRORS },
        },
      },
      [`${prefix}/receipts`]: {
        post: {
          operationId: 'sendReceipts',
          summary: 'The provider user read (or played) hub messages',
          requestBody: body('Receipts'),
          responses: { '202': reply('Queued.', 'ReceiptsAccepted'), ...BODY_ERRORS },
        },
      },
      [`${prefix}/openapi.json`]: {
        get: { operationId: 'openapi', summary: 'This document (also served at /openapi.json)', responses: { '200': reply('OpenAPI 3.1 document.'), '401': ERRORS['401'] } },
      },
    },
    webhooks: {
      'message.received': webhook('MessageReceivedEvent', 'A hub user sent a provider user a message'),
      'message.status': webhook('MessageStatusEvent', "A provider user's message changed state"),
      notice: webhook('NoticeEvent', 'Something the provider should tell its user'),
      batch: webhook('BatchEvent', "Several of one provider user's events, in order (only with max_events_per_post above 1)",
        [SIGNATURE_HEADER, EVENT_TYPE_HEADER, EVENT_COUNT_HEADER, ATTEMPT_HEADER],
        ' A 2xx acknowledges every event of the batch; on a failure they are sent again one by one.'),
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'One of the adapter’s api_tokens.' } },
      schemas,
    },
  };
}
