/**
 * A switch, served on localhost by global setup, that lets a test take the control plane's CSI
 * controller (external-attacher and CSI plugin) down and bring it back: the processes belong to
 * global setup, the test runs in a worker. `POST /csi-controller/stop` and `/start`.
 *
 * Only tests of the `outage` project use it: vitest runs that project apart from every other
 * (vitest.config.ts), so an outage never delays another test's attach.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OutageSwitchTargets {
  stopCsiController(): Promise<void>;
  startCsiController(): Promise<void>;
}

export async function startOutageSwitch(
  targets: OutageSwitchTargets,
): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const routes: Record<string, () => Promise<void>> = {
    'POST /csi-controller/stop': targets.stopCsiController,
    'POST /csi-controller/start': targets.startCsiController,
  };
  const server = createServer((req, res) => {
    const route = Object.hasOwn(routes, `${req.method} ${req.url}`)
      ? routes[`${req.method} ${req.url}`]
      : undefined;
    if (!route) {
      res.writeHead(404).end(`no such switch: ${req.method} ${req.url}`);
      return;
    }
    route().then(
      () => res.writeHead(204).end(),
      (error: unknown) => res.writeHead(500).end(String(error)),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Takes the CSI controller down (`stop`) or brings it back (`start`); resolves once done. */
export async function switchCsiController(endpoint: string, to: 'stop' | 'start'): Promise<void> {
  const response = await fetch(`${endpoint}/csi-controller/${to}`, { method: 'POST' });
  if (!response.ok) {
    throw new Error(
      `the outage switch could not ${to} the CSI controller: ${await response.text()}`,
    );
  }
}
