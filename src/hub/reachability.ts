// Readiness probe for the hub: can a TCP connection to the hub's WebSocket endpoint be made now?
// (A full HIP/1 open needs a user; reachability is what ops want from /readyz.)
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export function probeHub(hubUrl: string, timeoutMs = 2000): Promise<void> {
  const u = new URL(hubUrl);
  const secure = u.protocol === 'wss:';
  const port = Number(u.port || (secure ? 443 : 80));
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket = secure ? tlsConnect({ host, port, servername: host }) : connect({ host, port });
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error(`hub ${u.host} did not answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once(secure ? 'secureConnect' : 'connect', () => done());
    socket.once('error', (err) => done(new Error(`hub ${u.host} unreachable: ${err.message}`)));
  });
}
