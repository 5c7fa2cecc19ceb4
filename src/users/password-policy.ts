import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { IsString, MinLength, ValidateBy, type ValidationOptions } from 'class-validator';

export const PASSWORD_MIN_CHARACTERS = 8;
/** bcrypt reads only the first 72 bytes: a longer password would silently match its prefix. */
export const PASSWORD_MAX_BYTES = 72;

/** Why `password` cannot be stored, naming `field`; undefined when it can. */
export function passwordProblem(password: string, field: string): string | undefined {
  if (password.length < PASSWORD_MIN_CHARACTERS) {
    return `${field} must have at least ${PASSWORD_MIN_CHARACTERS} characters`;
  }
  const bytes = Buffer.byteLength(password, 'utf8');
  if (bytes > PASSWORD_MAX_BYTES) {
    return `${field} must be at most ${PASSWORD_MAX_BYTES} bytes in UTF-8 (got ${bytes}; accented letters and emoji take 2 to 4 bytes each)`;
  }
  return undefined;
}

/** At most PASSWORD_MAX_BYTES bytes once encoded as UTF-8 (bcrypt's limit, not characters). */
export function FitsBcrypt(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'fitsBcrypt',
      validator: {
        validate: (value: unknown) =>
          typeof value === 'string' && Buffer.byteLength(value, 'utf8') <= PASSWORD_MAX_BYTES,
        defaultMessage: (args) =>
          `${args?.property ?? 'password'} must be at most ${PASSWORD_MAX_BYTES} bytes in UTF-8 ` +
          '(accented letters and emoji take 2 to 4 bytes each)',
      },
    },
    options,
  );
}

/** A password that is about to be hashed and stored (register, change-password). */
export function IsNewPassword(): PropertyDecorator {
  return applyDecorators(
    ApiProperty({
      example: 'correct horse battery',
      minLength: PASSWORD_MIN_CHARACTERS,
      description: `At least ${PASSWORD_MIN_CHARACTERS} characters and at most ${PASSWORD_MAX_BYTES} bytes in UTF-8`,
    }),
    IsString(),
    MinLength(PASSWORD_MIN_CHARACTERS, {
      message: `$property must have at least ${PASSWORD_MIN_CHARACTERS} characters`,
    }),
    FitsBcrypt(),
  );
}
