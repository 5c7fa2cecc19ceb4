import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { IsStructuredDataSchema, structuredDataSchemaProblem } from './json-schema.validator.js';

const CUSTOMER_SCHEMA = {
  type: 'object',
  properties: {
    customerName: { type: 'string', description: 'Full name as the caller gave it' },
    callbackRequested: { type: 'boolean' },
    preferredSlot: { type: 'string', enum: ['morning', 'afternoon', 'evening'] },
    orderIds: { type: 'array', items: { type: 'string' } },
    address: {
      type: 'object',
      properties: { city: { type: 'string' }, pinCode: { type: 'string', maxLength: 6 } },
      required: ['city'],
    },
  },
  required: ['customerName'],
  additionalProperties: false,
};

/** A schema nested `levels` containers deep, counting the top-level object as one. */
function nestedSchema(levels: number): Record<string, unknown> {
  // type/properties/field adds two levels per field: top (1) → properties (2) → field (3) …
  let field: Record<string, unknown> = { type: 'string' };
  let depth = 3;
  while (depth + 2 <= levels) {
    field = { type: 'object', properties: { inner: field } };
    depth += 2;
  }
  if (depth < levels) {
    field = { ...field, examples: ['x'] };
  }
  return { type: 'object', properties: { outer: field } };
}

describe('structuredDataSchemaProblem', () => {
  it('accepts an object schema with properties, nested objects, arrays, enums and bounds', () => {
    expect(structuredDataSchemaProblem(CUSTOMER_SCHEMA)).toBeUndefined();
  });

  it.each([
    ['an array', [{ type: 'object' }]],
    ['null', null],
    ['a string', '{"type":"object"}'],
    ['a number', 1],
  ])('refuses %s as the schema', (_case, value) => {
    expect(structuredDataSchemaProblem(value)).toBe('must be an object (a JSON Schema)');
  });

  it('requires type "object" with properties at the top level', () => {
    expect(structuredDataSchemaProblem({ type: 'string' })).toBe(
      'must have type "object" at its top level',
    );
    expect(structuredDataSchemaProblem({ properties: { a: { type: 'string' } } })).toBe(
      'must have type "object" at its top level',
    );
    expect(structuredDataSchemaProblem({})).toBe('must have type "object" at its top level');
    expect(structuredDataSchemaProblem({ type: 'object' })).toContain('"properties"');
    expect(structuredDataSchemaProblem({ type: 'object', properties: [] })).toContain(
      '"properties"',
    );
  });

  it('refuses "$" keys at any depth, saying why', () => {
    const withRef = {
      type: 'object',
      properties: { a: { $ref: '#/definitions/a' } },
    };
    expect(structuredDataSchemaProblem(withRef)).toContain('"$ref"');
    expect(structuredDataSchemaProblem(withRef)).toContain('MongoDB');
    expect(
      structuredDataSchemaProblem({ $schema: 'http://json-schema.org/draft-07/schema#' }),
    ).toContain('"$schema"');
    expect(
      structuredDataSchemaProblem({
        type: 'object',
        properties: { a: { type: 'array', items: [{ $id: 'x' }] } },
      }),
    ).toContain('"$id"');
  });

  it('refuses dotted keys, which a config patch would read as paths', () => {
    expect(
      structuredDataSchemaProblem({
        type: 'object',
        properties: { 'order.id': { type: 'string' } },
      }),
    ).toContain('"order.id"');
  });

  it('refuses empty objects inside the schema, which storage would drop', () => {
    expect(structuredDataSchemaProblem({ type: 'object', properties: { a: {} } })).toContain(
      'empty objects',
    );
    expect(structuredDataSchemaProblem({ type: 'object', properties: {} })).toContain(
      'empty objects',
    );
  });

  it('accepts exactly 8 levels of nesting and refuses a ninth', () => {
    expect(structuredDataSchemaProblem(nestedSchema(8))).toBeUndefined();
    expect(structuredDataSchemaProblem(nestedSchema(9))).toBe(
      'may be nested at most 8 levels deep',
    );
  });

  it('accepts exactly 8 KiB of JSON and refuses one byte more', () => {
    const sized = (bytes: number) => {
      const schema = { type: 'object', properties: { a: { type: 'string', description: '' } } };
      const padding = bytes - Buffer.byteLength(JSON.stringify(schema));
      schema.properties.a.description = 'd'.repeat(padding);
      return schema;
    };
    expect(Buffer.byteLength(JSON.stringify(sized(8192)))).toBe(8192);
    expect(structuredDataSchemaProblem(sized(8192))).toBeUndefined();
    expect(structuredDataSchemaProblem(sized(8193))).toBe('may be at most 8192 bytes as JSON');
  });

  it('refuses unknown keywords (ajv strict mode) with ajv’s message', () => {
    expect(
      structuredDataSchemaProblem({
        type: 'object',
        properties: { a: { type: 'string', maxLenght: 5 } },
      }),
    ).toBe('is not a valid JSON Schema: strict mode: unknown keyword: "maxLenght"');
  });

  it('refuses what the JSON Schema meta-schema refuses, naming the place', () => {
    expect(
      structuredDataSchemaProblem({ type: 'object', properties: { a: { type: 'text' } } }),
    ).toBe(
      'is not a valid JSON Schema: schema/properties/a/type must be equal to one of the allowed values',
    );
  });

  it('refuses what strict mode finds inconsistent', () => {
    expect(
      structuredDataSchemaProblem({
        type: 'object',
        properties: { a: { type: 'string' } },
        required: ['b'],
      }),
    ).toContain('required property "b" is not defined');
  });

  it('refuses regular expressions (they would run on our process), but not a field named pattern', () => {
    expect(
      structuredDataSchemaProblem({
        type: 'object',
        properties: { a: { type: 'string', pattern: '^(a+)+$' } },
      }),
    ).toBe('may not use "pattern": regular expressions are not supported; use enum or maxLength');
    expect(
      structuredDataSchemaProblem({
        type: 'object',
        properties: { a: { type: 'string' } },
        patternProperties: { '^x': { type: 'string' } },
      }),
    ).toContain('may not use "patternProperties"');
    expect(
      structuredDataSchemaProblem({
        type: 'object',
        properties: { pattern: { type: 'string' } },
      }),
    ).toBeUndefined();
  });

  it('gives the same answer for the same schema every time (nothing left behind in ajv)', () => {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect(structuredDataSchemaProblem(structuredClone(CUSTOMER_SCHEMA))).toBeUndefined();
      expect(structuredDataSchemaProblem(CUSTOMER_SCHEMA)).toBeUndefined();
    }
  });
});

describe('IsStructuredDataSchema', () => {
  class Holder {
    @IsStructuredDataSchema()
    structuredDataSchema: unknown;
  }

  const errorsFor = (structuredDataSchema: unknown) =>
    validateSync(plainToInstance(Holder, { structuredDataSchema })).flatMap((error) =>
      Object.values(error.constraints ?? {}),
    );

  it('passes a valid schema', () => {
    expect(errorsFor(CUSTOMER_SCHEMA)).toEqual([]);
  });

  it('names the property and the reason in its message', () => {
    expect(errorsFor({ type: 'array' })).toEqual([
      'structuredDataSchema must have type "object" at its top level',
    ]);
    expect(errorsFor('schema')).toEqual(['structuredDataSchema must be an object (a JSON Schema)']);
  });
});
