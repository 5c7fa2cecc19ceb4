import { Binary, BSON, type CollectionInfo, type Document } from 'mongodb';

/** One index as `listIndexes` describes it (`v`, `key`, `name` and its options). */
export interface IndexDocument extends Document {
  key: Document;
  name: string;
}

/**
 * The `<collection>.metadata.json` document of mongodump, field for field, so that
 * `mongorestore` recreates options and indexes from our backups and we restore from its dumps.
 */
export interface CollectionMetadata {
  options: Document;
  indexes: IndexDocument[];
  /** Hex of the collection's UUID (no dashes), as mongodump writes it; absent when unknown. */
  uuid?: string;
  collectionName: string;
  type: 'collection';
}

/** The metadata file exists but cannot be used; the message says why. */
export class MetadataFormatError extends Error {}

const UUID_SUBTYPE = 4;

function uuidHex(info: CollectionInfo['info']): string | undefined {
  const uuid: unknown = info?.uuid;
  if (uuid instanceof Binary && uuid.sub_type === UUID_SUBTYPE) {
    return uuid.toString('hex');
  }
  return undefined;
}

export function buildCollectionMetadata(
  collection: Pick<CollectionInfo, 'name' | 'options' | 'info'>,
  indexes: readonly IndexDocument[],
): CollectionMetadata {
  const uuid = uuidHex(collection.info);
  return {
    options: collection.options ?? {},
    indexes: [...indexes],
    ...(uuid === undefined ? {} : { uuid }),
    collectionName: collection.name,
    type: 'collection',
  };
}

/** Canonical Extended JSON, exactly what mongodump writes (`{"v":{"$numberInt":"2"},...}`). */
export function serializeCollectionMetadata(metadata: CollectionMetadata): string {
  return BSON.EJSON.stringify(metadata, { relaxed: false });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses and checks a metadata file's text; numbers come back as plain numbers so that the
 * index keys and options can be handed to `createIndex` as they are.
 */
export function parseCollectionMetadata(text: string, fallbackName: string): CollectionMetadata {
  let parsed: unknown;
  try {
    parsed = BSON.EJSON.parse(text, { relaxed: true });
  } catch (error) {
    throw new MetadataFormatError(`not valid Extended JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(parsed)) {
    throw new MetadataFormatError('not a JSON object');
  }
  const options = parsed.options ?? {};
  if (!isPlainObject(options)) {
    throw new MetadataFormatError('"options" is not an object');
  }
  const indexes = parsed.indexes;
  if (!Array.isArray(indexes)) {
    throw new MetadataFormatError('"indexes" is missing or not an array');
  }
  const checkedIndexes = indexes.map((index: unknown, position): IndexDocument => {
    if (!isPlainObject(index) || !isPlainObject(index.key) || typeof index.name !== 'string') {
      throw new MetadataFormatError(`index #${position + 1} has no "key" object or "name" string`);
    }
    return { ...index, key: index.key, name: index.name };
  });
  const collectionName = parsed.collectionName ?? fallbackName;
  if (typeof collectionName !== 'string') {
    throw new MetadataFormatError('"collectionName" is not a string');
  }
  return {
    options,
    indexes: checkedIndexes,
    ...(typeof parsed.uuid === 'string' ? { uuid: parsed.uuid } : {}),
    collectionName,
    type: 'collection',
  };
}
