import type { Db } from 'mongodb';
import type { SecretBoxService } from '../infra/crypto/secret-box.service.js';

export interface ReencryptSummary {
  reencrypted: number;
  alreadyCurrent: number;
  /** Changed by someone else while this ran: already written with the running app's key. */
  changedMeanwhile: number;
  /** Owners (user or endpoint ids, by collection) whose secret no configured key opens. */
  unreadable: string[];
}

/** Every secret sealed at rest: its collection and field (the owner is the document's id). */
const SEALED_FIELDS = [
  { collection: 'users', path: 'exotelConfig.apiToken' },
  { collection: 'webhookendpoints', path: 'secret' },
  { collection: 'webhookendpoints', path: 'previousSecret.sealed' },
] as const;

function valueAt(document: Record<string, unknown>, path: string): unknown {
  let value: unknown = document;
  for (const key of path.split('.')) {
    value =
      typeof value === 'object' && value !== null
        ? (value as Record<string, unknown>)[key]
        : undefined;
  }
  return value;
}

/**
 * Re-encrypts one sealed field of every document with the current key (and the format bound to
 * its owner). Each write is conditional on the value read, so a secret replaced meanwhile is
 * left alone.
 */
async function reencryptField(
  db: Db,
  secretBox: SecretBoxService,
  field: (typeof SEALED_FIELDS)[number],
  summary: ReencryptSummary,
): Promise<void> {
  const documents = db.collection(field.collection);
  const cursor = documents.find(
    { [field.path]: { $type: 'string' } },
    { projection: { _id: 1, [field.path]: 1 } },
  );
  for await (const document of cursor) {
    const sealed = valueAt(document, field.path) as string;
    const owner = document._id.toString();
    if (secretBox.isCurrent(sealed)) {
      summary.alreadyCurrent += 1;
      continue;
    }
    let plaintext: string;
    try {
      plaintext = secretBox.decrypt(sealed, owner);
    } catch {
      summary.unreadable.push(`${field.collection} ${owner}`);
      continue;
    }
    const result = await documents.updateOne(
      { _id: document._id, [field.path]: sealed },
      { $set: { [field.path]: secretBox.encrypt(plaintext, owner) } },
    );
    if (result.modifiedCount === 1) {
      summary.reencrypted += 1;
    } else {
      summary.changedMeanwhile += 1;
    }
  }
}

/**
 * Re-encrypts every stored secret (users' Exotel API tokens, webhook endpoints' signing
 * secrets, current and rotated-out) with the current key, so an old key can be removed from
 * ENCRYPTION_KEYS afterwards.
 */
export async function reencryptSecrets(
  db: Db,
  secretBox: SecretBoxService,
): Promise<ReencryptSummary> {
  const summary: ReencryptSummary = {
    reencrypted: 0,
    alreadyCurrent: 0,
    changedMeanwhile: 0,
    unreadable: [],
  };
  for (const field of SEALED_FIELDS) {
    await reencryptField(db, secretBox, field, summary);
  }
  return summary;
}
