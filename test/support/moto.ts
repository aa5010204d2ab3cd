import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, ensureDir, logDir } from './paths.ts';
import { freePort, run, startProcess, TestEnvironmentError, waitUntil } from './processes.ts';

/** The moto release the project-local virtual environment installs when the machine has none. */
export const pinnedMotoRequirement = 'moto[server]==5.2.1';

const venvDir = join(cacheDir, 'moto-venv');
const venvMotoServer = join(venvDir, 'bin', 'moto_server');

export interface RunningMoto {
  readonly endpoint: string;
  stop(): Promise<void>;
}

async function works(command: string): Promise<boolean> {
  try {
    await run(command, ['--help']);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds a moto_server to run: `MOTO_SERVER` if set, else the machine's, else one installed
 * into a project-local virtual environment with the pinned version.
 */
export async function ensureMotoServer(): Promise<string> {
  const configured = process.env.MOTO_SERVER;
  if (configured) {
    if (await works(configured)) return configured;
    throw new TestEnvironmentError(`MOTO_SERVER=${configured} does not run (tried --help)`);
  }
  if (await works('moto_server')) return 'moto_server';
  if (existsSync(venvMotoServer) && (await works(venvMotoServer))) return venvMotoServer;

  process.stderr.write(`installing ${pinnedMotoRequirement} into ${venvDir}...\n`);
  try {
    await run('python3', ['-m', 'venv', venvDir]);
  } catch (error) {
    throw new TestEnvironmentError(
      'the integration tests need the moto AWS emulator: no moto_server was found and ' +
        '`python3 -m venv` failed. Install Python 3.9+ with venv (or moto itself: ' +
        `pip install '${pinnedMotoRequirement}') and run the tests again.`,
      { cause: error },
    );
  }
  try {
    await run(join(venvDir, 'bin', 'pip'), ['install', '--quiet', pinnedMotoRequirement]);
  } catch (error) {
    throw new TestEnvironmentError(
      `installing ${pinnedMotoRequirement} from PyPI failed; check that PyPI is reachable ` +
        `(or install it yourself and set MOTO_SERVER to its moto_server)`,
      { cause: error },
    );
  }
  return venvMotoServer;
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
