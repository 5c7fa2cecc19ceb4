import { parsePhoneNumberFromString } from 'libphonenumber-js';

export type ContactPhoneCheck = { ok: true; e164: string } | { ok: false; problem: string };

const SEPARATORS = /[\s\-().]/g;

/**
 * A contact's number in E.164. Numbers with their country code (`+…`, `00…`) are taken as
 * they are; the rest are read as Indian: `98765 43210`, `098765-43210`, `919876543210`,
 * `(080) 2345 6789`.
 */
export function normaliseContactPhone(raw: string): ContactPhoneCheck {
  const text = raw.trim();
  if (text.length === 0) {
    return { ok: false, problem: 'phone is empty' };
  }
  if (text.length > 32) {
    return { ok: false, problem: 'phone is longer than 32 characters' };
  }
  const compact = text.replace(SEPARATORS, '');
  if (!/^\+?\d+$/.test(compact)) {
    return { ok: false, problem: `phone "${text}" holds characters other than digits` };
  }
  let candidate = compact;
  if (compact.startsWith('00')) {
    candidate = `+${compact.slice(2)}`;
  } else if (!compact.startsWith('+') && compact.length === 12 && compact.startsWith('91')) {
    candidate = `+${compact}`;
  }
  const parsed = parsePhoneNumberFromString(candidate, 'IN');
  if (!parsed?.isValid()) {
    return { ok: false, problem: `phone "${text}" is not a valid number` };
  }
  return { ok: true, e164: parsed.number };
}
