// A Lua script run by its SHA1 (EVALSHA: the text is not sent each time), loaded with one EVAL
// when Redis does not know it (NOSCRIPT after a restart or SCRIPT FLUSH). Replies come back with
// Buffers for bulk strings (sealed blobs are binary), numbers and arrays as they are.
//
// Through ioredis's evalshaBuffer/evalBuffer (present at run time, not in its types), not
// callBuffer: callBuffer loses its command name on a connection with enableAutoPipelining (the
// sidecar's main connection has it).
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

type Eval = (script: string, numKeys: number, ...keysAndArgs: Array<string | number | Buffer>) => Promise<unknown>;
type EvalBuffers = { evalshaBuffer: Eval; evalBuffer: Eval };

export class RedisScript {
  readonly source: string;
  readonly sha: string;

  constructor(source: string) {
    this.source = source;
    this.sha = createHash('sha1').update(source, 'utf8').digest('hex');
  }

  async run(redis: Redis, keys: string[], args: Array<string | number | Buffer>): Promise<unknown> {
    const r = redis as unknown as EvalBuffers;
    try {
      return await r.evalshaBuffer(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return r.evalBuffer(this.source, keys.length, ...keys, ...args);
    }
  }
}
