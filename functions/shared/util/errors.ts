/**
 * The failures that must be retried: Lambda retries the event and the dead-letter queue keeps
 * it when retries run out. Bad input is not an error here; parsers return a skip instead.
 */

/** The function's settings are missing or wrong; nothing can run until they are fixed. */
export class ConfigurationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigurationError';
  }
}

/** The Kubernetes API could not be reached or refused the remediator's credentials. */
export class ClusterAccessError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClusterAccessError';
  }
}

/** A call to EC2 or Kubernetes failed while remediating; the message says what was being done. */
export class RemediationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RemediationError';
  }
}

/**
 * EC2 still shows an instance on its way to the state an event announced (DescribeInstances is
 * eventually consistent): retried, never dropped.
 */
export class Ec2LagError extends RemediationError {
  constructor(message: string) {
    super(message);
    this.name = 'Ec2LagError';
  }
}

/** The longest part of another system's own message (EC2's, the apiserver's) that goes into ours. */
const maxCauseLength = 300;

/** Another system's message, cut to a length a log line and a result event can carry. */
export function causeText(text: string): string {
  return text.length > maxCauseLength ? `${text.slice(0, maxCauseLength)}...` : text;
}

/** The message of any thrown value, for logs and reports. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
