// `causeway demo` end to end: capture what it prints and check the conversation.
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../src/demo/index.ts';

describe('runDemo', () => {
  it('prints the conversation with receipts and returns 0', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => {
      text += c.toString('utf8');
    });
    const code = await runDemo({ stdout: out, logger: pino({ level: 'silent' }) });
    const lines = text.split('\n');
    expect(code, text).toBe(0);
    expect(lines).toContain('alice → Ada: Hello from BirdyChat  [queued]');
    expect(lines).toContain('Ada → alice: echo: Hello from BirdyChat');
    expect(lines).toContain('alice → Ada: Can you read this, Ada?  [queued]');
    expect(lines).toContain('Ada → alice: echo: Can you read this, Ada?');
    for (const step of ['sent to the hub ✓', 'delivered to Ada ✓✓', 'read by Ada ✓✓', 'read by alice ✓✓']) {
      expect(lines.filter((l) => l.trim() === step), step).toHaveLength(2);
    }
    const at = (l: string) => lines.indexOf(l);
    expect(at('alice → Ada: Hello from BirdyChat  [queued]')).toBeLessThan(at('Ada → alice: echo: Hello from BirdyChat'));
    expect(at('Ada → alice: echo: Hello from BirdyChat')).toBeLessThan(at('alice → Ada: Can you read this, Ada?  [queued]'));
    expect(text).toMatch(/^Mock hub listening on http:\/\/127\.0\.0\.1:\d+ /);
    expect(text).toContain('every webhook the provider received carried a valid signature');
    expect(text).not.toContain('Demo failed');
  });

  it('returns 1 and says why when a step fails', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => {
      text += c.toString('utf8');
    });
    // A stream that breaks on the first conversation line makes a step fail after the hub started.
    const broken = new PassThrough();
    broken.on('data', (c: Buffer) => {
      out.write(c);
    });
    const origWrite = broken.write.bind(broken);
    broken.write = ((chunk: string) => {
      if (chunk.startsWith('alice → Ada')) throw new Error('terminal went away');
      return origWrite(chunk);
    }) as typeof broken.write;
    const code = await runDemo({ stdout: broken, logger: pino({ level: 'silent' }) });
    expect(code).toBe(1);
    expect(text).toContain('Demo failed: terminal went away');
  });
});
