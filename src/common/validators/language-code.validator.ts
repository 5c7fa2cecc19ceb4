import { registerDecorator, type ValidationOptions } from 'class-validator';
import { getCountries } from 'libphonenumber-js';

// ISO 639-1 two-letter language codes.
const ISO_639_1 = new Set(
  (
    'aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en eo es et eu ' +
    'fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ' +
    'ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os ' +
    'pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ' +
    'ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu'
  ).split(' '),
);
const REGIONS = new Set<string>(getCountries());

/** `en`, `hi`, `en-IN`: an ISO 639-1 language, optionally with an ISO 3166-1 region. */
export function isLanguageCode(value: unknown): boolean {
  if (typeof value !== 'string') {
    return false;
  }
  const match = /^([a-z]{2})(?:-([A-Z]{2}))?$/.exec(value);
  return (
    match !== null &&
    ISO_639_1.has(match[1] ?? '') &&
    (match[2] === undefined || REGIONS.has(match[2]))
  );
}

export function IsLanguageCode(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) => {
    registerDecorator({
      name: 'isLanguageCode',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: '$property must be an ISO 639-1 code, optionally with a region (en, hi, en-IN)',
        ...options,
      },
      validator: { validate: isLanguageCode },
    });
  };
}

export function isCountryCode(value: unknown): boolean {
  return typeof value === 'string' && REGIONS.has(value);
}
