// One POST of one event to the provider's webhook URL, signed, within the timeout. Any 2xx
// acknowledges the event; anything else (other statuses, redirects, network errors, timeouts) is
// a failure to be retried. Redirects are not followed: the signed body goes only where configured.
// The result carries no response body, so nothing the provider answers ends up in logs or Redis.
import { ATTEMPT_HEADER, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, signWebhook } from './signature.ts';

export interface PostTarget {
  url: string;
  /** The revealed webhook secret. */
  secret: () => string;
  timeoutMs: number;
}

export type PostResult = { ok: true; status: number } | { ok: false; status?: number; error: string };

export interface PostRequest {
  eventId: string;
  type: string;
  body: string;
  /** 1 for the first attempt. */
  attempt: number;
}

export async function postEvent(target: PostTarget, r: PostRequest): Promise<PostResult> {
  const signal = AbortSignal.timeout(target.timeoutMs);
  try {
    const res = await fetch(target.url, {
      method: 'POST',
      redirect: 'manual',
      signal,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Causeway-Webhook/1',
        [EVENT_ID_HEADER]: r.eventId,
        [EVENT_TYPE_HEADER]: r.type,
        [ATTEMPT_HEADER]: String(r.attempt),
        [SIGNATURE_HEADER]: signWebhook(target.secret(), r.body),
      },
      body: r.body,
    });
    // Release the connection without reading what the provider said.
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
    return { ok: false, status: res.status, error: `HTTP ${res.status}` };
  } catch (err) {
    if (signal.aborted) return { ok: false, error: `timeout after ${target.timeoutMs} ms` };
    const cause = (err as { cause?: { code?: unknown } }).cause;
    const code = typeof cause?.code === 'string' ? cause.code : (err as Error).name;
    return { ok: false, error: `network error (${code})` };
  }
}
