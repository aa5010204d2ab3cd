import { describe, expect, it } from 'vitest';
import { stages } from '#functions/shared/remediation/stages/index.ts';

describe('the stages of a remediation', () => {
  it('run in the order Kubernetes needs: fence, evict, let the controllers detach, free what they left, delete the Node, then watch the replacements', () => {
    expect(stages.map((stage) => stage.name)).toEqual([
      'fence the Node',
      "evict the Node's pods",
      'let the controllers detach',
      'free what the controllers left',
      'delete the Node',
      'watch the recovery',
    ]);
  });
});
