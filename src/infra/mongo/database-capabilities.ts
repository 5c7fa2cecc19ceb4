import { Logger, type Provider } from '@nestjs/common';
import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';

const logger = new Logger('DatabaseCapabilities');

async function hasIndex(
  connection: Connection,
  collection: string,
  name: string,
): Promise<boolean> {
  try {
    const indexes = await connection.collection(collection).indexes();
    return indexes.some((existing) => existing.name === name);
  } catch (error) {
    // No collection yet (migrations not run) or no answer: the fallbacks work everywhere.
    logger.warn(`could not list the indexes of ${collection} (${String(error)})`);
    return false;
  }
}

/**
 * What the connected MongoDB-wire server offers that a feature may use or must do without,
 * read once at start-up (before any repository is built) and logged once. Decisions rest on
 * what the migrations could create (an index is there or not), never on which server this is.
 */
export class DatabaseCapabilities {
  /** @param agentNameTextSearch agent names can be searched with `$text` (agents.name_text exists). */
  constructor(readonly agentNameTextSearch: boolean) {}

  static async detect(connection: Connection): Promise<DatabaseCapabilities> {
    const capabilities = new DatabaseCapabilities(
      await hasIndex(connection, 'agents', 'name_text'),
    );
    logger.log(
      capabilities.agentNameTextSearch
        ? 'agent search uses the text index (agents.name_text)'
        : 'agent search uses a name-prefix match (no text index on agents.name)',
    );
    return capabilities;
  }
}

export const databaseCapabilitiesProvider: Provider = {
  provide: DatabaseCapabilities,
  inject: [getConnectionToken()],
  useFactory: (connection: Connection) => DatabaseCapabilities.detect(connection),
};
