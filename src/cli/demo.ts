// `causeway demo`: runs src/demo/ (the mock hub, Causeway with the webhook adapter and a demo
// provider, in this process, having a short end-to-end encrypted conversation), printing it.
import { Writable } from 'node:stream';
import { createLogger } from '../logging.ts';
import { parseCommandArgs, type CliIo } from './io.ts';
import { logLevelOption } from './log-options.ts';
import { USAGE } from './usage.ts';

export async function demoCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('demo', args, { 'log-level': { type: 'string' } }, 0);
  if (values.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  // Warnings and errors only by default: the conversation itself is the demo's output.
  const logger = createLogger({ level: logLevelOption('demo', values, 'warn'), pretty: true, name: 'demo', destination: io.stderr });
  const stdout = new Writable({
    write(chunk: Buffer | string, _encoding, done): void {
      io.stdout.write(String(chunk));
      done();
    },
  });
  const { runDemo } = await import('../demo/index.ts');
  return runDemo({ logger, stdout });
}
