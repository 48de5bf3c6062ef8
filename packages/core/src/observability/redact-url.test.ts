import { expect, it } from 'vitest';
import { redactUrl } from './redact-url.js';

it('replaces the password and keeps the rest of the URL', () => {
  expect(redactUrl('redis://:s3cret@127.0.0.1:6379/2')).toBe('redis://:***@127.0.0.1:6379/2');
  expect(redactUrl('postgresql://app:pw@db.local:5432/test?sslmode=require')).toBe(
    'postgresql://app:***@db.local:5432/test?sslmode=require',
  );
  expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
});

it('never echoes what it cannot parse', () => {
  expect(redactUrl('not a url with s3cret')).toBe('<unparseable url>');
});
