// What a CLI command receives: output streams (injectable so that tests run `main()` in-process),
// the environment, an optional stop signal for long-running commands, and the adapter schema
// registry. Also the usage error (exit 2) and argument parsing shared by the commands.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { AdapterSchemaRegistry } from '../config/adapters.ts';

/** Anything with `write(text)`: process.stdout, or a buffer in tests. */
export interface Output {
  write(text: string): unknown;
}

export interface CliIo {
  stdout: Output;
  stderr: Output;
  env: NodeJS.ProcessEnv;
  /** Stops long-running commands (mock-hub); without it they stop on SIGINT/SIGTERM. */
  signal?: AbortSignal;
  /** Adapter type → config schema; discovered under adapters/ when not given. */
  adapterSchemas?: AdapterSchemaRegistry;
}

/** Bad command line: printed with a pointer to `causeway help`, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Strict parseArgs for one command: unknown options, missing option values and positionals beyond
 * `maxPositionals` are usage errors.
 */
export function parseCommandArgs(command: string, args: string[], options: ParseArgsOptionsConfig, maxPositionals: number): ParsedArgs {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${command}: ${(err as Error).message}`);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`${command}: unexpected argument "${parsed.positionals[maxPositionals]}"`);
  }
  return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals };
}

/** A string option's value (parseArgs guarantees the type for `type: 'string'`). */
export function stringOption(values: ParsedArgs['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** Resolves with what stopped us: the injected signal, or SIGINT/SIGTERM. */
export function waitForStop(signal: AbortSignal | undefined): Promise<string> {
  return new Promise((resolve) => {
    if (signal !== undefined) {
      if (signal.aborted) resolve('stop requested');
      else signal.addEventListener('abort', () => resolve('stop requested'), { once: true });
      return;
    }
    const onSignal = (name: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(name);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
