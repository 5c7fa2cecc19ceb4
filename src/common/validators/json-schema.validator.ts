import { Ajv } from 'ajv';
import { registerDecorator, type ValidationOptions } from 'class-validator';

export const STRUCTURED_DATA_SCHEMA_MAX_BYTES = 8192;
export const STRUCTURED_DATA_SCHEMA_MAX_DEPTH = 8;

// Strict mode turns a misspelt keyword (which plain JSON Schema silently ignores) into an error
// the customer sees when saving, instead of an extraction that never checks what they meant.
const strictAjv = new Ajv({ strict: true, allErrors: false });

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why the schema's JSON shape cannot be stored, or undefined when it can. */
function structureProblem(schema: Record<string, unknown>): string | undefined {
  const visit = (node: unknown, depth: number): string | undefined => {
    if (node === null || ['string', 'number', 'boolean'].includes(typeof node)) {
      return undefined;
    }
    if (typeof node !== 'object') {
      return 'may only hold strings, numbers, booleans, null, arrays and objects';
    }
    if (depth > STRUCTURED_DATA_SCHEMA_MAX_DEPTH) {
      return `may be nested at most ${STRUCTURED_DATA_SCHEMA_MAX_DEPTH} levels deep`;
    }
    if (Array.isArray(node)) {
      for (const item of node) {
        const problem = visit(item, depth + 1);
        if (problem) {
          return problem;
        }
      }
      return undefined;
    }
    const entries = Object.entries(node);
    // Mongoose drops empty objects when it saves, so the stored schema would differ.
    if (entries.length === 0 && depth > 1) {
      return 'may not contain empty objects (they are not stored); give each field a type';
    }
    for (const [key, child] of entries) {
      if (key.startsWith('$')) {
        return (
          `keys may not start with "$" (got "${key}"): MongoDB cannot store them reliably, ` +
          'and $ref, $defs and $id are not supported'
        );
      }
      // A customer's regular expression would run on our process against model output: one
      // with catastrophic backtracking could stall every call the process carries.
      if ((key === 'pattern' && typeof child === 'string') || key === 'patternProperties') {
        return `may not use "${key}": regular expressions are not supported; use enum or maxLength`;
      }
      // A dotted key would be read as a path when the config is patched, nesting it wrongly.
      if (key.includes('.')) {
        return `keys may not contain "." (got "${key}")`;
      }
      const problem = visit(child, depth + 1);
      if (problem) {
        return problem;
      }
    }
    return undefined;
  };
  return visit(schema, 1);
}

/** Why ajv refuses the schema in strict mode (its first error), or undefined when it compiles. */
function compileProblem(schema: Record<string, unknown>): string | undefined {
  if (!strictAjv.validateSchema(schema)) {
    return `is not a valid JSON Schema: ${strictAjv.errorsText(strictAjv.errors?.slice(0, 1), {
      dataVar: 'schema',
    })}`;
  }
  try {
    strictAjv.compile(schema);
    return undefined;
  } catch (error) {
    return `is not a valid JSON Schema: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    // Ajv keeps every compiled schema by identity; each request brings a new object.
    strictAjv.removeSchema(schema);
  }
}

/**
 * Why a value cannot be an agent's structured-data schema, or undefined when it can: a small
 * JSON Schema of an object with named properties, storable in MongoDB and compiling with ajv in
 * strict mode. The message follows the field name ("structuredDataSchema must be …").
 */
export function structuredDataSchemaProblem(value: unknown): string | undefined {
  if (!isPlainObject(value)) {
    return 'must be an object (a JSON Schema)';
  }
  const structure = structureProblem(value);
  if (structure) {
    return structure;
  }
  if (Buffer.byteLength(JSON.stringify(value)) > STRUCTURED_DATA_SCHEMA_MAX_BYTES) {
    return `may be at most ${STRUCTURED_DATA_SCHEMA_MAX_BYTES} bytes as JSON`;
  }
  if (value.type !== 'object') {
    return 'must have type "object" at its top level';
  }
  if (!isPlainObject(value.properties)) {
    return 'must have "properties" naming the fields to extract';
  }
  return compileProblem(value);
}

export function IsStructuredDataSchema(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) => {
    registerDecorator({
      name: 'isStructuredDataSchema',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => structuredDataSchemaProblem(value) === undefined,
        defaultMessage: (args) =>
          `${args?.property ?? 'value'} ${structuredDataSchemaProblem(args?.value) ?? 'is invalid'}`,
      },
    });
  };
}
