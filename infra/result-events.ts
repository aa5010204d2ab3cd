/**
 * The result events' names for EventBridge rules in every jsii language: the contract's
 * constants (functions/shared/contract/result-events.ts), which jsii cannot export as they are
 * (no module-level constants in its type system). The detail's types stay TypeScript's
 * (`ebs-volume-remediator/contract`).
 */
import {
  fenceResultDetailType,
  lifecycleResultDetailType,
  resultDetailType,
  resultEventSource,
  sweepResultDetailType,
} from '../functions/shared/contract/result-events.ts';

/** The `source` and `detail-type`s of the result events sent to `resultEventBus`. */
export class ResultEvents {
  /** The `source` of every result event. */
  public static readonly SOURCE: string = resultEventSource;
  /** The `detail-type` of the event sent for each instance acted on. */
  public static readonly REMEDIATION_DETAIL_TYPE: string = resultDetailType;
  /** The `detail-type` of the one event a sweep sends. */
  public static readonly SWEEP_DETAIL_TYPE: string = sweepResultDetailType;
  /** The `detail-type` of the event of a terminate lifecycle hook. */
  public static readonly LIFECYCLE_DETAIL_TYPE: string = lifecycleResultDetailType;
  /** The `detail-type` of the event sent for each hung node the fence check decided on. */
  public static readonly FENCE_DETAIL_TYPE: string = fenceResultDetailType;

  private constructor() {}
}
