import { expect, it } from 'vitest';
import { serviceAddress } from '../src/start.js';

it('names host, port and database, never the user or password', () => {
  expect(serviceAddress('postgresql://app:s3cret@127.0.0.1:5432/test')).toBe('127.0.0.1:5432/test');
  expect(serviceAddress('redis://:s3cret@127.0.0.1:6379')).toBe('127.0.0.1:6379');
  expect(serviceAddress('no url, s3cret')).toBe('<unparseable url>');
});
