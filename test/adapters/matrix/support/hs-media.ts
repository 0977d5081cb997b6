// Test homeserver: the media repository. Upload (`POST /_matrix/media/v3/upload`, authenticated,
// appservice masquerading with `user_id`, a size limit answered 413 M_TOO_LARGE), the config
// (`m.upload.size`), and downloads on the authenticated endpoint (Matrix 1.11,
// `/_matrix/client/v1/media/download`) and the legacy one (`/_matrix/media/v3/download`, no
// authentication). `legacyOnly` makes the authenticated one unknown (404 M_UNRECOGNIZED), as on an
// older homeserver; `downloads` records which endpoint served which media id.
import { randomBytes } from 'node:crypto';
import { Binary, MatrixError, type Ctx, type Router } from './hs-http.ts';
import type { HsState } from './hs-state.ts';

export interface MediaRepo {
  /** Largest upload accepted, bytes. */
  maxUploadBytes: number;
  /** The authenticated download endpoint is not served (an older homeserver). */
  legacyOnly: boolean;
  readonly downloads: Array<{ id: string; endpoint: 'v1' | 'v3'; userId?: string }>;
}

export function mediaRoutes(r: Router, s: HsState): MediaRepo {
  const repo: MediaRepo = { maxUploadBytes: 50 * 1024 * 1024, legacyOnly: false, downloads: [] };
  const config = () => ({ 'm.upload.size': repo.maxUploadBytes });
  r.on('GET', '/_matrix/client/v1/media/config', (c) => {
    c.caller();
    return config();
  });
  r.on('GET', '/_matrix/media/v3/config', config);

  r.on('POST', '/_matrix/media/v3/upload', (c) => {
    const caller = c.caller();
    if (c.raw.length > repo.maxUploadBytes) throw new MatrixError(413, 'M_TOO_LARGE', `over ${repo.maxUploadBytes} bytes`);
    const id = randomBytes(12).toString('base64url');
    const filename = c.query.get('filename') ?? undefined;
    s.media.set(id, { type: String(c.headers['content-type'] ?? 'application/octet-stream'), data: c.raw, uploader: caller.userId, ...(filename ? { filename } : {}) });
    return { content_uri: `mxc://${s.server}/${id}` };
  });

  const serve = (c: Ctx, endpoint: 'v1' | 'v3', userId?: string): Binary => {
    if (c.params[0] !== s.server) throw new MatrixError(404, 'M_NOT_FOUND', 'no such media (remote server)');
    const id = c.params[1] as string;
    const m = s.media.get(id);
    if (!m) throw new MatrixError(404, 'M_NOT_FOUND', 'no such media');
    repo.downloads.push({ id, endpoint, ...(userId ? { userId } : {}) });
    return new Binary(m.type, m.data);
  };
  const v1 = (c: Ctx): Binary => {
    if (repo.legacyOnly) throw new MatrixError(404, 'M_UNRECOGNIZED', 'unrecognized request');
    return serve(c, 'v1', c.caller().userId);
  };
  const v3 = (c: Ctx): Binary => serve(c, 'v3');
  r.on('GET', '/_matrix/client/v1/media/download/{server}/{id}', v1);
  r.on('GET', '/_matrix/client/v1/media/download/{server}/{id}/{name}', v1);
  r.on('GET', '/_matrix/media/v3/download/{server}/{id}', v3);
  r.on('GET', '/_matrix/media/v3/download/{server}/{id}/{name}', v3);
  return repo;
}
