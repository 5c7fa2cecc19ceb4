import { Binary } from 'mongodb';
import { describe, expect, it } from 'vitest';
import {
  buildCollectionMetadata,
  parseCollectionMetadata,
  serializeCollectionMetadata,
} from './collection-metadata.js';

const uuid = new Binary(Buffer.from('0123456789abcdef0123456789abcdef', 'hex'), 4);

describe('collection metadata', () => {
  it('is written like mongodump writes it: canonical Extended JSON in its field order', () => {
    const metadata = buildCollectionMetadata(
      { name: 'users', options: {}, info: { readOnly: false, uuid } },
      [
        { v: 2, key: { _id: 1 }, name: '_id_' },
        { v: 2, key: { email: 1 }, name: 'email_1', unique: true },
      ],
    );
    expect(serializeCollectionMetadata(metadata)).toBe(
      '{"options":{},"indexes":[' +
        '{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"},' +
        '{"v":{"$numberInt":"2"},"key":{"email":{"$numberInt":"1"}},"name":"email_1","unique":true}],' +
        '"uuid":"0123456789abcdef0123456789abcdef","collectionName":"users","type":"collection"}',
    );
  });

  it('leaves the uuid out when the server does not report one', () => {
    const metadata = buildCollectionMetadata({ name: 'phones', options: {} }, []);
    expect(metadata).toEqual({
      options: {},
      indexes: [],
      collectionName: 'phones',
      type: 'collection',
    });
  });

  it('reads back what it writes, numbers as plain numbers', () => {
    const written = buildCollectionMetadata(
      { name: 'sessions', options: { validationLevel: 'moderate' }, info: { uuid } },
      [{ v: 2, key: { updatedAt: 1 }, name: 'ttl', expireAfterSeconds: 86400 }],
    );
    const read = parseCollectionMetadata(serializeCollectionMetadata(written), 'fallback');
    expect(read).toEqual(written);
    expect(typeof read.indexes[0]?.expireAfterSeconds).toBe('number');
  });

  it('reads the relaxed JSON other tools write and names the collection after its file', () => {
    expect(
      parseCollectionMetadata('{"indexes":[{"v":2,"key":{"a":-1},"name":"a_-1"}]}', 'things'),
    ).toEqual({
      options: {},
      indexes: [{ v: 2, key: { a: -1 }, name: 'a_-1' }],
      collectionName: 'things',
      type: 'collection',
    });
  });

  it.each([
    ['text that is not JSON', '{"indexes": [', /not valid Extended JSON/],
    ['a JSON array', '[]', /not a JSON object/],
    ['no indexes', '{"options":{}}', /"indexes" is missing or not an array/],
    ['options that are not an object', '{"options":3,"indexes":[]}', /"options" is not an object/],
    ['an index without a key', '{"indexes":[{"name":"a_1"}]}', /index #1 has no "key"/],
    [
      'an index without a name',
      '{"indexes":[{"key":{"a":1}}]}',
      /index #1 has no "key" object or "name"/,
    ],
    [
      'a collection name that is not text',
      '{"indexes":[],"collectionName":5}',
      /"collectionName" is not a string/,
    ],
  ])('refuses %s', (_case, text, message) => {
    expect(() => parseCollectionMetadata(text, 'users')).toThrow(message);
  });
});
