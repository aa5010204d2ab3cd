/**
 * What the test support's HTTP stand-ins in front of moto share: listening on a free loopback
 * port, and passing a request on to the service behind them unchanged.
 */
import { type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';

/** Listens on a free loopback port; resolves with the server's endpoint. */
export async function listenOnLoopback(server: Server, name: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error(`${name} has no address`);
  return `http://127.0.0.1:${address.port}`;
}

/** Passes a request on to `target` as it came, and its answer back; 502 when it cannot. */
export function forwardRequest(
  req: IncomingMessage,
  body: Buffer,
  res: ServerResponse,
  target: URL,
  name: string,
): void {
  const call = request(
    {
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  call.on('error', (error) => {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`${name} could not reach ${target.origin}: ${error.message}`);
  });
  call.end(body);
}
