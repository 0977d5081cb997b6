// How a connector hands several messages to the core: one `submitMany` when the core has it
// (optional in the contract, adapters/contract.ts), else one `submit` each, in order, with the
// core's SubmitError turned into the same per-message refusal. Shared by the webhook adapter's
// batch route and the Matrix adapter's transactions.
import type { CoreApi, OutboundMessage, SubmitOutcome } from './contract.ts';

/**
 * One `submitMany` for several messages; `submit` for a lone one, or for each when the core has
 * no batch call — then a failure (not a refusal) stops there: `outcomes` are those of the messages
 * before it, and `error` is the failure.
 */
export async function submitAll(core: CoreApi, adapterId: string, ms: OutboundMessage[]): Promise<{ outcomes: SubmitOutcome[]; error?: unknown }> {
  if (ms.length > 1 && core.submitMany) {
    const outcomes = await core.submitMany(adapterId, ms);
    if (outcomes.length !== ms.length) throw new Error(`core.submitMany answered ${outcomes.length} outcomes for ${ms.length} messages`);
    return { outcomes };
  }
  const outcomes: SubmitOutcome[] = [];
  for (const m of ms) {
    try {
      outcomes.push(await core.submit(adapterId, m));
    } catch (err) {
      // The core's SubmitError (src/core.ts), recognized by shape: adapters depend on the contract only.
      if (!(err instanceof Error) || err.name !== 'SubmitError') return { outcomes, error: err };
      outcomes.push({ refused: { field: (err as Error & { field?: string }).field ?? 'message', message: err.message } });
    }
  }
  return { outcomes };
}
