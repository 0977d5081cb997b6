// Two holders of one lane that both encrypt the same message (the first one's lease expired while
// it encrypted, or its ack was late): the frame stored first stays. It may already be at the hub,
// which keeps the accepted stanza and answers a different body under its id with `id-reused`, so
// the stored frame is what every resend must carry (spec 4: byte-identical). The frame is written
// by the Signal unit's COMMIT as a "set if absent" write (UnitWrites `nx`), in the same script.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Staged } from '../../src/crypto/unit-writes.ts';
import { encryptMessage } from '../../src/delivery/encrypt-message.ts';
import type { HubConnection } from '../../src/hub/connection.ts';
import { buildStanza } from '../../src/protocol/index.ts';
import { frameRig, LOCAL, USER } from './frame-rig.ts';

const rig = frameRig();
const { edge, outbox, store, deviceList: devices, storedFrame } = rig;
const conn = {} as HubConnection; // every device has a session: no bundle fetch

beforeAll(() => rig.start());
afterAll(() => rig.close());

describe('the stored frame of a message encrypted twice', () => {
  it('is the first one: the second encrypt (another holder of the lane) does not overwrite it', async () => {
    const r = await rig.queued();
    const frames: string[] = [];
    for (let i = 0; i < 2; i++) {
      await encryptMessage(conn, edge, store, LOCAL, r, devices, (m) => {
        const f = buildStanza(m);
        frames.push(f);
        return outbox.frameWrites(USER, r.id, f);
      });
    }
    expect(frames).toHaveLength(2);
    expect(frames[1]).not.toBe(frames[0]); // a second ratchet step: a different body
    expect(await storedFrame(r.id)).toBe(frames[0]);
    // After a 409 the frame is dropped on purpose (the id is unused): the next encrypt stores its own.
    await outbox.dropFrame(USER, r.id);
    await encryptMessage(conn, edge, store, LOCAL, r, devices, (m) => outbox.frameWrites(USER, r.id, (frames[2] = buildStanza(m))));
    expect(await storedFrame(r.id)).toBe(frames[2]);
  });

  it('a set-if-absent hash write is checked and encoded apart from a plain HSET', () => {
    const s = new Staged();
    s.add({ hashes: [{ key: 'a', fields: { f: 'v' } }, { key: 'b', fields: { g: 'w', h: 'x' }, ttlS: 5, nx: true }] });
    expect(s.keys).toEqual(['a', 'b']);
    expect(s.args).toEqual(['h', '1', '0', 'f', 'v', 'n', '2', '5', 'g', 'w', 'h', 'x']);
  });
});
