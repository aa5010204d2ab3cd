/**
 * Where the real parts listen, and AWS client settings for them. No vitest here: the demo
 * (demo/demo.ts) uses it too.
 */

/** The region every test and the demo use; moto keeps each region's resources apart. */
export const testRegion = 'us-east-1';

export interface Endpoints {
  /** The AWS endpoint: the lifecycle stand-in in tests, moto itself in the demo. */
  readonly awsEndpoint: string;
  /** Kubeconfig files: `admin` (system:masters) and `remediator` (the remediator's RBAC identity). */
  readonly kubeconfigs: { readonly admin: string; readonly remediator: string };
}

/** Client settings for any AWS SDK v3 client: the emulator's endpoint and fake credentials. */
export function awsClientConfigFor(awsEndpoint: string) {
  return {
    endpoint: awsEndpoint,
    region: testRegion,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
}

/** Environment variables that point the remediator (or any AWS SDK) at the emulator. */
export function awsEnvironmentFor(awsEndpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: awsEndpoint,
    AWS_REGION: testRegion,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  };
}
