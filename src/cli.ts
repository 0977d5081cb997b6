// The `causeway` command (bin/causeway.js calls main). Each command lives in src/cli/; this module
// dispatches, and turns failures into exit codes: 0 ok, 1 failure (e.g. an invalid config, printed
// one issue per line), 2 bad command line (printed with a pointer to `causeway help`).
import { ConfigError } from './config/errors.ts';
import { checkConfigCommand } from './cli/check-config.ts';
import { demoCommand } from './cli/demo.ts';
import { UsageError, type CliIo } from './cli/io.ts';
import { mockHubCommand } from './cli/mock-hub.ts';
import { startCommand } from './cli/start.ts';
import { keygenCommand } from './cli/keygen.ts';
import { keysCommand } from './cli/keys.ts';
import { deadLettersCommand } from './cli/dead-letters.ts';
import { matrixRegistrationCommand } from './cli/matrix-registration.ts';
import { USAGE } from './cli/usage.ts';

export type { CliIo, Output } from './cli/io.ts';

type Command = (args: string[], io: CliIo) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  start: startCommand,
  'check-config': checkConfigCommand,
  'mock-hub': mockHubCommand,
  demo: demoCommand,
  keygen: keygenCommand,
  keys: keysCommand,
  'dead-letters': deadLettersCommand,
  'matrix-registration': matrixRegistrationCommand,
};

/** Runs one command; resolves with the exit code. Streams default to the process's own. */
export async function main(argv: string[], io: Partial<CliIo> = {}): Promise<number> {
  const full: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, ...io };
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      full.stdout.write(USAGE);
      return 0;
    }
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (command === undefined) throw new UsageError(name.startsWith('-') ? `unknown option "${name}"` : `unknown command "${name}"`);
    return await command(rest, full);
  } catch (err) {
    if (err instanceof UsageError) {
      full.stderr.write(`causeway: ${err.message}\nRun "causeway help" for usage.\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      full.stderr.write(`${err.format()}\n`);
      return 1;
    }
    // Anything else is a failure of the command itself (a port in use…): its message, and the
    // stack only when asked for.
    const detail = err instanceof Error ? (full.env.CAUSEWAY_DEBUG ? (err.stack ?? err.message) : err.message) : String(err);
    full.stderr.write(`causeway ${name}: ${detail}\n`);
    return 1;
  }
}
