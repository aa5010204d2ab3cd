import { describe, expect, it } from 'vitest';
import { eksBearerToken } from '#functions/shared/kubernetes/eks-token.ts';

const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const now = new Date('2026-11-25T12:00:00Z');

function presignedUrl(token: string): URL {
  return new URL(Buffer.from(token.slice('k8s-aws-v1.'.length), 'base64url').toString('utf8'));
}

describe('eksBearerToken', () => {
  it('is k8s-aws-v1. and an unpadded base64url string', async () => {
    const { token } = await eksBearerToken({
      clusterName: 'prod',
      region: 'eu-west-1',
      credentials,
      now,
    });

    expect(token).toMatch(/^k8s-aws-v1\.[A-Za-z0-9_-]+$/);
  });

  it('wraps a presigned STS GetCallerIdentity URL of the regional endpoint', async () => {
    const { token } = await eksBearerToken({
      clusterName: 'prod',
      region: 'eu-west-1',
      credentials,
      now,
    });
    const url = presignedUrl(token);

    expect(url.origin).toBe('https://sts.eu-west-1.amazonaws.com');
    expect(url.searchParams.get('Action')).toBe('GetCallerIdentity');
    expect(url.searchParams.get('Version')).toBe('2011-06-15');
    expect(url.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(url.searchParams.get('X-Amz-Credential')).toBe(
      'AKIDEXAMPLE/20261125/eu-west-1/sts/aws4_request',
    );
    expect(url.searchParams.get('X-Amz-Date')).toBe('20261125T120000Z');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['cn-north-1', 'https://sts.cn-north-1.amazonaws.com.cn'],
    ['us-gov-west-1', 'https://sts.us-gov-west-1.amazonaws.com'],
  ])('signs for the STS endpoint of the partition of %s', async (region, origin) => {
    const { token } = await eksBearerToken({ clusterName: 'prod', region, credentials, now });

    expect(presignedUrl(token).origin).toBe(origin);
  });

  it('signs the x-k8s-aws-id header, so the token is good for that cluster only', async () => {
    const prod = await eksBearerToken({
      clusterName: 'prod',
      region: 'eu-west-1',
      credentials,
      now,
    });
    const staging = await eksBearerToken({
      clusterName: 'staging',
      region: 'eu-west-1',
      credentials,
      now,
    });

    expect(presignedUrl(prod.token).searchParams.get('X-Amz-SignedHeaders')).toBe(
      'host;x-k8s-aws-id',
    );
    expect(presignedUrl(prod.token).searchParams.get('X-Amz-Signature')).not.toBe(
      presignedUrl(staging.token).searchParams.get('X-Amz-Signature'),
    );
  });

  it('expires the presigned URL after 60 seconds and is renewed before EKS stops accepting it', async () => {
    const { token, expiresAt } = await eksBearerToken({
      clusterName: 'prod',
      region: 'eu-west-1',
      credentials,
      now,
    });

    expect(presignedUrl(token).searchParams.get('X-Amz-Expires')).toBe('60');
    expect(expiresAt.getTime() - now.getTime()).toBeLessThan(15 * 60 * 1000);
  });

  it('carries the session token of temporary credentials', async () => {
    const { token } = await eksBearerToken({
      clusterName: 'prod',
      region: 'eu-west-1',
      credentials: { ...credentials, sessionToken: 'session-token-value' },
      now,
    });

    expect(presignedUrl(token).searchParams.get('X-Amz-Security-Token')).toBe(
      'session-token-value',
    );
  });
});
