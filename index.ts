/**
 * The package's library entry, for an upstream TypeScript checkout:
 *
 *   import { RedemptionProducer, RequestRefusedError } from 'coupon-redemption-pipeline';
 *
 * Built to dist/ by `npm run build` (package.json "exports"); inside this repository tsconfig's
 * `paths` maps the name to this file, so the examples run with tsx without a build.
 */
export { RedemptionProducer, RequestRefusedError, type RedemptionProducerOptions } from './producers/redemption-producer.js';
export { requestFromJson, requestProblems } from './schemas/request-validation.js';
export { murmur2Partition } from './consumers/partition-contract.js';
export { RedemptionError, InputError, type ErrorCode } from './lib/errors.js';
export type { RedemptionRequested, RedemptionDecided, RedemptionOp, Decision, RejectReason } from './schemas/types.js';
