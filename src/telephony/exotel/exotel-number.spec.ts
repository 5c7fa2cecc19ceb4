import { describe, expect, it } from 'vitest';
import { normaliseExotelNumber } from './exotel-number.js';

describe('normaliseExotelNumber', () => {
  it.each([
    ['09876543210', '+919876543210'],
    ['+919876543210', '+919876543210'],
    ['919876543210', '+919876543210'],
    ['9876543210', '+919876543210'],
    ['0 98765 43210', '+919876543210'],
    ['098765-43210', '+919876543210'],
    [' +91 98765 43210 ', '+919876543210'],
    ['00919876543210', '+919876543210'],
    ['08030752400', '+918030752400'],
    ['918030752400', '+918030752400'],
  ])('reads %s as %s', (raw, e164) => {
    expect(normaliseExotelNumber(raw)).toBe(e164);
  });

  it('reads national numbers of the given default country', () => {
    expect(normaliseExotelNumber('(415) 555-0100', 'US')).toBe('+14155550100');
    expect(normaliseExotelNumber('020 7946 0018', 'GB')).toBe('+442079460018');
  });

  it('keeps a number of another country given with its "+"', () => {
    expect(normaliseExotelNumber('+14155550100')).toBe('+14155550100');
  });

  it('reads digits that are no national number as an international one missing its "+"', () => {
    expect(normaliseExotelNumber('442079460018')).toBe('+442079460018');
  });

  it.each([
    ['empty', ''],
    ['too short', '12345'],
    ['letters', 'anonymous'],
    ['a SIP address', 'sip:agent@example.com'],
    ['an invalid national number', '01234'],
    ['too long', '98765432109876543210'],
  ])('gives undefined for %s', (_case, raw) => {
    expect(normaliseExotelNumber(raw)).toBeUndefined();
  });
});
