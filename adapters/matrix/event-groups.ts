// The room events of a transaction, split into groups that may be handled concurrently: two
// events are in the same group when they share a room or a sender (directly or through other
// events), and a group keeps the transaction's order. So the events of one room keep their order,
// and so do one user's events across rooms (an opt-in command in the management room before a
// message in a portal), while different users' conversations overlap (one decrypts while another
// waits for Redis or the core).

type Json = Record<string, unknown>;

/** Groups of events, each in transaction order; groups ordered by their first event. */
export function groupEvents(events: Json[]): Json[][] {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r) as string;
    for (let y = x; y !== r; ) {
      const next = parent.get(y) as string;
      parent.set(y, r);
      y = next;
    }
    return r;
  };
  const add = (x: string): void => {
    if (!parent.has(x)) parent.set(x, x);
  };
  const keysOf = (ev: Json): string[] => {
    const k: string[] = [];
    if (typeof ev.room_id === 'string') k.push(`r ${ev.room_id}`);
    if (typeof ev.sender === 'string') k.push(`s ${ev.sender}`);
    return k;
  };
  for (const ev of events) {
    const k = keysOf(ev);
    for (const x of k) add(x);
    for (let i = 1; i < k.length; i++) parent.set(find(k[i] as string), find(k[0] as string));
  }
  const groups = new Map<string, Json[]>();
  const loose: Json[] = [];
  for (const ev of events) {
    const k = keysOf(ev);
    if (k.length === 0) {
      loose.push(ev); // neither room nor sender: ignored by the handler, kept in order anyway
      continue;
    }
    const root = find(k[0] as string);
    let g = groups.get(root);
    if (!g) groups.set(root, (g = []));
    g.push(ev);
  }
  return loose.length > 0 ? [...groups.values(), loose] : [...groups.values()];
}

/**
 * Handles the groups, up to `parallel` at a time (`handle` takes a group's events in order). Every
 * group runs to its end even when another fails; then the first failure is thrown.
 */
export async function handleGroups(groups: Json[][], parallel: number, handle: (group: Json[]) => Promise<unknown>): Promise<void> {
  let next = 0;
  const failures: unknown[] = [];
  const worker = async (): Promise<void> => {
    for (let g = groups[next++]; g !== undefined; g = groups[next++]) {
      try {
        await handle(g);
      } catch (err) {
        failures.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, groups.length)) }, worker));
  if (failures.length > 0) throw failures[0];
}
