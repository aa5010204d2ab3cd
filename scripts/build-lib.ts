// Compiles the construct with jsii (npm run build:lib, run by prepack): lib/ (CommonJS and
// declarations) and .jsii, the assembly jsii-pacmak makes the Python and Go packages from.
// The repository is ES modules ("type": "module"), so lib/ gets a package.json of its own that
// says CommonJS: Node.js, and jsii's runtime in the other languages, then load lib/ as jsii made it.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
rmSync(join(root, 'lib'), { recursive: true, force: true });
execFileSync(
  join(root, 'node_modules', '.bin', 'jsii'),
  [
    '--fail-on-warnings',
    // jsii would have the devDependency on aws-cdk-lib be the peer range's lowest (2.269.0); the
    // repository builds with a newer one, and the package test proves the lowest itself.
    '--silence-warnings=metadata/missing-dev-dependency',
  ],
  { cwd: root, stdio: 'inherit' },
);
writeFileSync(join(root, 'lib', 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
