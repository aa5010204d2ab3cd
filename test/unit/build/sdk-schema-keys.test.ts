import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { withLiteralKeys } from '#scripts/sdk-schema-keys.ts';

describe('literal keys in the AWS SDK schemas', () => {
  it('writes a computed key of a string constant as that string, and leaves everything else', () => {
    const source = [
      'const _eQN = "ec2QueryName";',
      'const _m = "min";',
      'export var A$ = [3, n0, _A, 0, [_M, _m], [[1, { [_eQN]: `Min`, [_other]: 1 }]]];',
    ].join('\n');

    expect(withLiteralKeys(source)).toBe(
      [
        'const _eQN = "ec2QueryName";',
        'const _m = "min";',
        'export var A$ = [3, n0, _A, 0, [_M, _m], [[1, { "ec2QueryName": `Min`, [_other]: 1 }]]];',
      ].join('\n'),
    );
  });

  it('leaves no computed key in the schemas of the EC2 client the functions bundle', () => {
    const require = createRequire(import.meta.url);
    const schemas = require
      .resolve('@aws-sdk/client-ec2')
      .replace(/dist-cjs[\\/]index\.js$/, 'dist-es/schemas/schemas_0.js');
    const source = readFileSync(schemas, 'utf8');
    expect(source).toMatch(/\[_\w+\]:/);

    expect(withLiteralKeys(source)).not.toMatch(/\[_\w+\]:/);
  });
});
