import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';

export type PhoneNumberCheck = { ok: true; e164: string } | { ok: false; problem: string };

/** Normalises to E.164 and checks the number is valid and belongs to `country`. */
export function checkPhoneNumber(raw: string, country: string): PhoneNumberCheck {
  const parsed = parsePhoneNumberFromString(raw, country as CountryCode);
  if (!parsed?.isValid()) {
    return { ok: false, problem: `number "${raw}" is not a valid phone number` };
  }
  const countries = parsed.getPossibleCountries();
  if (parsed.country !== country && !countries.includes(country as CountryCode)) {
    return { ok: false, problem: `number ${parsed.number} does not belong to country ${country}` };
  }
  return { ok: true, e164: parsed.number };
}

/** E.164 for a number given with or without its country code (`to` of outbound calls); undefined when invalid. */
export function toE164(raw: string): string | undefined {
  const parsed = parsePhoneNumberFromString(raw);
  return parsed?.isValid() ? parsed.number : undefined;
}
