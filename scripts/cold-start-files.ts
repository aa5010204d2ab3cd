/**
 * The files a bundle loads when it is imported: its entry and every chunk reached through static
 * imports, not the chunks it imports only on first use (`import("./chunks/...")`). What a cold
 * start reads and compiles.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** `import{a as b}from"./chunks/x.mjs"` and `import"./chunks/x.mjs"`, as esbuild writes them. */
const staticImport = /\bimport\s*(?:[\w$\s{},*]*?\bfrom\s*)?"(\.\.?\/[^"]+\.mjs)"/g;

export function coldStartFiles(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const [, relative] of readFileSync(file, 'utf8').matchAll(staticImport)) {
      if (relative) visit(join(dirname(file), relative));
    }
  };
  visit(entry);
  return [...seen];
}

export function coldStartBytes(entry: string): number {
  return coldStartFiles(entry).reduce((sum, file) => sum + statSync(file).size, 0);
}
