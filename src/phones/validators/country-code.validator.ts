import { registerDecorator, type ValidationOptions } from 'class-validator';
import { isCountryCode } from '../../common/validators/language-code.validator.js';

export function IsCountryCode(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) => {
    registerDecorator({
      name: 'isCountryCode',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: '$property must be an ISO 3166-1 alpha-2 country code such as IN or US',
        ...options,
      },
      validator: { validate: isCountryCode },
    });
  };
}
