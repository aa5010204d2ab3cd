#!/usr/bin/env node
// The command line runs the project's TypeScript sources directly, which Node.js does from
// 22.18 on (type stripping); the Lambda functions and the tests use Node.js 24.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `ebs-volume-remediator needs Node.js 22.18 or newer (24 recommended); this is ${process.version}.\n` +
      'Inside the project, `npx ebs-volume-remediator` uses the Node.js 24 that `npm ci` installed.\n',
  );
  process.exit(2);
}
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
