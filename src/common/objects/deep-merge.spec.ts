import { describe, expect, it } from 'vitest';
import { deepMerge, isPlainObject, toPlainData, toSetPaths } from './deep-merge.js';

describe('isPlainObject', () => {
  it('accepts objects and refuses arrays, null, dates and primitives', () => {
    expect(isPlainObject({ a: 1 })).toBe(true);
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject([])).toBe(false);
    expect(isPlainObject(null)).toBe(false);
    expect(isPlainObject(new Date())).toBe(false);
    expect(isPlainObject('text')).toBe(false);
    expect(isPlainObject(3)).toBe(false);
  });
});

describe('deepMerge', () => {
  const base = {
    prompt: 'Base prompt text',
    llm: { model: 'gpt-4', temperature: 0.7, maxTokens: 500 },
    voice: { provider: 'elevenlabs', voiceId: 'v1', settings: { stability: 0.5 } },
    tags: ['a', 'b'],
  };

  it('merges nested objects and keeps every field the patch does not name', () => {
    expect(
      deepMerge(base, { llm: { model: 'gpt-4-turbo' }, voice: { settings: { speed: 1 } } }),
    ).toEqual({
      prompt: 'Base prompt text',
      llm: { model: 'gpt-4-turbo', temperature: 0.7, maxTokens: 500 },
      voice: { provider: 'elevenlabs', voiceId: 'v1', settings: { stability: 0.5, speed: 1 } },
      tags: ['a', 'b'],
    });
  });

  it('replaces scalars and arrays instead of merging them', () => {
    const merged = deepMerge(base, { prompt: 'Other prompt text', tags: ['c'] });
    expect(merged.prompt).toBe('Other prompt text');
    expect(merged.tags).toEqual(['c']);
  });

  it('ignores undefined and null in the patch', () => {
    expect(deepMerge(base, { prompt: undefined, llm: null })).toEqual(base);
  });

  it('returns a copy of the base when there is no patch', () => {
    const merged = deepMerge(base, undefined);
    expect(merged).toEqual(base);
    expect(merged).not.toBe(base);
  });

  it('never mutates or shares the base or the patch', () => {
    const patch = { llm: { temperature: 1.5 }, tags: ['x'] };
    const baseCopy = structuredClone(base);
    const patchCopy = structuredClone(patch);
    const merged = deepMerge(base, patch);
    merged.llm.model = 'changed';
    merged.tags.push('y');
    expect(base).toEqual(baseCopy);
    expect(patch).toEqual(patchCopy);
  });

  it('lets an object in the patch replace a scalar in the base and the reverse', () => {
    expect(deepMerge({ a: 1, b: { c: 1 } }, { a: { nested: true }, b: 2 })).toEqual({
      a: { nested: true },
      b: 2,
    });
  });
});

describe('toPlainData', () => {
  class Dto {
    name = 'agent';
    missing: string | undefined = undefined;
    nested = new (class Inner {
      value = 1;
    })();
  }

  it('turns class instances into plain objects and drops undefined fields', () => {
    const plain = toPlainData(new Dto());
    expect(plain).toEqual({ name: 'agent', nested: { value: 1 } });
    expect(Object.getPrototypeOf(plain)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(plain.nested)).toBe(Object.prototype);
    expect('missing' in plain).toBe(false);
  });
});

describe('toSetPaths', () => {
  it('flattens a deep patch into dotted $set paths', () => {
    expect(
      toSetPaths('config', {
        llm: { temperature: 1.2 },
        prompt: 'New prompt',
        flow: { interruption: { allowed: false } },
      }),
    ).toEqual({
      'config.llm.temperature': 1.2,
      'config.prompt': 'New prompt',
      'config.flow.interruption.allowed': false,
    });
  });

  it('sets opaque keys whole, so their old content disappears', () => {
    expect(
      toSetPaths(
        'config',
        { voice: { settings: { speed: 1 }, voiceId: 'v2' } },
        new Set(['settings']),
      ),
    ).toEqual({ 'config.voice.settings': { speed: 1 }, 'config.voice.voiceId': 'v2' });
  });

  it('sets arrays whole and skips undefined values', () => {
    expect(toSetPaths('phone', { tags: ['a'], status: undefined })).toEqual({
      'phone.tags': ['a'],
    });
  });

  it('gives no paths for an empty patch', () => {
    expect(toSetPaths('config', {})).toEqual({});
  });
});
