import type { TransformFnParams } from 'class-transformer';

/** Query strings carry booleans as text: 'true'/'false' become booleans, anything else stays for the validator to refuse. */
export function toBoolean({ value }: TransformFnParams): unknown {
  if (value === 'true') {
    return true;
  }
  if (value === 'false') {
    return false;
  }
  return value;
}
