// Public surface of the store layer: the EventLog and LiveState interfaces, their backends (SQLite,
// memory, PostgreSQL, Redis), URL factories and record validation. The conformance suites every
// backend passes are in suite.ts (not exported: they import node:test).
export type { CatalogChange, EventLog, FollowOptions, Follower, LiveEvent, LiveState, LiveUser, LogEntry, LogRecord, LogRecordKind, StoreErrorCode } from './types.ts';
export { StoreError } from './types.ts';
export { MAX_EXPOSURE_ITEMS, MAX_FEATURE_DEPTH, RECORD_KINDS, validateRecords } from './validate.ts';
export { MemoryEventLog } from './memory/memory-event-log.ts';
export { MemoryLiveState, MEMORY_LIVE_STATE_DEFAULTS } from './memory/memory-live-state.ts';
export type { MemoryLiveStateOptions } from './memory/memory-live-state.ts';
export { SqliteEventLog, SQLITE_DEFAULTS } from './sqlite/sqlite-event-log.ts';
export { PostgresEventLog, POSTGRES_DEFAULTS, POSTGRES_OPTIONS } from './postgres/postgres-event-log.ts';
export type { CatalogUser, PostgresEventLogOptions } from './postgres/postgres-event-log.ts';
export { RedisLiveState, REDIS_DEFAULTS, REDIS_OPTIONS } from './redis/redis-live-state.ts';
export type { RedisLiveStateOptions } from './redis/redis-live-state.ts';
export type { SqliteEventLogOptions } from './sqlite/sqlite-event-log.ts';
export { STORE_URLS, openEventLog, openLiveState } from './open.ts';
export { GroupCommitLog, GROUP_COMMIT_MAX_RECORDS } from './group-commit.ts';
export type { EventLogOpenOptions, LiveStateOpenOptions } from './open.ts';
