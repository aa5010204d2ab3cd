/**
 * Invokes a built function bundle (dist/<name>/index.mjs) in a fresh Node.js process, as the
 * Lambda runtime would, through invoke-bundle.ts. Used by the bundle test, the demo and the
 * benchmarks.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.ts';

export interface BundleInvocation {
  /**
   * Every stdout line, parsed as JSON where it is (log lines, EMF metrics), else `{ raw }`; then
   * the JSON lines of stderr (error log lines).
   */
  readonly lines: ReadonlyArray<Record<string, unknown>>;
  /** What the handler returned; undefined when it threw or the process failed. */
  readonly result: unknown;
  /** The error the handler threw, by name and message. */
  readonly error?: { readonly name: string; readonly message: string };
  /** The most memory the process held. */
  readonly maxRssKiB?: number;
  readonly stderr: string;
}

function bundleCommand(name: string): string[] {
  return [
    join(repoRoot, 'test/support/invoke-bundle.ts'),
    join(repoRoot, 'dist', name, 'index.mjs'),
  ];
}

export function invokeBundle(
  name: string,
  event: unknown,
  env: Record<string, string>,
): BundleInvocation {
  const child = spawnSync(process.execPath, bundleCommand(name), {
    input: JSON.stringify(event),
    // Only what is given: the function sees the environment Lambda would give it.
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 600_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  return parseInvocation(child.stdout, child.stderr);
}

/** Like invokeBundle, without blocking this process while the function runs. */
export function invokeBundleAsync(
  name: string,
  event: unknown,
  env: Record<string, string>,
): Promise<BundleInvocation> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, bundleCommand(name), {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', () => resolve(parseInvocation(stdout, stderr)));
    child.stdin.end(JSON.stringify(event));
  });
}

function parseInvocation(stdout: string, stderr: string): BundleInvocation {
  const raw = stdout.split('\n').filter(Boolean);
  const tagged = (tag: string) => {
    const line = raw.find((l) => l.startsWith(`${tag} `));
    return line === undefined ? undefined : JSON.parse(line.slice(tag.length + 1));
  };
  const parsed = (line: string): Record<string, unknown> => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return { raw: line };
    }
  };
  // Lambda sends both streams to the function's log; Powertools writes errors to stderr.
  const errorLogLines = stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map(parsed);
  return {
    lines: [...raw.map(parsed), ...errorLogLines],
    result: tagged('RESULT'),
    ...(tagged('ERROR') ? { error: tagged('ERROR') } : {}),
    ...(tagged('USAGE') ? { maxRssKiB: tagged('USAGE').maxRssKiB as number } : {}),
    stderr,
  };
}

/** The handler's result, or an error that says why there is none. */
export function resultOf(name: string, invocation: BundleInvocation): unknown {
  if (invocation.result === undefined) {
    const why = invocation.error
      ? `${invocation.error.name}: ${invocation.error.message}`
      : 'no result';
    throw new Error(`${name} failed: ${why}\n${invocation.stderr.slice(-2000)}`);
  }
  return invocation.result;
}
