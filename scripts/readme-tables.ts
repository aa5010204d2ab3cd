/**
 * README's tables that are written from the code's own contracts, between marker comments
 * (`<!-- table:NAME -->` ... `<!-- /table:NAME -->`). `npm run docs` writes them; a unit test
 * fails while README is out of step.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { actionCatalogue, actionKinds } from '../functions/shared/contract/actions.ts';
import { type EventRow, reportEvents } from '../functions/shared/contract/kubernetes-events.ts';
import { settingDefaults, settingDocs, settingEnv } from '../functions/shared/contract/settings.ts';

const cell = (text: string) => text.replaceAll('|', '\\|');

/** The actions table: one row per row of the action catalogue. */
export function actionsTable(): string {
  const rows = actionKinds.map((kind) => {
    const row: { destructive: boolean; metric?: string; tally?: string; what: string } =
      actionCatalogue[kind];
    return `| \`${kind}\` | ${cell(row.what)} | ${row.destructive ? 'yes' : 'no'} | ${row.metric ? `\`${row.metric}\`` : '-'} |`;
  });
  return [
    '| action | what it is | counted by the circuit breaker | metric |',
    '|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** The Kubernetes Events table: each action's Event (the catalogue's), then the others. */
export function eventsTable(): string {
  const ofActions: EventRow[] = actionKinds.map((kind) => {
    const { reason, on, type } = actionCatalogue[kind].event;
    return { reason, on, type, when: `the \`${kind}\` action was done` };
  });
  const rows = [...Object.values(reportEvents), ...ofActions].map(
    (row) => `| \`${row.reason}\` | ${row.on} | ${row.type} | ${cell(row.when)} |`,
  );
  return ['| reason | on | type | when |', '|---|---|---|---|', ...rows].join('\n');
}

/** The settings table: each setting's variable, default and meaning, from the settings contract. */
export function settingsTable(): string {
  const defaults: ReadonlyMap<string, unknown> = new Map(Object.entries(settingDefaults));
  const rows = Object.entries(settingEnv).map(([key, variable]) => {
    const docs = settingDocs[key as keyof typeof settingEnv];
    const fallback = defaults.has(key) ? `\`${String(defaults.get(key))}\`` : docs.withoutDefault;
    return `| \`${variable}\` | ${fallback ?? 'none'} | ${docs.meaning} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

const tables: ReadonlyMap<string, () => string> = new Map([
  ['actions', actionsTable],
  ['events', eventsTable],
  ['settings', settingsTable],
]);

/** README with every generated table written anew. */
export function withTables(readme: string): string {
  let text = readme;
  for (const [name, render] of tables) {
    const open = `<!-- table:${name} -->`;
    const close = `<!-- /table:${name} -->`;
    const start = text.indexOf(open);
    const end = text.indexOf(close);
    if (start < 0 || end < start)
      throw new Error(`README.md lacks the markers ${open} ... ${close}`);
    text = `${text.slice(0, start + open.length)}\n${render()}\n${text.slice(end)}`;
  }
  return text;
}

export const readmePath = join(import.meta.dirname, '..', 'README.md');

if (import.meta.main) {
  writeFileSync(readmePath, withTables(readFileSync(readmePath, 'utf8')));
  console.log('README.md tables written');
}
