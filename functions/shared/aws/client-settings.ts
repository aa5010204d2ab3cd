/** The settings of the AWS SDK clients: in the functions, and in the tests that stand in for them. */

/**
 * Every AWS call gives up on a connection after 3 s and on an answer after 10 s (the SDK waits
 * forever by default: a hung call would hold the invocation until Lambda cuts it off,
 * unreported); the SDK's retries then try again.
 */
const requestHandler = { connectionTimeout: 3_000, requestTimeout: 10_000 };

/** Every AWS client's settings but EC2's. */
export const awsClientSettings = { requestHandler } as const;

/** The EC2 client's settings (the tests build their client with them too). */
export const ec2ClientSettings = {
  // Adaptive retries slow the client down when EC2 throttles, instead of failing the event.
  retryMode: 'adaptive',
  maxAttempts: 8,
  requestHandler,
} as const;
