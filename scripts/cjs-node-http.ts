/**
 * An esbuild plugin that loads node:http and node:https with require() instead of import.
 *
 * Importing them as ES modules makes Node.js build their module namespace, which reads every
 * export, lazy getters included: one of them loads Node.js's internal undici (fetch, WebSocket),
 * about 40 ms of every cold start, for nothing the functions use (measured: import 55-65 ms,
 * require 13-19 ms, Node.js 24). The bundle gets a module that requires the builtin and re-exports
 * its plain properties, read here at build time; its getters stay unread until used.
 */
import { createRequire } from 'node:module';
import type { Plugin } from 'esbuild';

const builtins = /^(node:)?(http|https)$/;

/** The module text standing in for one builtin: its plain properties, and itself as default. */
function requiringModule(name: string): string {
  const builtin = createRequire(import.meta.url)(`node:${name}`) as object;
  const plain = Object.entries(Object.getOwnPropertyDescriptors(builtin))
    .filter(([key, descriptor]) => 'value' in descriptor && /^[A-Za-z_$][\w$]*$/.test(key))
    .map(([key]) => key);
  return [
    `const builtin = require('node:${name}');`,
    'export default builtin;',
    ...plain.map((key) => `export const ${key} = builtin.${key};`),
  ].join('\n');
}

export const requireNodeHttp: Plugin = {
  name: 'require-node-http',
  setup(build) {
    build.onResolve({ filter: builtins }, ({ path, namespace }) =>
      // The stand-in's own require() of the builtin stays the builtin.
      namespace === 'node-builtin-required'
        ? { path, external: true }
        : { path: path.replace(/^node:/, ''), namespace: 'node-builtin-required' },
    );
    build.onLoad({ filter: /.*/, namespace: 'node-builtin-required' }, ({ path }) => ({
      contents: requiringModule(path),
      loader: 'js',
    }));
  },
};
