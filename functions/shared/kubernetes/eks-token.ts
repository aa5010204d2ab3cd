import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';

/** EKS accepts a token for 15 minutes; we renew well before that. */
export const eksTokenLifetimeMs = 14 * 60 * 1000;

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface EksToken {
  readonly token: string;
  readonly expiresAt: Date;
}

/**
 * The bearer token EKS authenticates an IAM identity by, as `aws eks get-token` makes it:
 * `k8s-aws-v1.` + base64url (unpadded) of a presigned STS GetCallerIdentity URL whose signature
 * covers the header `x-k8s-aws-id: <cluster name>`.
 */
/** The DNS suffix of the Region's partition: aws-cn differs; aws and aws-us-gov share one. */
export function dnsSuffixOf(region: string): string {
  return region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
}

export async function eksBearerToken(options: {
  readonly clusterName: string;
  readonly region: string;
  readonly credentials: AwsCredentials | (() => Promise<AwsCredentials>);
  readonly now?: Date;
}): Promise<EksToken> {
  const now = options.now ?? new Date();
  const hostname = `sts.${options.region}.${dnsSuffixOf(options.region)}`;
  const signer = new SignatureV4({
    credentials: options.credentials,
    region: options.region,
    service: 'sts',
    sha256: Sha256,
  });
  const presigned = await signer.presign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname,
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: hostname, 'x-k8s-aws-id': options.clusterName },
    },
    { expiresIn: 60, signingDate: now },
  );
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(presigned.query ?? {})) {
    for (const item of Array.isArray(value) ? value : [value])
      if (item !== null) query.append(key, item);
  }
  const url = `https://${hostname}/?${query.toString()}`;
  return {
    token: `k8s-aws-v1.${Buffer.from(url).toString('base64url')}`,
    expiresAt: new Date(now.getTime() + eksTokenLifetimeMs),
  };
}
