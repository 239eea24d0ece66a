/**
 * The package's library entry, for an upstream TypeScript checkout:
 *
 *   import { RedemptionClient, RequestRefusedError } from 'coupon-redemption-pipeline';
 *
 * Built to dist/ by `npm run build` (package.json "exports"); inside this repository tsconfig's
 * `paths` maps the name to this file, so the examples run with tsx without a build.
 */
export { type ErrorCode, InputError, RedemptionError } from './lib/errors.js';
export { SendTimeoutError, TopicMissingError } from './producers/acknowledged-send.js';
export { DecisionTimeoutError, outcomeOf, type RedemptionOutcome } from './producers/decision-waiter.js';
export {
  RedemptionClient,
  type RedemptionClientOptions,
  RedemptionProducer,
  type RedemptionProducerOptions,
  RequestRefusedError,
} from './producers/redemption-producer.js';
export { murmur2Partition } from './schemas/partitioning.js';
export { requestFromJson, requestProblems } from './schemas/request-validation.js';
export type { Decision, RedemptionDecided, RedemptionOp, RedemptionRequested, RejectReason } from './schemas/types.js';
