export { DASHBOARD_DEFAULTS, type DashboardOptions } from './options.js';
export { type Dashboard, startDashboard } from './server.js';
export type { Snapshot } from './snapshot.js';
