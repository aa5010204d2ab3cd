import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readmePath, withTables } from '#scripts/readme-tables.ts';

describe("README's generated tables", () => {
  it('are in step with the contracts they are written from (npm run docs writes them)', () => {
    const readme = readFileSync(readmePath, 'utf8');

    expect(readme).toBe(withTables(readme));
  });
});
