// Shared assertions and hosts of the MediaService tests.
import { expect } from 'vitest';
import { mediaResponse } from '../../../src/mock-hub/media.ts';
import { MediaError, type MediaErrorCode } from '../../../src/media/errors.ts';
import { serveRaw, type Running } from './http.ts';

export async function refusedWith(p: Promise<unknown>, code: MediaErrorCode): Promise<MediaError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(MediaError);
  expect((err as MediaError).code).toBe(code);
  return err as MediaError;
}

/** Serves one blob with the mock hub's own hosting code (single-range support). */
export function mockHubHost(blob: Uint8Array): Promise<Running> {
  return serveRaw((req, res) => {
    void (async () => {
      const answer = mediaResponse(blob, req.headers.range);
      res.writeHead(answer.status, Object.fromEntries(answer.headers));
      res.end(Buffer.from(await answer.arrayBuffer()));
    })();
  });
}
