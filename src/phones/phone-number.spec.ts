import { describe, expect, it } from 'vitest';
import { checkPhoneNumber, toE164 } from './phone-number.js';

describe('checkPhoneNumber', () => {
  it.each([
    ['098765 43210', 'IN', '+919876543210'],
    ['9876543210', 'IN', '+919876543210'],
    ['+91 98765-43210', 'IN', '+919876543210'],
    ['+919876543210', 'IN', '+919876543210'],
    ['(415) 555-0100', 'US', '+14155550100'],
    ['+1 415 555 0100', 'US', '+14155550100'],
    ['020 7946 0018', 'GB', '+442079460018'],
  ])('normalises %s in %s to %s', (raw, country, e164) => {
    expect(checkPhoneNumber(raw, country)).toEqual({ ok: true, e164 });
  });

  it('refuses a number of another country, naming both', () => {
    const check = checkPhoneNumber('+14155550100', 'IN');
    expect(check.ok).toBe(false);
    expect(!check.ok && check.problem).toBe('number +14155550100 does not belong to country IN');
  });

  it('accepts a number valid in a country sharing its calling code', () => {
    // +1 covers the US and Canada; 604 is a Vancouver area code.
    expect(checkPhoneNumber('+16045550123', 'CA')).toEqual({ ok: true, e164: '+16045550123' });
  });

  it.each([
    ['too short', '12345', 'IN'],
    ['too long', '98765432101234', 'IN'],
    ['letters', 'call me', 'IN'],
    ['empty', '', 'IN'],
  ])('refuses a number that is %s, quoting it', (_case, raw, country) => {
    const check = checkPhoneNumber(raw, country);
    expect(check.ok).toBe(false);
    expect(!check.ok && check.problem).toContain(`"${raw}"`);
  });
});

describe('toE164', () => {
  it('normalises an international number', () => {
    expect(toE164('+91 98765 43210')).toBe('+919876543210');
  });

  it('gives undefined for an invalid number or one without its country code', () => {
    expect(toE164('12345')).toBeUndefined();
    expect(toE164('09876543210')).toBeUndefined();
    expect(toE164('not a number')).toBeUndefined();
  });
});
