import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';

/** Error raised when a test server cannot be built, found or started. */
export class TestEnvironmentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TestEnvironmentError';
  }
}

/** A free TCP port on 127.0.0.1, as the kernel hands it out right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new TestEnvironmentError('no port from the kernel'));
      });
    });
  });
}

/** A server process started for the test run, with its output going to a log file. */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Stops the process: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Starts a server process. Its stdin stays an open pipe: servers that watch stdin (our
 * kube-apiserver does) stop by themselves when this process dies without cleaning up.
 */
export function startProcess(options: StartOptions): ServerProcess {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(options.command, options.args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  return {
    child,
    logFile: options.logFile,
    async stop(graceMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      log.end();
    },
  };
}

/**
 * Resolves with the first stdout line that `parse` accepts; rejects when the process exits
 * first or `timeoutMs` passes, pointing at the log file.
 */
export function waitForLine<T>(
  server: ServerProcess,
  name: string,
  parse: (line: string) => T | undefined,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const finish = (error?: Error, value?: T) => {
      clearTimeout(timer);
      server.child.stdout?.off('data', onData);
      server.child.off('exit', onExit);
      if (error) reject(error);
      else resolve(value as T);
    };
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const value = parse(line);
        if (value !== undefined) return finish(undefined, value);
      }
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(
        new TestEnvironmentError(
          `${name} exited (code ${code}, signal ${signal}) before it was ready; see ${server.logFile}`,
        ),
      );
    const timer = setTimeout(
      () =>
        finish(
          new TestEnvironmentError(
            `${name} was not ready after ${timeoutMs / 1000}s; see ${server.logFile}`,
          ),
        ),
      timeoutMs,
    );
    server.child.stdout?.on('data', onData);
    server.child.once('exit', onExit);
  });
}

/** Polls `probe` until it resolves true, or fails after `timeoutMs`. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new TestEnvironmentError(`${what} did not happen within ${timeoutMs / 1000}s`, {
    cause: lastError,
  });
}

/** Runs a command to completion, capturing its output; rejects with that output on failure. */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.on('error', (error) =>
      reject(
        new TestEnvironmentError(`could not run ${command}: ${error.message}`, { cause: error }),
      ),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else
        reject(
          new TestEnvironmentError(
            `${command} ${args.join(' ')} failed with exit code ${code}:\n${output.slice(-4000)}`,
          ),
        );
    });
  });
}
