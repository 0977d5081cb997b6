// Hub users for the conformance suite, made through the control API: a fresh number, its devices,
// its third-party setting and its script (docs/mock-hub.md, "control API").
import type { Script, ThirdParty } from './control.ts';
import { freshPhone } from './names.ts';
import type { HubTarget } from './target.ts';

export interface HubUser {
  phone: string;
  jid: string;
  devices: number[];
}

export async function createHubUser(
  t: HubTarget,
  o: { devices?: number[]; thirdParty?: ThirdParty; script?: Script; name?: string } = {},
): Promise<HubUser> {
  const phone = freshPhone();
  const body: Parameters<HubTarget['control']['createUser']>[0] = { phone };
  if (o.name !== undefined) body.name = o.name;
  if (o.devices !== undefined) body.devices = o.devices;
  body.third_party = o.thirdParty ?? { enabled: true, providers: ['*'] };
  // Quiet by default: tests that want receipts or echoes say so.
  body.script = { echo: false, receipts: false, read: false, delay_ms: 0, ...o.script };
  const r = await t.control.createUser(body);
  return { phone, jid: r.jid, devices: r.devices };
}
