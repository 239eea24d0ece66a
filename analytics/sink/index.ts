export { defaultSinkGroup, type LandedChunk, SINK_DEFAULTS, type SinkOptions, type SinkSummary } from './options.js';
export { runAuditSink } from './sink.js';
