// `causeway demo` end to end: capture what it prints and check the conversation.
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../src/demo.ts';

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
    expect(lines).toContain('alice → Ada: Hello from BirdyChat  [sent ✓]');
    expect(lines).toContain('Ada → alice: echo: Hello from BirdyChat');
    expect(lines).toContain('alice → Ada: Can you read this, Ada?  [sent ✓]');
    expect(lines).toContain('Ada → alice: echo: Can you read this, Ada?');
    expect(lines.filter((l) => l.trim() === 'delivered to Ada ✓✓')).toHaveLength(2);
    expect(lines.filter((l) => l.trim() === 'read by Ada ✓✓')).toHaveLength(2);
    expect(lines.indexOf('alice → Ada: Hello from BirdyChat  [sent ✓]')).toBeLessThan(lines.indexOf('Ada → alice: echo: Hello from BirdyChat'));
    expect(lines.indexOf('Ada → alice: echo: Hello from BirdyChat')).toBeLessThan(lines.indexOf('alice → Ada: Can you read this, Ada?  [sent ✓]'));
    expect(text).toMatch(/^Mock hub listening on http:\/\/127\.0\.0\.1:\d+ /);
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
