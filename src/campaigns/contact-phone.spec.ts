import { describe, expect, it } from 'vitest';
import { normaliseContactPhone } from './contact-phone.js';

describe('normaliseContactPhone', () => {
  it.each([
    ['+91 98765 43210', '+919876543210'],
    ['+919876543210', '+919876543210'],
    ['9876543210', '+919876543210'],
    ['098765-43210', '+919876543210'],
    ['919876543210', '+919876543210'],
    ['0091 98765 43210', '+919876543210'],
    ['(080) 2345 6789', '+918023456789'],
    ['+1 415 555 2671', '+14155552671'],
  ])('reads %s as %s', (raw, e164) => {
    expect(normaliseContactPhone(raw)).toEqual({ ok: true, e164 });
  });

  it.each([
    ['', /empty/],
    ['   ', /empty/],
    ['12345', /not a valid number/],
    ['98765abc10', /other than digits/],
    ['+91 98765 4321', /not a valid number/],
    ['9'.repeat(40), /longer than 32/],
  ])('refuses %j', (raw, problem) => {
    const check = normaliseContactPhone(raw);
    expect(check.ok).toBe(false);
    expect(check.ok ? '' : check.problem).toMatch(problem);
  });
});
