import type { TransformFnParams } from 'class-transformer';
import { describe, expect, it } from 'vitest';
import { toBoolean } from './to-boolean.js';

const transform = (value: unknown): unknown => toBoolean({ value } as TransformFnParams);

describe('toBoolean', () => {
  it('turns the query strings "true" and "false" into booleans', () => {
    expect(transform('true')).toBe(true);
    expect(transform('false')).toBe(false);
  });

  it.each(['TRUE', '1', 'yes', '', 'false '])(
    'leaves %j as it is for the validator to refuse',
    (value) => {
      expect(transform(value)).toBe(value);
    },
  );

  it('leaves real booleans and other types alone', () => {
    expect(transform(true)).toBe(true);
    expect(transform(false)).toBe(false);
    expect(transform(undefined)).toBeUndefined();
    expect(transform(['true'])).toEqual(['true']);
  });
});
