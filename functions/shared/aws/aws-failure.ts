/** How failed AWS calls are told in the functions' errors: short, and saying what happened. */

import { causeText } from '../util/errors.ts';
import { cutOffReached, cutOffText } from '../util/invocation-cut-off.ts';

/** Error codes by which AWS services say "too many requests" (left when the SDK's retries ran out). */
const throttlingCodes = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
]);

/**
 * What went wrong in an AWS call, for a message that also names the operation and its objects:
 * abandoned at the cut-off, throttling said as such with the attempts the SDK made, any other
 * error with its code.
 */
export function awsFailure(error: unknown, service: string): string {
  const e = error as {
    name?: string;
    message?: string;
    $metadata?: { attempts?: number };
  };
  if (cutOffReached()) return cutOffText;
  const attempts = e.$metadata?.attempts;
  const afterRetries = attempts && attempts > 1 ? ` after ${attempts} attempts` : '';
  if (e.name && throttlingCodes.has(e.name))
    return `throttled by ${service}${afterRetries} (${e.name})`;
  const message = causeText(e.message ?? String(error));
  const code = e.name && e.name !== 'Error' ? `${e.name}: ` : '';
  return `${code}${message}${afterRetries}`;
}
