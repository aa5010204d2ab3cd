import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeInstanceStatusCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ec2ClientSettings } from '#functions/shared/aws/client-settings.ts';
import {
  createEc2Port,
  notFoundInstanceIds,
  stateChangeRequestedAt,
} from '#functions/shared/aws/ec2-port.ts';
import { cutOffText, withCutOff } from '#functions/shared/util/invocation-cut-off.ts';

/** EC2's InvalidInstanceID.NotFound, as the SDK throws it. */
function notFound(message: string): Error {
  return Object.assign(new Error(message), { name: 'InvalidInstanceID.NotFound' });
}

/**
 * A client whose DescribeInstances and DescribeInstanceStatus answer by id: unknown ids fail the
 * call, as EC2 does. The status call answers only running instances without IncludeAllInstances.
 */
function ec2Knowing(known: readonly string[], options: { drop?: string } = {}) {
  const asked: string[][] = [];
  const client = {
    config: { region: async () => 'us-east-1' },
    async send(command: { input: { InstanceIds?: string[]; IncludeAllInstances?: boolean } }) {
      const ids = command.input.InstanceIds ?? [];
      asked.push(ids);
      const unknown = ids.filter((id) => !known.includes(id));
      if (unknown.length > 0) {
        throw notFound(
          unknown.length === 1
            ? `The instance ID '${unknown[0]}' does not exist`
            : `The instance IDs '${unknown.join(', ')}' do not exist`,
        );
      }
      const answered = ids.filter((id) => id !== options.drop);
      if (command instanceof DescribeInstanceStatusCommand) {
        return {
          InstanceStatuses: command.input.IncludeAllInstances
            ? answered.map((id) => ({ InstanceId: id, InstanceState: { Name: 'stopped' } }))
            : [],
        };
      }
      return {
        Reservations: [
          { Instances: answered.map((id) => ({ InstanceId: id, State: { Name: 'stopped' } })) },
        ],
      };
    },
  } as unknown as EC2Client;
  return { client, asked };
}

const live = 'i-0aaaaaaaaaaaaaaa1';
const forgotten = 'i-0bbbbbbbbbbbbbbb2';
const alsoForgotten = 'i-0ccccccccccccccc3';

/** The two ways the port asks about instances by id, reduced to each id's state. */
const askings = [
  [
    'describing instances',
    async (port: ReturnType<typeof createEc2Port>, ids: string[]) =>
      new Map([...(await port.describeInstances(ids))].map(([id, i]) => [id, i.state])),
  ],
  [
    'reading instance states',
    (port: ReturnType<typeof createEc2Port>, ids: string[]) => port.instanceStates(ids),
  ],
] as const;

describe.each(askings)('the EC2 port %s', (_what, ask) => {
  it('asks by id and takes as gone exactly the ids EC2 answers InvalidInstanceID.NotFound for', async () => {
    const { client, asked } = ec2Knowing([live]);

    const states = await ask(createEc2Port(client), [live, forgotten, alsoForgotten]);

    expect(states).toEqual(
      new Map([
        [live, 'stopped'],
        [forgotten, 'gone'],
        [alsoForgotten, 'gone'],
      ]),
    );
    expect(asked).toEqual([[live, forgotten, alsoForgotten], [live]]);
  });

  it('never takes absence from an answer as gone: it fails and says which id was not answered', async () => {
    const { client } = ec2Knowing([live, forgotten], { drop: forgotten });

    await expect(ask(createEc2Port(client), [live, forgotten])).rejects.toThrow(
      `EC2 answered neither the instance nor InvalidInstanceID.NotFound for ${forgotten}`,
    );
  });
});

describe('the EC2 port', () => {
  it('reads states of any instance, not only running ones, at most 100 ids a call', async () => {
    const ids = Array.from({ length: 250 }, (_, i) => `i-0${String(i).padStart(16, '0')}`);
    const { client, asked } = ec2Knowing(ids);

    const states = await createEc2Port(client).instanceStates(ids);

    expect(states.size).toBe(250);
    expect([...states.values()].every((state) => state === 'stopped')).toBe(true);
    expect(asked.map((batch) => batch.length)).toEqual([100, 100, 50]);
  });

  it('reads the ids out of both forms of the NotFound message, and of no other error', () => {
    expect(
      notFoundInstanceIds(notFound(`The instance IDs '${live}, ${forgotten}' do not exist`), [
        live,
        forgotten,
        alsoForgotten,
      ]),
    ).toEqual([live, forgotten]);
    expect(notFoundInstanceIds(new Error(`throttled while asking about ${live}`), [live])).toEqual(
      [],
    );
  });
});

/** A client whose every call fails the way the SDK fails once its own retries are spent. */
function ec2Failing(error: Error, attempts: number) {
  const failure = Object.assign(error, { $metadata: { attempts } });
  return {
    config: { region: async () => 'us-east-1' },
    send: async () => {
      throw failure;
    },
  } as unknown as EC2Client;
}

const throttled = () =>
  Object.assign(new Error('Request limit exceeded.'), { name: 'RequestLimitExceeded' });

describe('EC2 failures', () => {
  it.each([
    [
      'describing instances',
      (port: ReturnType<typeof createEc2Port>) => port.describeInstances([live]),
      `describing instances ${live}: throttled by EC2 after 3 attempts (RequestLimitExceeded)`,
    ],
    [
      'describing the volumes of instances',
      (port: ReturnType<typeof createEc2Port>) =>
        port.describeVolumesAttachedTo([live, forgotten, alsoForgotten, 'i-0ddddddddddddddd4']),
      `describing the volumes attached to ${live}, ${forgotten}, ${alsoForgotten} and 1 more: throttled by EC2 after 3 attempts (RequestLimitExceeded)`,
    ],
    [
      'describing volumes',
      (port: ReturnType<typeof createEc2Port>) => port.describeVolumes(['vol-0123456789abcdef0']),
      'describing volumes vol-0123456789abcdef0: throttled by EC2 after 3 attempts (RequestLimitExceeded)',
    ],
  ])('name the operation and its objects when %s is throttled', async (_what, call, message) => {
    await expect(call(createEc2Port(ec2Failing(throttled(), 3)))).rejects.toThrow(message);
  });

  it('keep the error code and cut a long message', async () => {
    const failure = Object.assign(new Error(`An internal error has occurred ${'x'.repeat(2000)}`), {
      name: 'InternalError',
    });

    const error = await createEc2Port(ec2Failing(failure, 1))
      .describeVolumes(['vol-0123456789abcdef0'])
      .catch((e: Error) => e);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /^describing volumes vol-0123456789abcdef0: InternalError: An internal error has occurred x+\.\.\.$/,
    );
    expect((error as Error).message.length).toBeLessThan(400);
  });
});

describe('counting a detach by what happened', () => {
  const incorrectState = () =>
    Object.assign(new Error("Volume 'vol-0123456789abcdef0' is in the 'available' state."), {
      name: 'IncorrectState',
    });

  it('counts "not attached" on the first attempt as someone else’s detach', async () => {
    const answer = await createEc2Port(ec2Failing(incorrectState(), 1)).detachVolume(
      'vol-0123456789abcdef0',
      live,
      false,
    );

    expect(answer).toBe('already-detached');
  });

  it('counts "not attached" on a retry after a lost answer as its own', async () => {
    const answer = await createEc2Port(ec2Failing(incorrectState(), 2)).detachVolume(
      'vol-0123456789abcdef0',
      live,
      false,
    );

    expect(answer).toBe('detaching');
  });
});

describe("a call in flight at the invocation's cut-off", () => {
  // EC2 reached through the real SDK client with the functions' own settings, at an endpoint that
  // accepts every request and never answers: each attempt would wait out its 10 s timeout and be
  // retried up to 8 times, unless the cut-off ends it.
  const silent = createServer(() => undefined);
  beforeAll(() => new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve)));
  afterAll(() => {
    silent.closeAllConnections();
    return new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('is abandoned there, and the failure names the detach and the cut-off', async () => {
    const client = new EC2Client({
      ...ec2ClientSettings,
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });

    const error = await withCutOff(Date.now() + 300, () =>
      createEc2Port(client).detachVolume('vol-0123456789abcdef0', live, false),
    ).catch((e: Error) => e);

    expect((error as Error).message).toBe(
      `detaching vol-0123456789abcdef0 from ${live}: ${cutOffText}`,
    );
  });
});

describe('when a stop or termination was asked for', () => {
  it.each([
    ['User initiated (2026-12-07 01:02:03 GMT)', Date.parse('2026-12-07T01:02:03Z')],
    ['Service initiated (2026-12-07 01:02:03 GMT)', Date.parse('2026-12-07T01:02:03Z')],
    ['User initiated (2026-12-07 01:02:03 UTC)', Date.parse('2026-12-07T01:02:03Z')],
    ['', undefined],
    ['Server.SpotInstanceTermination', undefined],
  ])('reads %j as %s', (reason, at) => {
    expect(stateChangeRequestedAt(reason)).toBe(at);
  });
});
