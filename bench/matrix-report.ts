// The Matrix path's lines in the bench output and its target (docs/benchmarks.md, "Matrix"): the
// path rate beside the raw Megolm decrypt rate of the same run, their ratio against 0.8.
import type { MatrixFigures } from './matrix.ts';

const n0 = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—');
const n2 = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : '—');
const pct = (v: number): string => `${(v * 100).toFixed(0)}%`;

/** What the target leaves per message, on one thread, beside the two cryptographic steps. */
function leftOver(m: MatrixFigures): string {
  const left = 1e6 / (0.8 * m.ceiling.median) - (m.ceiling.usPerMsg + m.signalEncrypt.usPerMsg);
  const crypto = `the Megolm decrypt and the libsignal encrypt alone take ${n0(m.ceiling.usPerMsg + m.signalEncrypt.usPerMsg)} µs/msg on one thread`;
  return left > 0
    ? `${crypto}: the target leaves ${n0(left)} µs/msg for all the rest — Redis, sealing at rest, device state, the hub send`
    : `${crypto}: more than the target allows before any other work`;
}

export function matrixTarget(m: MatrixFigures | undefined): { name: string; met: boolean | undefined; detail: string } {
  const name = 'Matrix path ≥ 0.8 × raw Megolm decrypt';
  if (!m) return { name, met: undefined, detail: 'not run (--matrix 0)' };
  const need = 0.8 * m.ceiling.median;
  const incomplete = m.path.samples.some((s) => !s.complete);
  return {
    name,
    met: !incomplete && m.path.rate >= need,
    detail: `${n0(m.path.rate)} msg/s = ${n2(m.ratio)} × ${n0(m.ceiling.median)}; needs ${n0(need)}${incomplete ? ' (a sample did not complete)' : ''} (${leftOver(m)})`,
  };
}

export function matrixLines(m: MatrixFigures): string[] {
  const p = m.path;
  const s = p.split;
  return [
    `Matrix (in the bench process, one thread; ${m.portals} encrypted portals, transactions of ${m.txnEvents} events)   msg/s   spread`,
    `  send_statuses: ${m.sendStatuses.setting} (${m.sendStatuses.isDefault ? 'the default' : 'NOT the default'}${m.sendStatuses.setting === 'all' ? ': a SUCCESS send-status event per message, encrypted into the portal' : ': no send-status event for a message that succeeds'})`,
    `  raw Megolm decrypt (matrix-sdk-crypto-wasm decryptRoomEvent)   ${n0(m.ceiling.median).padStart(8)}   ${pct(m.ceiling.spread).padStart(6)}   (${n0(m.ceiling.usPerMsg)} µs/msg)`,
    `  the same, receiver store on fake-indexeddb (as the bridge's)   ${n0(m.ceilingIdb.median).padStart(8)}            (${n0(m.ceilingIdb.usPerMsg)} µs/msg)`,
    `  ${'libsignal encrypt, same thread (in-memory stores)'.padEnd(64)}${n0(m.signalEncrypt.median).padStart(8)}            (${n0(m.signalEncrypt.usPerMsg)} µs/msg)`,
    `  ${'one Megolm decrypt + one libsignal encrypt, nothing else'.padEnd(64)}${n0(m.cryptoBound.rate).padStart(8)}            ratio ${n2(m.cryptoBound.ratio)} (the most one thread could bridge)`,
    `  Matrix event in → hub device out                               ${n0(p.rate).padStart(8)}   ${pct(p.spread).padStart(6)}   ratio ${n2(m.ratio)} (target 0.80)`,
    `  transactions handled (decrypted, in the core's outbox)         ${n0(p.ingestRate).padStart(8)}`,
    `  CPU µs/msg: bench process ${n0(p.cpuUsPerMsg.bench)}, redis ${n0(p.cpuUsPerMsg.redis)}`,
    `  wall µs/msg: transaction handler ${n0(s.handlerUs)}; summed over overlapping calls: decrypt ${n0(s.decryptUs)}, core.submit(Many) ${n0(s.submitUs)}, device-state flushes ${n0(s.persistUs)} (send statuses' included)`,
  ];
}
