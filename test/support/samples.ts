import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.ts';

/** A real event sample from events/, parsed. */
export function eventSample(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(repoRoot, 'events', file), 'utf8'));
}
