#!/usr/bin/env node
// In the repository the command line runs the TypeScript sources directly, which Node.js does
// from 22.18 on (type stripping); the installed package carries the bundle of the same code
// (dist/cli/main.mjs), because Node.js strips no types under node_modules.
import { existsSync } from 'node:fs';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `ebs-volume-remediator needs Node.js 22.18 or newer (24 recommended); this is ${process.version}.\n` +
      'Inside the project, `npx ebs-volume-remediator` uses the Node.js 24 that `npm ci` installed.\n',
  );
  process.exit(2);
}
const sources = new URL('../cli/main.ts', import.meta.url);
const { main } = await import(existsSync(sources) ? sources.href : '../dist/cli/main.mjs');
process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
