import { registerDecorator, type ValidationOptions } from 'class-validator';

export interface PlainObjectBounds {
  maxDepth: number;
  maxKeys: number;
  maxBytes: number;
}

/**
 * Why a value is not a small plain JSON object, or undefined when it is. Keys starting with
 * `$` or containing `.` are refused: they would be read as MongoDB operators or paths.
 */
export function plainObjectProblem(value: unknown, bounds: PlainObjectBounds): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'must be an object';
  }
  let keys = 0;
  const visit = (node: unknown, depth: number): string | undefined => {
    if (node === null || ['string', 'number', 'boolean'].includes(typeof node)) {
      return undefined;
    }
    if (typeof node !== 'object') {
      return 'may only hold strings, numbers, booleans, null, arrays and objects';
    }
    if (depth > bounds.maxDepth) {
      return `may be nested at most ${bounds.maxDepth} levels deep`;
    }
    const entries = Array.isArray(node)
      ? node.map((item, index) => [String(index), item] as const)
      : Object.entries(node);
    for (const [key, child] of entries) {
      if (!Array.isArray(node)) {
        keys += 1;
        if (key.startsWith('$') || key.includes('.')) {
          return `keys may not start with "$" or contain "." (got "${key}")`;
        }
      }
      if (keys > bounds.maxKeys) {
        return `may have at most ${bounds.maxKeys} keys`;
      }
      const problem = visit(child, depth + 1);
      if (problem) {
        return problem;
      }
    }
    return undefined;
  };
  const problem = visit(value, 1);
  if (problem) {
    return problem;
  }
  return Buffer.byteLength(JSON.stringify(value)) > bounds.maxBytes
    ? `may be at most ${bounds.maxBytes} bytes as JSON`
    : undefined;
}

export function IsBoundedPlainObject(
  bounds: PlainObjectBounds,
  options?: ValidationOptions,
): PropertyDecorator {
  return (target, propertyName) => {
    registerDecorator({
      name: 'isBoundedPlainObject',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => plainObjectProblem(value, bounds) === undefined,
        defaultMessage: (args) =>
          `${args?.property ?? 'value'} ${plainObjectProblem(args?.value, bounds) ?? 'is invalid'}`,
      },
    });
  };
}
