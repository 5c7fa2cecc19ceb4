import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { IsBoundedPlainObject, plainObjectProblem } from './bounded-plain-object.validator.js';

const BOUNDS = { maxDepth: 3, maxKeys: 50, maxBytes: 2048 };

describe('plainObjectProblem', () => {
  it('accepts a small plain object of JSON values, arrays included', () => {
    expect(
      plainObjectProblem(
        { stability: 0.5, name: 'x', on: true, none: null, list: [1, 'a'] },
        BOUNDS,
      ),
    ).toBeUndefined();
    expect(plainObjectProblem({}, BOUNDS)).toBeUndefined();
  });

  it.each([
    ['an array', [1, 2]],
    ['null', null],
    ['a string', 'settings'],
    ['a number', 3],
  ])('refuses %s as the value', (_case, value) => {
    expect(plainObjectProblem(value, BOUNDS)).toBe('must be an object');
  });

  it('refuses keys that MongoDB would read as operators or paths, at any depth', () => {
    expect(plainObjectProblem({ $where: 'x' }, BOUNDS)).toContain('"$where"');
    expect(plainObjectProblem({ a: { $gt: 1 } }, BOUNDS)).toContain('"$gt"');
    expect(plainObjectProblem({ 'a.b': 1 }, BOUNDS)).toContain('"a.b"');
    expect(plainObjectProblem({ list: [{ $ne: 1 }] }, BOUNDS)).toContain('"$ne"');
    // A "$" inside a key or a value is harmless.
    expect(plainObjectProblem({ price$: 'a.b $x' }, BOUNDS)).toBeUndefined();
  });

  it('accepts exactly maxDepth levels and refuses one more', () => {
    expect(plainObjectProblem({ a: { b: { c: 1 } } }, BOUNDS)).toBeUndefined();
    expect(plainObjectProblem({ a: { b: { c: { d: 1 } } } }, BOUNDS)).toContain('3 levels');
    // Arrays count as a level too.
    expect(plainObjectProblem({ a: { b: [1] } }, BOUNDS)).toBeUndefined();
    expect(plainObjectProblem({ a: { b: [[1]] } }, BOUNDS)).toContain('3 levels');
  });

  it('accepts exactly maxKeys keys and refuses one more, nested keys counted', () => {
    const keys = (count: number) =>
      Object.fromEntries(Array.from({ length: count }, (_, index) => [`k${index}`, index]));
    expect(plainObjectProblem(keys(50), BOUNDS)).toBeUndefined();
    expect(plainObjectProblem(keys(51), BOUNDS)).toContain('50 keys');
    expect(plainObjectProblem({ ...keys(49), nested: { one: 1 } }, BOUNDS)).toContain('50 keys');
  });

  it('accepts exactly maxBytes of JSON and refuses one byte more', () => {
    // {"b":"…"} adds 8 bytes around the string.
    expect(plainObjectProblem({ b: 'x'.repeat(2040) }, BOUNDS)).toBeUndefined();
    expect(plainObjectProblem({ b: 'x'.repeat(2041) }, BOUNDS)).toContain('2048 bytes');
    // Bytes, not characters: "é" is two bytes in UTF-8.
    expect(plainObjectProblem({ b: 'é'.repeat(1021) }, BOUNDS)).toContain('2048 bytes');
  });

  it('refuses values JSON cannot carry', () => {
    expect(plainObjectProblem({ f: () => 1 }, BOUNDS)).toContain('may only hold');
    expect(plainObjectProblem({ n: 10n }, BOUNDS)).toContain('may only hold');
  });
});

describe('IsBoundedPlainObject', () => {
  class Holder {
    @IsBoundedPlainObject({ maxDepth: 2, maxKeys: 5, maxBytes: 100 })
    settings: unknown;
  }

  const errorsFor = (settings: unknown) =>
    validateSync(plainToInstance(Holder, { settings })).flatMap((error) =>
      Object.values(error.constraints ?? {}),
    );

  it('passes a valid object', () => {
    expect(errorsFor({ a: 1 })).toEqual([]);
  });

  it('names the property and the reason in its message', () => {
    expect(errorsFor({ a: { b: { c: 1 } } })).toEqual([
      'settings may be nested at most 2 levels deep',
    ]);
    expect(errorsFor({ $set: 1 })).toEqual([
      'settings keys may not start with "$" or contain "." (got "$set")',
    ]);
  });
});
