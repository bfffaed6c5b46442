/**
 * For tests of other layers (a test may import another layer's fixture, not its internals): the test
 * servers of the networked backends, a fresh PostgreSQL database and Redis key prefix per test file,
 * and what a test does when a server does not answer (fails under CI=true, skips elsewhere).
 */
export { freshDatabase, TEST_POSTGRES, type TestDatabase } from './postgres/test-database.ts';
export { freshPrefix, TEST_REDIS, type TestPrefix } from './redis/test-redis.ts';
export { IN_CI, serverMissing } from './test-services.ts';
