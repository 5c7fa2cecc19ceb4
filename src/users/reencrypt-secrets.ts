import type { Db } from 'mongodb';
import type { SecretBoxService } from '../infra/crypto/secret-box.service.js';

export interface ReencryptSummary {
  reencrypted: number;
  alreadyCurrent: number;
  /** Changed by someone else while this ran: already written with the running app's key. */
  changedMeanwhile: number;
  /** Users whose token no configured key opens (their ids). */
  unreadable: string[];
}

/**
 * Re-encrypts every stored Exotel API token with the current key (and the v2 format bound to
 * its user), so an old key can be removed from ENCRYPTION_KEYS afterwards. Each write is
 * conditional on the value read, so a token the user replaced meanwhile is left alone.
 */
export async function reencryptExotelTokens(
  db: Db,
  secretBox: SecretBoxService,
): Promise<ReencryptSummary> {
  const summary: ReencryptSummary = {
    reencrypted: 0,
    alreadyCurrent: 0,
    changedMeanwhile: 0,
    unreadable: [],
  };
  const users = db.collection('users');
  const cursor = users.find(
    { 'exotelConfig.apiToken': { $type: 'string' } },
    { projection: { _id: 1, 'exotelConfig.apiToken': 1 } },
  );
  for await (const user of cursor) {
    const sealed = (user.exotelConfig as { apiToken: string }).apiToken;
    const owner = user._id.toString();
    if (secretBox.isCurrent(sealed)) {
      summary.alreadyCurrent += 1;
      continue;
    }
    let plaintext: string;
    try {
      plaintext = secretBox.decrypt(sealed, owner);
    } catch {
      summary.unreadable.push(owner);
      continue;
    }
    const result = await users.updateOne(
      { _id: user._id, 'exotelConfig.apiToken': sealed },
      { $set: { 'exotelConfig.apiToken': secretBox.encrypt(plaintext, owner) } },
    );
    if (result.modifiedCount === 1) {
      summary.reencrypted += 1;
    } else {
      summary.changedMeanwhile += 1;
    }
  }
  return summary;
}
