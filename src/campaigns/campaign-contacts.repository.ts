import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { type Model, Types } from 'mongoose';
import type { CallStatus } from '../calls/schemas/call-log.schema.js';
import { type PaginationQueryDto, skipFor } from '../common/pagination/pagination.js';
import { insertNew } from '../infra/mongo/insert-new.js';
import {
  CampaignContact,
  type CampaignContactDocument,
  type ContactState,
  OPEN_CONTACT_STATES,
} from './schemas/campaign-contact.schema.js';

/** A contact as imported: its number (E.164), variables and CSV row. */
export interface NewContact {
  phone: string;
  variables?: Record<string, string>;
  row?: number;
}

export interface CampaignTotals {
  counts: Array<{ state: ContactState; count: number }>;
  /** What the calls cost. */
  cost: number;
  /** Calls made (attempts) and the seconds they lasted. */
  calls: number;
  callSeconds: number;
}

/** How a contact's attempt ended, applied once (only to the attempt's own call). */
export interface AttemptOutcome {
  lastStatus: CallStatus;
  cost: number;
  durationSec: number;
  /** `pending` again (a retry at `nextAttemptAt`) or the contact's end. */
  state: ContactState;
  nextAttemptAt?: Date;
  at: Date;
}

/**
 * The only code that touches the campaigncontacts collection. Every change of a contact's state
 * is one conditional single-document update, so two dispatchers (or a dispatcher and a
 * call's end) can never both act on one attempt.
 */
@Injectable()
export class CampaignContactsRepository {
  constructor(
    @InjectModel(CampaignContact.name) private readonly contacts: Model<CampaignContact>,
  ) {}

  /**
   * Inserts a batch (unordered): numbers the campaign has already are dropped by the unique
   * index. Returns how many were inserted and how many were duplicates.
   */
  async insertBatch(
    campaignId: Types.ObjectId,
    userId: Types.ObjectId,
    batch: NewContact[],
    now: Date,
    importId?: Types.ObjectId,
  ): Promise<{ inserted: number; duplicates: number }> {
    if (batch.length === 0) {
      return { inserted: 0, duplicates: 0 };
    }
    const documents = batch.map((contact) => ({
      _id: new Types.ObjectId(),
      campaignId,
      userId,
      phone: contact.phone,
      ...(contact.variables && Object.keys(contact.variables).length > 0
        ? { variables: contact.variables }
        : {}),
      ...(contact.row === undefined ? {} : { row: contact.row }),
      ...(importId ? { importId } : {}),
      state: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      cost: 0,
      createdAt: now,
      updatedAt: now,
    }));
    const { inserted, duplicates } = await insertNew(this.contacts.collection, documents);
    return { inserted, duplicates: duplicates.size };
  }

  /** Takes back the contacts an upload stored (those not claimed yet); returns how many. */
  async removeImport(campaignId: Types.ObjectId, importId: Types.ObjectId): Promise<number> {
    const result = await this.contacts
      .deleteMany({ campaignId, importId, state: 'pending', attempts: 0 })
      .exec();
    return result.deletedCount;
  }

  /**
   * Up to `limit` contacts of the campaign due now, ids only. Unsorted on purpose: any due
   * contact will do, and the development server would sort them without the index (its cost
   * grows with the contacts waiting); MongoDB returns them in `nextAttemptAt` order anyway.
   */
  async dueIds(campaignId: Types.ObjectId, now: Date, limit: number): Promise<Types.ObjectId[]> {
    const due = await this.contacts
      .find({ campaignId, state: 'pending', nextAttemptAt: { $lte: now } }, { _id: 1 })
      .limit(limit)
      .lean<Array<{ _id: Types.ObjectId }>>()
      .exec();
    return due.map((contact) => contact._id);
  }

  /**
   * Claims the contact's next attempt while it is still due (atomic: of dispatchers racing for
   * it, one gets it), counting the attempt. Null when another got it or it is not due.
   */
  claim(
    contactId: Types.ObjectId,
    now: Date,
    token: string,
  ): Promise<CampaignContactDocument | null> {
    return this.contacts
      .findOneAndUpdate(
        { _id: contactId, state: 'pending', nextAttemptAt: { $lte: now } },
        { $set: { state: 'dialing', claim: { token, at: now } }, $inc: { attempts: 1 } },
        { returnDocument: 'after' },
      )
      .lean<CampaignContactDocument>()
      .exec();
  }

  /** Takes over a claim its dispatcher left (presumed dead): one taker wins. */
  takeOver(
    contactId: Types.ObjectId,
    staleToken: string,
    token: string,
    now: Date,
  ): Promise<CampaignContactDocument | null> {
    return this.contacts
      .findOneAndUpdate(
        { _id: contactId, state: 'dialing', 'claim.token': staleToken },
        { $set: { claim: { token, at: now } } },
        { returnDocument: 'after' },
      )
      .lean<CampaignContactDocument>()
      .exec();
  }

  /** Claims whose dispatcher stopped before finishing (older than `before`). */
  staleClaims(before: Date, limit: number): Promise<CampaignContactDocument[]> {
    return this.contacts
      .find({ state: 'dialing', 'claim.at': { $lt: before } })
      .limit(limit)
      .lean<CampaignContactDocument[]>()
      .exec();
  }

  /** Gives the attempt back uncounted (no call was made): the contact is due again. */
  async unclaim(contactId: Types.ObjectId, token: string, lastError?: string): Promise<boolean> {
    const result = await this.contacts
      .updateOne(
        { _id: contactId, state: 'dialing', 'claim.token': token },
        {
          $set: { state: 'pending', ...(lastError ? { lastError } : {}) },
          $unset: { claim: '' },
          $inc: { attempts: -1 },
        },
      )
      .exec();
    return result.modifiedCount === 1;
  }

  /** The claimed attempt's call exists: the contact is being called. */
  async markCalling(
    contactId: Types.ObjectId,
    token: string,
    callLogId: Types.ObjectId,
  ): Promise<boolean> {
    const result = await this.contacts
      .updateOne(
        { _id: contactId, state: 'dialing', 'claim.token': token },
        { $set: { state: 'calling', callLogId }, $unset: { claim: '', lastError: '' } },
      )
      .exec();
    return result.modifiedCount === 1;
  }

  /** Ends the claimed contact without a call (on the do-not-call list, unplaceable). */
  async endClaimed(
    contactId: Types.ObjectId,
    token: string,
    state: ContactState,
    lastError: string,
    at: Date,
  ): Promise<boolean> {
    const result = await this.contacts
      .updateOne(
        { _id: contactId, state: 'dialing', 'claim.token': token },
        { $set: { state, lastError, finishedAt: at }, $unset: { claim: '' } },
      )
      .exec();
    return result.modifiedCount === 1;
  }

  /** Applies the outcome of the attempt whose call is `callLogId`, once. Null if applied before. */
  settle(
    contactId: Types.ObjectId,
    callLogId: Types.ObjectId,
    outcome: AttemptOutcome,
  ): Promise<CampaignContactDocument | null> {
    const set: Record<string, unknown> = { state: outcome.state, lastStatus: outcome.lastStatus };
    if (outcome.state === 'pending') {
      set.nextAttemptAt = outcome.nextAttemptAt ?? outcome.at;
    } else {
      set.finishedAt = outcome.at;
    }
    return this.contacts
      .findOneAndUpdate(
        { _id: contactId, state: 'calling', callLogId },
        { $set: set, $inc: { cost: outcome.cost, callSeconds: outcome.durationSec } },
        { returnDocument: 'after' },
      )
      .lean<CampaignContactDocument>()
      .exec();
  }

  /** Ends every contact of the campaign still waiting (cancel, end of the campaign). */
  async endPending(campaignId: Types.ObjectId, state: ContactState, at: Date): Promise<number> {
    const result = await this.contacts
      .updateMany(
        { campaignId, state: 'pending' },
        { $set: { state, finishedAt: at, lastError: `campaign ${state}` } },
      )
      .exec();
    return result.modifiedCount;
  }

  /** Blocks the user's waiting contacts with these numbers (added to the do-not-call list). */
  async blockNumbers(userId: Types.ObjectId, phones: string[], at: Date): Promise<number> {
    if (phones.length === 0) {
      return 0;
    }
    const result = await this.contacts
      .updateMany(
        { userId, phone: { $in: phones }, state: 'pending' },
        { $set: { state: 'blocked', finishedAt: at, lastError: 'on the do-not-call list' } },
      )
      .exec();
    return result.modifiedCount;
  }

  async hasOpen(campaignId: Types.ObjectId): Promise<boolean> {
    const open = await this.contacts
      .findOne({ campaignId, state: { $in: [...OPEN_CONTACT_STATES] } }, { _id: 1 })
      .lean()
      .exec();
    return open !== null;
  }

  /**
   * Contacts by state, and what their calls cost and lasted. One accumulator per aggregation:
   * the development server (FerretDB) computes only the first `$sum` of a `$group` right.
   */
  async progressOf(campaignId: Types.ObjectId): Promise<CampaignTotals> {
    const sumOf = async (field: string): Promise<number> => {
      const [row] = await this.contacts
        .aggregate<{ total: number }>([
          { $match: { campaignId } },
          { $group: { _id: null, total: { $sum: `$${field}` } } },
        ])
        .exec();
      return row?.total ?? 0;
    };
    const [states, cost, calls, callSeconds] = await Promise.all([
      this.contacts
        .aggregate<{ _id: ContactState; count: number }>([
          { $match: { campaignId } },
          { $group: { _id: '$state', count: { $sum: 1 } } },
        ])
        .exec(),
      sumOf('cost'),
      sumOf('attempts'),
      sumOf('callSeconds'),
    ]);
    return {
      counts: states.map((row) => ({ state: row._id, count: row.count })),
      cost,
      calls,
      callSeconds,
    };
  }

  async list(
    campaignId: Types.ObjectId,
    state: ContactState | undefined,
    page: PaginationQueryDto,
  ): Promise<{ contacts: CampaignContactDocument[]; total: number }> {
    const filter = { campaignId, ...(state ? { state } : {}) };
    const [contacts, total] = await Promise.all([
      this.contacts
        .find(filter)
        .sort({ _id: 1 })
        .skip(skipFor(page))
        .limit(page.limit)
        .lean<CampaignContactDocument[]>()
        .exec(),
      this.contacts.countDocuments(filter).exec(),
    ]);
    return { contacts, total };
  }

  /** Every contact of the campaign, in import order, read in batches (the CSV export). */
  stream(campaignId: Types.ObjectId): AsyncIterable<CampaignContactDocument> {
    return this.contacts
      .find({ campaignId })
      .sort({ _id: 1 })
      .lean<CampaignContactDocument[]>()
      .cursor({ batchSize: 1000 });
  }

  findById(contactId: Types.ObjectId | string): Promise<CampaignContactDocument | null> {
    return this.contacts.findById(contactId).lean<CampaignContactDocument>().exec();
  }
}
