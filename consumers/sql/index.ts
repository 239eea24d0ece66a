export * from './rows.js';
export * from './statements.js';
