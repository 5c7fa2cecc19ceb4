import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Collection } from 'mongodb';
import type { Migration, MigrationContext } from './migration.js';

interface AppliedMigration {
  _id: string;
  description: string;
  appliedAt: Date;
}

interface MigrationLock {
  _id: string;
  owner: string;
  expiresAt: Date;
}

export interface MigrationStatus {
  id: string;
  description: string;
  appliedAt: Date | null;
}

const LOCK_ID = 'migrate';
const LOCK_TTL_MS = 10 * 60 * 1000;
const DUPLICATE_KEY = 11000;

export class MigrationLockedError extends Error {
  constructor(owner: string) {
    super(`Another instance (${owner}) is running migrations; try again when it has finished`);
  }
}

/**
 * Applies numbered migrations in order, recording each in `migrations`. A lock document in
 * `migrations_lock` (unique _id, with an expiry so a crashed holder cannot block for ever)
 * keeps two instances from migrating at once.
 */
export class MigrationRunner {
  private readonly applied: Collection<AppliedMigration>;
  private readonly locks: Collection<MigrationLock>;

  constructor(
    private readonly context: MigrationContext,
    private readonly migrations: readonly Migration[],
  ) {
    this.applied = context.db.collection<AppliedMigration>('migrations');
    this.locks = context.db.collection<MigrationLock>('migrations_lock');
  }

  async status(): Promise<MigrationStatus[]> {
    const applied = new Map(
      (await this.applied.find().toArray()).map((record) => [record._id, record.appliedAt]),
    );
    return this.migrations.map((migration) => ({
      id: migration.id,
      description: migration.description,
      appliedAt: applied.get(migration.id) ?? null,
    }));
  }

  /** Applies every pending migration; returns the ids applied. */
  async up(): Promise<string[]> {
    return this.withLock(async () => {
      const done: string[] = [];
      for (const entry of await this.status()) {
        if (entry.appliedAt !== null) {
          continue;
        }
        const migration = this.find(entry.id);
        this.context.logger.log(`applying ${migration.id}: ${migration.description}`);
        await migration.up(this.context);
        await this.applied.updateOne(
          { _id: migration.id },
          { $set: { description: migration.description, appliedAt: new Date() } },
          { upsert: true },
        );
        done.push(migration.id);
      }
      return done;
    });
  }

  /** Reverts the most recently applied migration; returns its id, or undefined if none. */
  async down(): Promise<string | undefined> {
    return this.withLock(async () => {
      const last = (await this.status()).filter((entry) => entry.appliedAt !== null).at(-1);
      if (!last) {
        return undefined;
      }
      const migration = this.find(last.id);
      this.context.logger.log(`reverting ${migration.id}`);
      await migration.down(this.context);
      await this.applied.deleteOne({ _id: migration.id });
      return migration.id;
    });
  }

  private find(id: string): Migration {
    const migration = this.migrations.find((candidate) => candidate.id === id);
    if (!migration) {
      throw new Error(`Unknown migration ${id}`);
    }
    return migration;
  }

  private async withLock<T>(work: () => Promise<T>): Promise<T> {
    const owner = `${hostname()}:${process.pid}:${randomUUID()}`;
    await this.acquire(owner);
    try {
      return await work();
    } finally {
      await this.locks.deleteOne({ _id: LOCK_ID, owner });
    }
  }

  private async acquire(owner: string): Promise<void> {
    const expiresAt = new Date(Date.now() + LOCK_TTL_MS);
    try {
      await this.locks.insertOne({ _id: LOCK_ID, owner, expiresAt });
      return;
    } catch (error) {
      if ((error as { code?: number }).code !== DUPLICATE_KEY) {
        throw error;
      }
    }
    const stolen = await this.locks.findOneAndUpdate(
      { _id: LOCK_ID, expiresAt: { $lt: new Date() } },
      { $set: { owner, expiresAt } },
    );
    if (!stolen) {
      const holder = await this.locks.findOne({ _id: LOCK_ID });
      throw new MigrationLockedError(holder?.owner ?? 'unknown');
    }
  }
}
