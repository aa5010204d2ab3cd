/** How failed AWS calls are told in the functions' errors: short, and saying what happened. */

/** Error codes by which AWS services say "too many requests" (left when the SDK's retries ran out). */
const throttlingCodes = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
]);

/** The longest part of the service's own message that goes into ours. */
const maxCauseLength = 300;

/**
 * What went wrong in an AWS call, for a message that also names the operation and its objects:
 * throttling said as such, with the attempts the SDK made; any other error with its code.
 */
export function awsFailure(error: unknown, service: string): string {
  const e = error as {
    name?: string;
    message?: string;
    $metadata?: { attempts?: number };
  };
  const attempts = e.$metadata?.attempts;
  const afterRetries = attempts && attempts > 1 ? ` after ${attempts} attempts` : '';
  if (e.name && throttlingCodes.has(e.name))
    return `throttled by ${service}${afterRetries} (${e.name})`;
  const text = e.message ?? String(error);
  const message = text.length > maxCauseLength ? `${text.slice(0, maxCauseLength)}...` : text;
  const code = e.name && e.name !== 'Error' ? `${e.name}: ` : '';
  return `${code}${message}${afterRetries}`;
}
