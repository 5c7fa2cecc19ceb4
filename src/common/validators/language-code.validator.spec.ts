import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { IsLanguageCode, isCountryCode, isLanguageCode } from './language-code.validator.js';

describe('isLanguageCode', () => {
  it.each(['en', 'hi', 'es', 'zh', 'en-IN', 'en-US', 'pt-BR', 'hi-IN'])('accepts %s', (code) => {
    expect(isLanguageCode(code)).toBe(true);
  });

  it.each([
    ['a language name', 'english'],
    ['an upper-case language', 'EN'],
    ['a lower-case region', 'en-in'],
    ['an unknown language', 'xx'],
    ['an unknown region', 'en-XX'],
    ['an underscore', 'en_IN'],
    ['a three-letter code', 'eng'],
    ['a script subtag', 'zh-Hans'],
    ['surrounding spaces', ' en'],
    ['a trailing newline', 'en\n'],
    ['an empty string', ''],
    ['a number', 12],
    ['null', null],
  ])('refuses %s', (_case, value) => {
    expect(isLanguageCode(value)).toBe(false);
  });
});

describe('isCountryCode', () => {
  it.each(['IN', 'US', 'GB', 'DE'])('accepts %s', (code) => {
    expect(isCountryCode(code)).toBe(true);
  });

  it.each(['in', 'XX', 'IND', '', 'I', 91, undefined])('refuses %s', (value) => {
    expect(isCountryCode(value)).toBe(false);
  });
});

describe('IsLanguageCode', () => {
  class Holder {
    @IsLanguageCode()
    language: unknown;
  }

  it('explains the expected format, naming the property', () => {
    const errors = validateSync(plainToInstance(Holder, { language: 'english' }));
    expect(Object.values(errors[0]?.constraints ?? {})).toEqual([
      'language must be an ISO 639-1 code, optionally with a region (en, hi, en-IN)',
    ]);
    expect(validateSync(plainToInstance(Holder, { language: 'en-IN' }))).toEqual([]);
  });
});
