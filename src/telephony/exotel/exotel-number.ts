import { type CountryCode, parsePhoneNumberFromString } from 'libphonenumber-js';

const SEPARATORS = /[\s\-().]/g;

function validE164(raw: string, country?: CountryCode): string | undefined {
  const parsed = parsePhoneNumberFromString(raw, country);
  return parsed?.isValid() ? parsed.number : undefined;
}

/**
 * E.164 for a number as Exotel writes it: with the trunk prefix ("09876543210"), with the
 * country code with or without "+" ("+919876543210", "919876543210"), bare national digits
 * ("9876543210") or with spaces ("0 98765 43210"). Undefined for anything that is not a
 * valid phone number (SIP addresses, "anonymous", empty).
 */
export function normaliseExotelNumber(raw: string, defaultCountry = 'IN'): string | undefined {
  const compact = raw.trim().replace(SEPARATORS, '');
  if (!/^\+?\d{4,17}$/.test(compact)) {
    return undefined;
  }
  if (compact.startsWith('+')) {
    return validE164(compact);
  }
  // A national reading first: "919876543210" is read as +91 by libphonenumber when the default
  // country's code leads; only then try the digits as an international number missing its "+".
  return validE164(compact, defaultCountry as CountryCode) ?? validE164(`+${compact}`);
}
