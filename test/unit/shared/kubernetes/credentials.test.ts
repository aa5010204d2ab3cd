// Credentials that outlive long work (issue 23, rule 15): the EKS token is minted again when it
// nears expiry, within one invocation too; a 401 drops the cached token or kubeconfig secret and
// the request is tried once more; a rotated kubeconfig secret is read again.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EKSClient } from '@aws-sdk/client-eks';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type ClusterAccessClients,
  clusterConnection,
} from '#functions/shared/kubernetes/cluster-connection.ts';
import {
  createKubernetesHttp,
  KubernetesApiError,
} from '#functions/shared/kubernetes/kubernetes-http.ts';

/** The apiserver's answer to each bearer token: 200 for the accepted ones, 401 for the rest. */
let accepted = new Set<string>();
const seen: string[] = [];
const server = createServer((req, res) => {
  const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
  seen.push(token);
  const ok = accepted.has(token);
  res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify(
      ok
        ? { kind: 'Node', metadata: { name: 'node-a' } }
        : { kind: 'Status', code: 401, reason: 'Unauthorized', message: 'Unauthorized' },
    ),
  );
});
beforeAll(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
afterEach(() => {
  seen.length = 0;
  accepted = new Set();
  vi.useRealTimers();
});

const serverUrl = () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const getNode = { method: 'GET', path: '/api/v1/nodes/node-a' } as const;

describe('a request whose credentials went stale', () => {
  it('drops them on a 401 and is tried once more with fresh ones', async () => {
    let token = 'expired';
    accepted = new Set(['fresh']);
    const http = createKubernetesHttp({
      server: serverUrl(),
      token: () => token,
      onUnauthorized: () => {
        token = 'fresh';
      },
    });

    await expect(http(getNode)).resolves.toMatchObject({ metadata: { name: 'node-a' } });
    expect(seen).toEqual(['expired', 'fresh']);
  });

  it('is tried once more only: a second 401 is the answer', async () => {
    const http = createKubernetesHttp({
      server: serverUrl(),
      token: () => 'wrong',
      onUnauthorized: () => undefined,
    });

    await expect(http(getNode)).rejects.toMatchObject({ status: 401 });
    expect(seen).toEqual(['wrong', 'wrong']);
  });

  it('is not tried again when nothing can be renewed', async () => {
    const http = createKubernetesHttp({ server: serverUrl(), token: () => 'wrong' });

    await expect(http(getNode)).rejects.toBeInstanceOf(KubernetesApiError);
    expect(seen).toEqual(['wrong']);
  });
});

function clients(overrides: Partial<ClusterAccessClients>): ClusterAccessClients {
  return {
    eks: async () => {
      throw new Error('no EKS here');
    },
    secretsManager: async () => {
      throw new Error('no Secrets Manager here');
    },
    region: async () => 'us-east-1',
    credentials: async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' }),
    ...overrides,
  };
}

const eks = async () =>
  ({
    send: async () => ({
      cluster: {
        endpoint: serverUrl(),
        certificateAuthority: { data: Buffer.from('ca').toString('base64') },
      },
    }),
  }) as unknown as EKSClient;

describe('an EKS cluster connection', () => {
  it('mints the token again as it nears expiry, within one invocation, on the same endpoint', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-07T10:00:00Z'));
    const connection = clusterConnection({ kind: 'eks', eksClusterName: 'prod' }, clients({ eks }));
    const endpoint = await connection.endpoint();
    const first = await endpoint.token?.();

    vi.setSystemTime(new Date('2026-12-07T10:10:00Z'));
    expect(await endpoint.token?.()).toBe(first);
    // 13.5 minutes in: less than a minute of the 14 left.
    vi.setSystemTime(new Date('2026-12-07T10:13:30Z'));
    const second = await endpoint.token?.();

    expect(second).toMatch(/^k8s-aws-v1\./);
    expect(second).not.toBe(first);
    expect(await connection.endpoint()).toBe(endpoint);
  });

  it('mints a new token after a 401, whatever the old one’s age', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-07T10:00:00Z'));
    const endpoint = await clusterConnection(
      { kind: 'eks', eksClusterName: 'prod' },
      clients({ eks }),
    ).endpoint();
    const first = await endpoint.token?.();

    vi.setSystemTime(new Date('2026-12-07T10:00:05Z'));
    expect(await endpoint.token?.()).toBe(first);
    endpoint.onUnauthorized?.();
    expect(await endpoint.token?.()).not.toBe(first);
  });
});

describe('a kubeconfig secret', () => {
  const kubeconfig = (token: string) =>
    JSON.stringify({
      clusters: [{ name: 'c', cluster: { server: serverUrl() } }],
      users: [{ name: 'u', user: { token } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    });

  it('is read again after a 401, and the rotated token used', async () => {
    const versions = [kubeconfig('before-rotation'), kubeconfig('after-rotation')];
    let reads = 0;
    const secretsManager = async () =>
      ({
        send: async () => ({ SecretString: versions[Math.min(reads++, versions.length - 1)] }),
      }) as unknown as SecretsManagerClient;
    const connection = clusterConnection(
      { kind: 'kubeconfig-secret', secretArn: 'arn:aws:secretsmanager:us-east-1:1:secret:k' },
      clients({ secretsManager }),
    );
    accepted = new Set(['after-rotation']);
    const endpoint = await connection.endpoint();
    // Warm invocations reuse the read, and the endpoint (its connections).
    expect(await connection.endpoint()).toBe(endpoint);
    expect(reads).toBe(1);

    await expect(createKubernetesHttp(endpoint)(getNode)).resolves.toMatchObject({
      kind: 'Node',
    });
    expect(seen).toEqual(['before-rotation', 'after-rotation']);
    expect(reads).toBe(2);
  });
});
