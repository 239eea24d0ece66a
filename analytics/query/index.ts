export { formatResult, QUERY_FORMATS, type QueryFormat, type ResultTable } from './format.js';
export { queryLanded, type QueryOptions } from './query.js';
export type { CatalogueCoupon } from './views.js';
