// Receipts from provider clients about hub users' messages (spec 6): delivery/read/played (several
// ids through <list>) are recorded for GET /control/users/{jid}/receipts; a retry receipt makes
// the simulated sender re-encrypt and resend (spec 6.2). Every receipt is acked with its id, type
// (absent for delivery), `to` and `participant` so that it is identified exactly (spec 3). The
// same address, opt-in and block rules as for messages apply.
import { ACK_ERRORS, parseAddress } from '../protocol/index.ts';
import type { AckErrorReason, AckStanza, ReceiptStanza } from '../protocol/index.ts';
import type { HubContext } from './context.ts';
import { providerRecipient } from './router.ts';
import type { Sender } from './router.ts';

export function handleReceipt(ctx: HubContext, sender: Sender, r: ReceiptStanza, ack: (a: AckStanza) => void): void {
  const base: AckStanza = { kind: 'ack', class: 'receipt', id: r.id };
  if (r.type !== 'delivery') base.type = r.type;
  if (r.to !== undefined) base.to = r.to;
  if (r.participant !== undefined) base.participant = r.participant;
  const nack = (reason: AckErrorReason): void => ack({ ...base, error: ACK_ERRORS[reason], reason });

  if (r.to === undefined || r.from !== undefined) return nack('bad-request');
  const to = parseAddress(r.to);
  if (to === undefined) return nack('bad-request');
  if (ctx.directory.providerUser(sender.jid)?.enlisted !== true) return nack('not-enlisted');
  if (to.kind === 'provider-user' || to.kind === 'provider-device') return nack(providerRecipient(ctx, r.to));
  if (to.kind !== 'hub-user') return nack('bad-request');
  const user = ctx.directory.hubUser(r.to);
  if (!ctx.directory.reachable(user, sender.provider)) return nack('not-opted-in');
  if (ctx.directory.isBlocked(user, sender.jid, sender.provider)) return nack('blocked');
  ack(base);

  const receivedAt = Date.now();
  ctx.faults.route(() => {
    if (r.type === 'retry') {
      ctx.sim.recordReceipt(user.jid, {
        id: r.id, from: sender.jid, type: 'retry', received_at_ms: receivedAt,
        ...(r.participant === undefined ? {} : { participant: r.participant }),
        ...(r.retry === undefined ? {} : { count: r.retry.count, t: r.retry.t }),
      });
      ctx.sim.answerRetry(user, sender.jid, r);
      return;
    }
    for (const id of [r.id, ...(r.list ?? [])]) {
      ctx.sim.recordReceipt(user.jid, { id, from: sender.jid, type: r.type, received_at_ms: receivedAt, ...(r.t === undefined ? {} : { t: r.t }) });
    }
  });
}
