/**
 * Property-based tests of every function's entry: whatever a function is invoked with, no
 * input reaches an AWS or Kubernetes call without passing validation. Each function's real
 * parser runs inside the real `handleInput`, with ports that record being reached.
 *
 * The seed is fixed so CI is repeatable; `FUZZ_SEED=random npm run test:unit` (or a number)
 * explores further, and a failure prints the seed and the shrunk input to replay it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '#functions/shared/config.ts';
import {
  parseLifecycleInput,
  parseNodeLossInput,
  parseSweepInput,
} from '#functions/shared/events/registry.ts';
import { maxReasonLength, type Request } from '#functions/shared/events/types.ts';
import { type HandlerDeps, handleInput } from '#functions/shared/handle-input.ts';
import { eventSample } from '#support/samples.ts';

const seed =
  process.env.FUZZ_SEED === 'random'
    ? Date.now() ^ (Math.random() * 0x100000000)
    : Number(process.env.FUZZ_SEED ?? 20261126);
const numRuns = Number(process.env.FUZZ_RUNS ?? 10_000);

const hookName = 'ebs-volume-remediator';
const config = loadConfig({
  CLUSTER_NAME: 'prod',
  KUBECONFIG: '/dev/null',
  LIFECYCLE_HOOK_NAMES: hookName,
});

/** The test's own statement of an EC2 instance id, independent of the code under test. */
const instanceIdShape = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;

/** Names every plain object inherits: the inputs that once walked past the action lookup. */
const inheritedNames = Object.getOwnPropertyNames(Object.prototype);

interface Entry {
  readonly name: string;
  readonly parse: (input: unknown, config: Config) => Request;
  /** The events/ samples this function accepts. */
  readonly samples: readonly string[];
  /** The manual actions it accepts. */
  readonly actions: readonly string[];
}

const entries: readonly Entry[] = [
  {
    name: 'node-loss',
    parse: parseNodeLossInput,
    samples: [
      'ec2-instance-state-change-terminated.json',
      'ec2-instance-state-change-stopped.json',
      'ec2-instance-state-change-running.json',
      'autoscaling-instance-terminate-successful.json',
      'manual-remediate.json',
    ],
    actions: ['remediate'],
  },
  {
    name: 'sweep',
    parse: parseSweepInput,
    samples: [
      'scheduled-event.json',
      'cloudwatch-alarm-state-change.json',
      'cloudwatch-alarm-lambda-action.json',
      'manual-sweep.json',
      'manual-remediate.json',
    ],
    actions: ['sweep', 'remediate'],
  },
  {
    name: 'lifecycle',
    parse: parseLifecycleInput,
    samples: ['autoscaling-instance-terminate-lifecycle-action.json'],
    actions: [],
  },
];

/** Thrown by every port: reaching one is what the properties are about, not what it answers. */
class PortReached extends Error {}

interface Invocation {
  /** What the parser made of the input, as `handleInput` received it. */
  readonly request: Request;
  readonly portsReached: readonly string[];
  readonly status?: string;
  readonly reason?: string;
}

async function invoke(entry: Entry, input: unknown): Promise<Invocation> {
  const portsReached: string[] = [];
  let request: Request | undefined;
  const reached = (name: string) => {
    portsReached.push(name);
    throw new PortReached(name);
  };
  const port = (name: string) =>
    new Proxy({}, { get: (_target, method) => () => reached(`${name}.${String(method)}`) });
  const deps = {
    config,
    ec2: port('ec2'),
    kubernetes: () => reached('kubernetes'),
    autoScaling: port('autoScaling'),
    publishResults: () => reached('eventbridge'),
    logger: { info() {}, warn() {}, error() {} },
    metrics: {
      addMetric() {},
      singleMetric: () => ({ addDimension: () => ({ addMetric() {} }) }),
    },
  } as unknown as HandlerDeps;
  const parse = (raw: unknown, c: Config) => {
    request = entry.parse(raw, c);
    return request;
  };
  try {
    const result = await handleInput(input, parse, deps);
    if (!request) throw new Error('handleInput never parsed its input');
    return { request, portsReached, status: result.status, reason: result.reason };
  } catch (error) {
    if (!(error instanceof PortReached)) throw error;
    if (!request) throw new Error('a port was reached before the input was parsed');
    return { request, portsReached };
  }
}

/** Every string anywhere in a JSON value. */
function stringsIn(value: unknown): Set<string> {
  const found = new Set<string>();
  const walk = (v: unknown) => {
    if (typeof v === 'string') found.add(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) {
      for (const [k, inner] of Object.entries(v)) {
        found.add(k);
        walk(inner);
      }
    }
  };
  walk(value);
  return found;
}

/**
 * What must hold for any input at all: a skip reaches no port and says why in bounded length;
 * anything else is a request of a known type that names only well-formed instance ids taken
 * from the input, and completes only a configured lifecycle hook.
 */
function expectSafe(input: unknown, { request, portsReached, status, reason }: Invocation) {
  expect(['remediate', 'lift-taint', 'sweep', 'lifecycle', 'skip']).toContain(request.type);
  if (request.type === 'skip') {
    expect(portsReached).toEqual([]);
    expect(status).toBe('skipped');
    expect(reason?.length).toBeLessThanOrEqual(maxReasonLength);
    return;
  }
  const inInput = stringsIn(input);
  const ids =
    request.type === 'lifecycle'
      ? [request.lifecycleAction.instanceId]
      : request.type === 'sweep'
        ? []
        : (request.instanceIds ?? []);
  for (const id of ids) {
    expect(id).toMatch(instanceIdShape);
    expect(inInput.has(id)).toBe(true);
  }
  if (request.type === 'lifecycle') {
    expect(request.lifecycleAction.lifecycleHookName).toBe(hookName);
  }
}

const validInstanceId = fc
  .oneof(
    fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 8, maxLength: 8 }),
    fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 17, maxLength: 17 }),
  )
  .map((hex) => `i-${hex}`);

/** Strings a careless parser could trip on, next to arbitrary ones. */
const trickyString = fc.oneof(
  fc.string(),
  fc.constantFrom(...inheritedNames, 'remediate', 'sweep', 'aws.ec2', 'aws.autoscaling', ''),
  validInstanceId,
  validInstanceId.map((id) => `${id} `),
  // Longer than any reason may be, like the 1 MB `action` that once became a 1 MB log line.
  fc.constantFrom(65, 1_001, 100_000).map((n) => 'x'.repeat(n)),
);

const jsonLike: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, false, 0, -1, 1.5),
    trickyString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(trickyString, fc.constantFrom('__proto__')), tie('value'), {
      maxKeys: 5,
    }),
  ),
})).value;

/** Every path to a field of a JSON value, objects and arrays alike. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== 'object' || value === null) return [];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((k) => {
    const path = [...prefix, k];
    return [path, ...pathsOf((value as Record<string | number, unknown>)[k], path)];
  });
}

/** A copy of `value` with the field at `path` replaced, or removed when `replacement` is absent. */
function withField(value: unknown, path: (string | number)[], replacement?: { to: unknown }) {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let parent = copy;
  for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (replacement) {
    Object.defineProperty(parent, last, {
      value: replacement.to,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else if (Array.isArray(parent)) parent.splice(last as number, 1);
  else delete parent[last];
  return copy;
}

/** A real sample of the entry with one field changed, removed or added: near-valid input. */
function mutatedSample(entry: Entry): fc.Arbitrary<unknown> {
  return fc
    .record({
      sample: fc.constantFrom(...entry.samples).map(eventSample),
      pick: fc.nat(),
      change: fc.oneof(
        jsonLike.map((to) => ({ to })),
        fc.constant(undefined),
      ),
      extraKey: fc.option(trickyString, { nil: undefined }),
    })
    .map(({ sample, pick, change, extraKey }) => {
      const paths = pathsOf(sample);
      const path = extraKey === undefined ? paths[pick % paths.length] : [extraKey];
      return withField(
        sample,
        path ?? [],
        change ?? (extraKey === undefined ? undefined : { to: 1 }),
      );
    });
}

/** Lambda hands functions JSON: the generated value as it arrives after a round trip. */
function asDelivered(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : JSON.parse(text);
}

describe.each(entries)('the $name entry under generated input', (entry) => {
  it(`keeps ${numRuns} generated events from reaching AWS or Kubernetes unvalidated (seed ${seed})`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(jsonLike, mutatedSample(entry)), async (generated) => {
        const input = asDelivered(generated);
        expectSafe(input, await invoke(entry, input));
      }),
      { seed, numRuns },
    );
  }, 120_000);

  it('skips every action it does not own, inherited names included, reaching no port', async () => {
    const notOwned = trickyString.filter((action) => !entry.actions.includes(action));
    await fc.assert(
      fc.asyncProperty(notOwned, jsonLike, async (action, extra) => {
        const input = asDelivered({ extra, action, instanceIds: ['i-1234567890abcdef0'] });
        const invocation = await invoke(entry, input);
        expect(invocation.request.type).toBe('skip');
        expect(invocation.portsReached).toEqual([]);
        expect(invocation.reason?.length).toBeLessThanOrEqual(maxReasonLength);
      }),
      { seed, numRuns: Math.ceil(numRuns / 10) },
    );
  });

  it('still acts on its valid samples, for any well-formed instance id', async () => {
    // The other properties hold trivially for a function that refuses everything; this one
    // shows the harness sees a port being reached.
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...entry.samples), validInstanceId, async (file, id) => {
        const input = JSON.parse(
          JSON.stringify(eventSample(file)).replaceAll('i-1234567890abcdef0', id),
        );
        const invocation = await invoke(entry, input);
        if (invocation.request.type === 'skip')
          throw new Error(`${file} skipped: ${invocation.request.reason}`);
        expect(invocation.portsReached.length).toBeGreaterThan(0);
        expectSafe(input, invocation);
      }),
      { seed, numRuns: Math.ceil(numRuns / 10) },
    );
  });
});
