// The dashboard's public surface: the fastify plugin and the read-only views it serves.
export type { DashboardOptions } from './plugin.ts';
export { dashboardPlugin } from './plugin.ts';
export type { HistoryEntry, ItemView, ShownItem, UserView } from './inspect.ts';
export { describeItem, itemView, searchItems, searchUsers, trainingHistories, userView } from './inspect.ts';
export type { LiveEvent, LiveSnapshot } from './live.ts';
export { LiveFeed } from './live.ts';
