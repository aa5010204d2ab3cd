import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { settingDefaults } from '#functions/shared/contract/settings.ts';

/** The `@default` each prop of the construct documents, by prop name. */
function documentedDefaults(): Map<string, string> {
  const source = readFileSync(join(import.meta.dirname, '../../../infra/props.ts'), 'utf8');
  const documented = source.matchAll(/@default ([^\n]+)\n\s+\*\/\n\s+readonly (\w+)\?/g);
  return new Map([...documented].map((m) => [m[2] ?? '', (m[1] ?? '').trim()]));
}

/** Props whose value is a choice class (infra/choices.ts): their default is its static member. */
const choiceClass = new Map([
  ['onStopped', 'OnStopped'],
  ['onStoppedHibernationCapable', 'OnStopped'],
]);

/** Props named as a setting that are not its value: `fenceHungNodes` is the fence's props, its presence the setting. */
const notTheSetting = new Set(['fenceHungNodes']);

describe("the construct's documented defaults", () => {
  it.each(
    Object.entries(settingDefaults).filter(
      ([name]) => documentedDefaults().has(name) && !notTheSetting.has(name),
    ),
  )('say what the functions default %s to (%s)', (name, value) => {
    const choice = choiceClass.get(name);
    const shown = choice
      ? `${choice}.${String(value).toUpperCase()}`
      : typeof value === 'string'
        ? `'${value}'`
        : String(value);

    expect(documentedDefaults().get(name)).toBe(shown);
  });

  it('cover every setting the construct passes on', () => {
    const passedOn = [
      'dryRun',
      'onStopped',
      'onStoppedHibernationCapable',
      'outOfServiceTaint',
      'deleteTerminatedNodes',
      'maxActionsPerInvocation',
      'maxDeadNodePercent',
    ];

    expect(passedOn.filter((name) => !documentedDefaults().has(name))).toEqual([]);
  });
});
