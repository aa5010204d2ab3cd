/**
 * An esbuild plugin that lets the bundler drop the AWS SDK's unused operation schemas.
 *
 * Since @aws-sdk 3.930 each client's `dist-es/schemas/schemas_0.js` describes every operation of
 * the service (EC2: 1.3 MB), with trait objects keyed by computed names: `{ [_eQN]: "Min" }`,
 * where `const _eQN = "ec2QueryName"`. esbuild cannot prove a computed key free of side effects,
 * so it keeps every schema: 538 KiB of EC2 in a function that calls three of its operations
 * (aws/aws-sdk-js-v3#7607). The generator's own fix writes the keys as literals
 * (smithy-lang/smithy-typescript#1889); until a release has it, this does the same at build
 * time: each `[_name]:` whose `_name` is a string constant of that file becomes `"value":`.
 * The values are unchanged, so the code means the same; tree-shaking then keeps only the schemas
 * the imported commands reach (EC2: 34 KiB).
 */
import { readFile } from 'node:fs/promises';
import type { Plugin } from 'esbuild';

/** The schema modules of every @aws-sdk client. */
const schemaModule = /[\\/]@aws-sdk[\\/][^\\/]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/;

/** `source` with each computed key `[_name]:` written as the string constant `_name` holds. */
export function withLiteralKeys(source: string): string {
  const constants = new Map<string, string>();
  for (const [, name, literal] of source.matchAll(/^const (_\w+) = ("(?:[^"\\\n]|\\.)*");$/gm)) {
    if (name && literal) constants.set(name, literal);
  }
  return source.replace(
    /\[(_\w+)\]:/g,
    (computed, name: string) => `${constants.get(name) ?? computed.slice(0, -1)}:`,
  );
}

export const literalSchemaKeys: Plugin = {
  name: 'literal-sdk-schema-keys',
  setup(build) {
    build.onLoad({ filter: schemaModule }, async ({ path }) => ({
      contents: withLiteralKeys(await readFile(path, 'utf8')),
      loader: 'js',
    }));
  },
};
