import type { AnyBulkWriteOperation, Db, ObjectId } from 'mongodb';
import { isSuccessful } from '../src/calls/call-status.js';
import type { CallStatus } from '../src/calls/schemas/call-log.schema.js';
import type { Migration } from '../src/migrations/migration.js';
import type { IndexDefinition } from '../src/migrations/index-definitions.js';
import {
  createCollectionWithValidator,
  createIndexIfSupported,
} from '../src/migrations/server-capabilities.js';

const COLLECTION = 'dailycallstats';
const WRITE_BATCH = 500;

const INDEXES: IndexDefinition[] = [
  { collection: COLLECTION, keys: { userId: 1, day: 1 }, options: { name: 'userId_1_day_1' } },
  {
    collection: COLLECTION,
    keys: { userId: 1, day: 1, agentId: 1, status: 1 },
    options: { name: 'userId_1_day_1_agentId_1_status_1', unique: true },
  },
];

interface Totals {
  userId: ObjectId;
  day: string;
  agentId: ObjectId;
  status: CallStatus;
  count: number;
  durationSec: number;
  cost: number;
  successes: number;
}

/**
 * Rebuilds the roll-up from the calls whose end was settled: those finalized, and those whose
 * agent-stats step (with which finalization adds a call to the roll-up) had completed when a
 * crash cut the rest short. Calls are streamed by user and day (the userId/createdAt index);
 * one day of one user is summed in memory, then written with `$set`, so a re-run writes the
 * same totals again. Run like every migration, before the application serves.
 */
export async function rebuildDailyCallStats(db: Db): Promise<number> {
  const cursor = db.collection('calllogs').find(
    {
      $or: [{ finalizedAt: { $exists: true } }, { agentStatsState: { $in: ['applied', 'done'] } }],
    },
    {
      projection: {
        userId: 1,
        agentId: 1,
        status: 1,
        durationSec: 1,
        costBreakdown: 1,
        createdAt: 1,
      },
      sort: { userId: 1, createdAt: -1 },
      batchSize: 1000,
    },
  );
  let day = new Map<string, Totals>();
  let dayOf = '';
  let batch: AnyBulkWriteOperation[] = [];
  let written = 0;
  const write = async (): Promise<void> => {
    if (batch.length > 0) {
      await db.collection(COLLECTION).bulkWrite(batch, { ordered: false });
      written += batch.length;
      batch = [];
    }
  };
  const flushDay = async (): Promise<void> => {
    for (const { userId, day: key, agentId, status, ...totals } of day.values()) {
      batch.push({
        updateOne: {
          filter: { userId, day: key, agentId, status },
          update: { $set: totals },
          upsert: true,
        },
      });
    }
    day = new Map();
    if (batch.length >= WRITE_BATCH) {
      await write();
    }
  };
  for await (const call of cursor) {
    const callDay = `${String(call.userId)}|${(call.createdAt as Date).toISOString().slice(0, 10)}`;
    if (callDay !== dayOf) {
      await flushDay();
      dayOf = callDay;
    }
    const key = `${String(call.agentId)}|${String(call.status)}`;
    const totals = day.get(key) ?? {
      userId: call.userId as ObjectId,
      day: callDay.slice(-10),
      agentId: call.agentId as ObjectId,
      status: call.status as CallStatus,
      count: 0,
      durationSec: 0,
      cost: 0,
      successes: 0,
    };
    totals.count += 1;
    totals.durationSec += (call.durationSec as number | undefined) ?? 0;
    totals.cost += (call.costBreakdown as { total?: number } | undefined)?.total ?? 0;
    totals.successes += isSuccessful(totals.status) ? 1 : 0;
    day.set(key, totals);
  }
  await flushDay();
  await write();
  return written;
}

export const migration: Migration = {
  id: '005-daily-call-stats',
  description:
    'Daily call statistics roll-up (per user, day, agent, status), built from settled calls',
  async up({ db, logger }) {
    await createCollectionWithValidator(
      db,
      COLLECTION,
      {
        $jsonSchema: {
          bsonType: 'object',
          required: ['userId', 'day', 'agentId', 'status', 'count'],
          properties: {
            userId: { bsonType: 'objectId' },
            day: { bsonType: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' },
            agentId: { bsonType: 'objectId' },
            status: { bsonType: 'string' },
            count: { bsonType: 'number', minimum: 0 },
          },
        },
      },
      logger,
    );
    for (const definition of INDEXES) {
      await createIndexIfSupported(db, definition, logger);
    }
    const documents = await rebuildDailyCallStats(db);
    logger.log(`daily call statistics: ${documents} roll-up documents written from settled calls`);
  },
  async down({ db }) {
    await db
      .collection(COLLECTION)
      .drop()
      .catch((error: unknown) => {
        // Already gone (NamespaceNotFound): nothing to undo.
        if ((error as { code?: number }).code !== 26) {
          throw error;
        }
      });
  },
};
