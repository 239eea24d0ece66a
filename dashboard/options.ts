/** Options of `redeem dashboard` (dashboard/server.ts). */
export interface DashboardOptions {
  /** Address to listen on: loopback unless widened (the page shows the pipeline's traffic, unauthenticated). @defaultValue 127.0.0.1 */
  host: string;
  /** Port; 0 takes a free one. @defaultValue 8090 */
  port: number;
  /** Base URLs of the consumers' ops servers (their /metrics), scraped at each update. @defaultValue none */
  metrics: string[];
  /** How often the page's figures are gathered and pushed. @defaultValue 1000 */
  intervalMs: number;
}

export const DASHBOARD_DEFAULTS = { host: '127.0.0.1', port: 8090, intervalMs: 1000 } as const;
