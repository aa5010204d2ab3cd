// Builds the construct's packages for the other jsii languages into dist-packages/ (python/,
// go/: the targets package.json's "jsii" names) with jsii-pacmak, which packs the npm package
// first (prepack: the bundles and the jsii build). Needs Python 3 with venv, and Go. The
// package test builds and uses the Python one.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
execFileSync(join(root, 'node_modules', '.bin', 'jsii-pacmak'), ['--no-npmignore'], {
  cwd: root,
  stdio: 'inherit',
});
