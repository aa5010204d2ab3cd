import { join } from 'node:path';
import { ensureDir, logDir } from './paths.ts';
import { freePort, startProcess, waitUntil } from './processes.ts';
import { ensurePythonTool } from './python-tools.ts';

/** moto_server: the machine's, or the pinned release in a project-local virtual environment. */
export function ensureMotoServer(): Promise<string> {
  return ensurePythonTool({
    command: 'moto_server',
    requirement: 'moto[server]==5.2.1',
    overrideVariable: 'MOTO_SERVER',
    probeArgs: ['--help'],
  });
}

export interface RunningMoto {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Starts moto in server mode on a free loopback port and waits until it answers. */
export async function startMoto(command: string): Promise<RunningMoto> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const server = startProcess({
    name: 'moto',
    command,
    args: ['-H', '127.0.0.1', '-p', String(port)],
    logFile: join(ensureDir(logDir), 'moto.log'),
  });
  try {
    await waitUntil(
      `moto answering on ${endpoint} (log: ${server.logFile})`,
      async () => (await fetch(`${endpoint}/moto-api/data.json`)).ok,
      60_000,
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { endpoint, stop: () => server.stop() };
}
