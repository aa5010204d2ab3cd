// The built node-loss bundle, run as Lambda runs it (a fresh process that Lambda's timeout ends),
// with EC2 never answering DetachVolume: the SDK alone would retry the hung call past the
// timeout and Lambda would end the invocation unreported. The invocation's cut-off abandons the
// call ahead of the timeout: the failure is reported (log, metric) and thrown, and the retry of
// the event finishes the job.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invokeBundleAsync } from '#support/bundle-process.ts';
import { awsEnvironmentFor } from '#support/endpoints.ts';
import { type FaultyEnvironment, startFaultyEnvironment } from '#support/faulty-environment.ts';
import {
  ec2StateChangeEvent,
  type FunctionUnderTest,
  functionThrough,
  testSettings,
} from '#support/functions-under-test.ts';
import { repoRoot } from '#support/paths.ts';
import { run } from '#support/processes.ts';

let env: FaultyEnvironment;
beforeAll(async () => {
  await run(process.execPath, [join(repoRoot, 'scripts/build.ts')], { cwd: repoRoot });
  env = await startFaultyEnvironment('cut-off');
});
afterAll(() => env?.dispose());

/**
 * The Lambda timeout of these invocations: the deadline (stop starting work) falls 20 s before
 * it, the cut-off of calls in flight 10 s before it. A hung DetachVolume alone would take the
 * SDK's 8 attempts of 10 s each.
 */
const lambdaTimeoutMs = 40_000;

/** node-loss as the built bundle, reaching AWS and the cluster through the fault proxies. */
function nodeLossBundle(): FunctionUnderTest & { lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return {
    logs: [],
    lines,
    async invoke(event) {
      const invocation = await invokeBundleAsync('node-loss', event, {
        ...awsEnvironmentFor(env.through.awsEndpoint),
        ...testSettings(env.cluster),
        KUBECONFIG: env.through.kubeconfig,
        TEST_LAMBDA_TIMEOUT_MS: String(lambdaTimeoutMs),
      });
      lines.push(...invocation.lines);
      if (invocation.error) {
        throw Object.assign(new Error(invocation.error.message), { name: invocation.error.name });
      }
      return invocation.result as Awaited<ReturnType<FunctionUnderTest['invoke']>>;
    },
  };
}

describe("node-loss at its invocation's cut-off", { timeout: 120_000 }, () => {
  it('abandons a hung detach before the Lambda timeout, reports it and throws; the retry finishes', async () => {
    const { cluster } = env;
    const { node, volumes } = await env.deadNodeWithVolumes('stopped');
    const event = ec2StateChangeEvent(node.instanceId, 'stopped');
    const bundle = nodeLossBundle();

    const first = await env.attempt(bundle, event, [
      { awsAction: 'DetachVolume', fault: { kind: 'hang' }, times: 1000 },
    ]);

    // Thrown by the function itself, not the Lambda timeout, naming the call it abandoned.
    expect(first).toMatchObject({
      ended: 'threw',
      message: expect.stringMatching(
        new RegExp(
          `^remediating ${node.instanceId}: .*detaching vol-[0-9a-f]+ from ${node.instanceId}: abandoned at the invocation's cut-off`,
        ),
      ),
    });
    // Reported before it threw: the failed action, the instance's outcome, the failure metric.
    expect(bundle.lines).toContainEqual(
      expect.objectContaining({ message: 'action', action: 'detach-volume', outcome: 'failed' }),
    );
    expect(bundle.lines).toContainEqual(
      expect.objectContaining({
        message: 'instance result',
        instanceId: node.instanceId,
        outcome: 'failed',
      }),
    );
    // (EMF lists a metric's values when it is added more than once: one failure per volume.)
    const failures = bundle.lines.flatMap((line) => ('Failures' in line ? [line.Failures] : []));
    expect(failures.flat().reduce((sum: number, n) => sum + Number(n), 0)).toBe(volumes.length);
    for (const volume of volumes) {
      expect((await cluster.volume(volume.volumeId)).attachedTo).toEqual([node.instanceId]);
    }

    const retry = await env.attempt(functionThrough('node-loss', cluster, env.through), event, []);

    expect(retry).toMatchObject({
      ended: 'done',
      result: { instances: [{ outcome: 'remediated' }] },
    });
    await env.expectFreed(volumes);
    await env.expectBystanderUntouched();
  });
});
