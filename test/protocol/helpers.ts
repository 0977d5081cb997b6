// Shared assertions for the protocol tests.
import { expect } from 'vitest';
import { ProtocolError } from '../../src/protocol/index.ts';
import type { ProtocolErrorCode } from '../../src/protocol/index.ts';

/** Runs fn, asserts it throws a ProtocolError with `code` (and root/id when given), returns the error. */
export function expectProtocolError(fn: () => unknown, code: ProtocolErrorCode, where: { root?: string; id?: string } = {}): ProtocolError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a ProtocolError').toBeInstanceOf(ProtocolError);
  const err = caught as ProtocolError;
  expect({ code: err.code, message: err.message }).toMatchObject({ code });
  if ('root' in where) expect(err.root).toBe(where.root);
  if ('id' in where) expect(err.id).toBe(where.id);
  return err;
}
