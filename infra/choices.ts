/**
 * The construct's choice props as classes with one static member per choice, as aws-cdk-lib
 * writes its own (`lambda.Runtime`): jsii, which makes the construct usable from Python, Java,
 * .NET and Go, admits no string-literal unions in a public API, and a TypeScript enum is not
 * erasable syntax (the repository runs its TypeScript with Node.js' type stripping). Each value
 * is the functions' setting, from the settings contract.
 */
import type {
  FenceAction as FenceActionSetting,
  OnStopped as OnStoppedSetting,
} from '../functions/shared/contract/settings.ts';

/** What the remediator does for a stopped instance. */
export class OnStopped {
  /** Free its volumes: taint its Node out-of-service, delete its pods, detach what is left. */
  public static readonly REMEDIATE = new OnStopped('remediate');
  /** Leave it alone: its pods wait for it to start again. */
  public static readonly IGNORE = new OnStopped('ignore');

  /** The functions' setting (`ON_STOPPED`, `ON_STOPPED_HIBERNATION_CAPABLE`). */
  public readonly value: string;

  private constructor(value: OnStoppedSetting) {
    this.value = value;
  }
}

/** How a hung node is fenced. */
export class FenceAction {
  /** A forced stop: the instance and its root volume are kept for a post-mortem. */
  public static readonly STOP = new FenceAction('stop');
  /** Termination: its Auto Scaling group replaces it. */
  public static readonly TERMINATE = new FenceAction('terminate');

  /** The fence function's setting (`FENCE_ACTION`). */
  public readonly value: string;

  private constructor(value: FenceActionSetting) {
    this.value = value;
  }
}

// Only the private constructors above make choices, each from a setting's value: the casts hold.

/** The setting `onStopped` stands for. */
export function onStoppedSetting(choice: OnStopped): OnStoppedSetting {
  return choice.value as OnStoppedSetting;
}

/** The setting a fence action stands for. */
export function fenceActionSetting(choice: FenceAction): FenceActionSetting {
  return choice.value as FenceActionSetting;
}

const onStoppedByValue = new Map([OnStopped.REMEDIATE, OnStopped.IGNORE].map((c) => [c.value, c]));
const fenceActionByValue = new Map(
  [FenceAction.STOP, FenceAction.TERMINATE].map((c) => [c.value, c]),
);

/** The choice whose setting is `value` (as the app's context gives it), if there is one. */
export function onStoppedNamed(value: string): OnStopped | undefined {
  return onStoppedByValue.get(value);
}

/** The fence action whose setting is `value`, if there is one. */
export function fenceActionNamed(value: string): FenceAction | undefined {
  return fenceActionByValue.get(value);
}
