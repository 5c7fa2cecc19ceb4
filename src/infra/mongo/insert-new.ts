import {
  type Collection,
  type Document,
  MongoBulkWriteError,
  type OptionalUnlessRequiredId,
} from 'mongodb';
import { isDuplicateKeyError } from '../../users/users.repository.js';

/**
 * Inserts the documents in one unordered batch, where a unique index turns away those already
 * present. Returns the positions of the documents turned away; any other write error throws.
 */
export async function insertNew<T extends Document>(
  collection: Collection<T>,
  documents: Array<OptionalUnlessRequiredId<T>>,
): Promise<{ inserted: number; duplicates: Set<number> }> {
  if (documents.length === 0) {
    return { inserted: 0, duplicates: new Set() };
  }
  try {
    const result = await collection.insertMany(documents, { ordered: false });
    return { inserted: result.insertedCount, duplicates: new Set() };
  } catch (error) {
    if (!(error instanceof MongoBulkWriteError)) {
      throw error;
    }
    const errors = (
      Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors]
    ) as Array<{ index: number; code?: number; errmsg?: string }>;
    if (!errors.every((writeError) => isDuplicateKeyError(writeError))) {
      throw error;
    }
    return {
      inserted: error.result.insertedCount,
      duplicates: new Set(errors.map((writeError) => writeError.index)),
    };
  }
}
