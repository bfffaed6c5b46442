import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hidePassword } from './serve.ts';

test('tandem serve logs its store URLs without their passwords', () => {
  assert.equal(hidePassword('postgres://app:s3cret@db:5432/shop?schema=x'), 'postgres://app:***@db:5432/shop?schema=x');
  assert.equal(hidePassword('redis://:pw@cache:6379/0?prefix=shop'), 'redis://:***@cache:6379/0?prefix=shop');
  assert.equal(hidePassword('postgres://app@db/shop'), 'postgres://app@db/shop');
  assert.equal(hidePassword('sqlite:events.db'), 'sqlite:events.db');
  assert.equal(hidePassword('memory'), 'memory');
});
