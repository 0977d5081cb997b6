// The logging options shared by long-running commands: --log-level and --pretty/--json.
import type { LogLevel } from '../logging.ts';
import { UsageError, type CliIo, type ParsedArgs } from './io.ts';

const LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export function logLevelOption(command: string, values: ParsedArgs['values'], fallback: LogLevel = 'info'): LogLevel {
  const v = values['log-level'];
  if (v === undefined) return fallback;
  const level = LEVELS.find((l) => l === v);
  if (level === undefined) throw new UsageError(`${command}: --log-level must be one of ${LEVELS.join(', ')}`);
  return level;
}

/** --pretty or --json when given, else pretty when stdout is a terminal. */
export function prettyOption(values: ParsedArgs['values'], io: CliIo): boolean {
  if (values.pretty === true && values.json === true) throw new UsageError('--pretty and --json exclude each other');
  if (values.pretty === true) return true;
  if (values.json === true) return false;
  return (io.stdout as { isTTY?: boolean }).isTTY === true;
}
