import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Built test servers and the moto virtual environment: kept between runs, never committed. */
export const cacheDir = join(repoRoot, '.cache');

/** Server logs of the latest test run, kept after the run for whoever reads a failure. */
export const logDir = join(cacheDir, 'logs');

export function ensureDir(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}
