import type { Logger } from '@nestjs/common';
import type { CreateCollectionOptions, Db, MongoServerError } from 'mongodb';
import type { IndexDefinition } from './index-definitions.js';

// NotImplemented, CommandNotSupported, and the IndexNotFound FerretDB answers for text indexes.
const UNSUPPORTED_CODES = new Set([238, 115, 27]);
const NAMESPACE_EXISTS = 48;
const INDEX_NOT_FOUND = 27;
const NAMESPACE_NOT_FOUND = 26;

function codeOf(error: unknown): number | undefined {
  return (error as Partial<MongoServerError> | undefined)?.code as number | undefined;
}

export function isUnsupportedByServer(error: unknown): boolean {
  const code = codeOf(error);
  return code !== undefined && UNSUPPORTED_CODES.has(code);
}

/**
 * Creates a collection with its validator; a server without `$jsonSchema` support gets the
 * collection without it and a warning. Existing collections are left as they are.
 */
export async function createCollectionWithValidator(
  db: Db,
  name: string,
  validator: CreateCollectionOptions['validator'],
  logger: Logger,
): Promise<void> {
  const existing = await db.listCollections({ name }, { nameOnly: true }).toArray();
  if (existing.length > 0) {
    return;
  }
  try {
    await db.createCollection(name, { validator, validationLevel: 'moderate' });
  } catch (error) {
    if (codeOf(error) === NAMESPACE_EXISTS) {
      return;
    }
    if (!isUnsupportedByServer(error)) {
      throw error;
    }
    logger.warn(
      `collection "${name}": this server has no $jsonSchema validators; created without one (application validation still applies)`,
    );
    await db.createCollection(name).catch((retryError: unknown) => {
      if (codeOf(retryError) !== NAMESPACE_EXISTS) {
        throw retryError;
      }
    });
  }
}

/** Creates an index; an index kind the server lacks (text, TTL, partial) is skipped with a warning naming it. */
export async function createIndexIfSupported(
  db: Db,
  definition: IndexDefinition,
  logger: Logger,
): Promise<boolean> {
  try {
    await db.collection(definition.collection).createIndex(definition.keys, definition.options, {});
    return true;
  } catch (error) {
    if (!isUnsupportedByServer(error)) {
      throw error;
    }
    logger.warn(
      `index ${definition.collection}.${definition.options.name} not created: this server does not support it ` +
        `(${(error as Error).message}); the application uses its fallback`,
    );
    return false;
  }
}

export async function dropIndexIfExists(db: Db, collection: string, name: string): Promise<void> {
  try {
    await db.collection(collection).dropIndex(name);
  } catch (error) {
    const code = codeOf(error);
    if (code !== INDEX_NOT_FOUND && code !== NAMESPACE_NOT_FOUND) {
      throw error;
    }
  }
}

export async function hasIndex(db: Db, collection: string, name: string): Promise<boolean> {
  try {
    const indexes = await db.collection(collection).indexes();
    return indexes.some((existing) => existing.name === name);
  } catch (error) {
    if (codeOf(error) === NAMESPACE_NOT_FOUND) {
      return false;
    }
    throw error;
  }
}
