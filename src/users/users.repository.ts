import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { type Model, Types } from 'mongoose';
import { escapeRegex } from '../common/objects/escape-regex.js';
import { skipFor, type PaginationQueryDto } from '../common/pagination/pagination.js';
import {
  User,
  type ExotelConfig,
  type UserDocument,
  type UserRole,
} from './schemas/user.schema.js';
import { UserProfileCache } from './user-profile.cache.js';

export interface NewUser {
  email: string;
  passwordHash: string;
  name: string;
  role: UserRole;
  credits: number;
  webhookToken: string;
}

/** What the user's document says about charging one call (see UsersRepository.readChargeState). */
export interface ChargeState {
  credits: number;
  /** Set when the call's marker is there: it was charged this much. */
  charged?: number;
}

/** One charged call whose marker may go (see UsersRepository.removeChargeMarkers). */
export interface ChargeMarker {
  userId: Types.ObjectId;
  callLogId: string;
  charged: number;
}

export interface UserListFilter {
  role?: UserRole;
  isActive?: boolean;
  emailPrefix?: string;
}

const DUPLICATE_KEY = 11000;

export function isDuplicateKeyError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) {
    return false;
  }
  const { code, message } = error as { code?: unknown; message?: unknown };
  // FerretDB (development, CI) reports a unique violation in an update as an InternalError
  // carrying its backend's message: SQLite's, or PostgreSQL's SQLSTATE 23505.
  return (
    code === DUPLICATE_KEY ||
    (typeof message === 'string' &&
      (message.includes('UNIQUE constraint failed') || message.includes('(SQLSTATE 23505)')))
  );
}

/**
 * The only code that touches the users collection. Every write also drops the user's cached
 * profile (what GET /auth/me answers), after the write: being the one way in, this is where no
 * change can miss it.
 */
@Injectable()
export class UsersRepository {
  constructor(
    @InjectModel(User.name) private readonly users: Model<User>,
    private readonly profiles: UserProfileCache,
  ) {}

  /** Returns undefined when the email is taken (unique index), so races resolve to one winner. */
  async create(user: NewUser): Promise<UserDocument | undefined> {
    try {
      const created = await this.users.create({
        email: user.email,
        password: user.passwordHash,
        name: user.name,
        role: user.role,
        credits: user.credits,
        webhookToken: user.webhookToken,
        isActive: true,
      });
      return created.toObject<UserDocument>();
    } catch (error) {
      if (isDuplicateKeyError(error)) {
        return undefined;
      }
      throw error;
    }
  }

  findById(userId: string): Promise<UserDocument | null> {
    return this.users.findById(userId).lean<UserDocument>().exec();
  }

  findByEmail(email: string): Promise<UserDocument | null> {
    return this.users
      .findOne({ email: { $eq: email } })
      .lean<UserDocument>()
      .exec();
  }

  findActiveByWebhookToken(webhookToken: string): Promise<UserDocument | null> {
    return this.users
      .findOne({ webhookToken: { $eq: webhookToken }, isActive: true })
      .lean<UserDocument>()
      .exec();
  }

  /**
   * Makes `tokenId` the user's one valid access token (and records the login time, if given),
   * only while the account is active and still has the role the token was signed with: a
   * deactivation or role change that lands between reading the user and this write wins.
   * False when it did not apply.
   */
  async claimCurrentToken(
    userId: Types.ObjectId | string,
    claim: { tokenId: string; role: UserRole; loggedInAt?: Date },
  ): Promise<boolean> {
    const set: Record<string, unknown> = { currentTokenId: claim.tokenId };
    if (claim.loggedInAt !== undefined) {
      set.lastLoginAt = claim.loggedInAt;
    }
    const result = await this.users
      .updateOne({ _id: userId, isActive: true, role: { $eq: claim.role } }, { $set: set })
      .exec();
    await this.changed(userId);
    return result.matchedCount === 1;
  }

  /** After this no access token of the user is valid, whatever Redis still caches. */
  async clearCurrentToken(userId: string): Promise<void> {
    await this.users.updateOne({ _id: userId }, { $unset: { currentTokenId: 1 } }).exec();
    await this.changed(userId);
  }

  /** What decides whether a token may be cached again: one read by id, three fields. */
  findTokenState(
    userId: string,
  ): Promise<Pick<UserDocument, 'currentTokenId' | 'isActive' | 'role'> | null> {
    if (!Types.ObjectId.isValid(userId)) {
      return Promise.resolve(null);
    }
    return this.users
      .findById(userId, { currentTokenId: 1, isActive: 1, role: 1 })
      .lean<Pick<UserDocument, 'currentTokenId' | 'isActive' | 'role'>>()
      .exec();
  }

  /** True when the user still existed and its password hash was replaced. */
  async setPasswordHash(userId: string, passwordHash: string): Promise<boolean> {
    const result = await this.users
      .updateOne({ _id: userId }, { $set: { password: passwordHash } })
      .exec();
    await this.changed(userId);
    return result.matchedCount === 1;
  }

  async setExotelConfig(userId: string, exotelConfig: ExotelConfig): Promise<UserDocument | null> {
    const user = await this.users
      .findByIdAndUpdate(
        userId,
        { $set: { exotelConfig } },
        { returnDocument: 'after', runValidators: true },
      )
      .lean<UserDocument>()
      .exec();
    await this.changed(userId);
    return user;
  }

  /** Sets (or, with null, clears) the user's recording retention; false for an unknown user. */
  async setRecordingRetention(userId: string, days: number | null): Promise<boolean> {
    const result = await this.users
      .updateOne(
        { _id: userId },
        days === null
          ? { $unset: { recordingRetentionDays: 1 } }
          : { $set: { recordingRetentionDays: days } },
        { runValidators: true },
      )
      .exec();
    await this.changed(userId);
    return result.matchedCount === 1;
  }

  /** Users with a recording retention of their own (few: the rest follow the default). */
  findRecordingRetentions(): Promise<
    Array<{ _id: Types.ObjectId; recordingRetentionDays: number }>
  > {
    return this.users
      .find({ recordingRetentionDays: { $exists: true } }, { recordingRetentionDays: 1 })
      .lean<Array<{ _id: Types.ObjectId; recordingRetentionDays: number }>>()
      .exec();
  }

  async setWebhookToken(userId: string, webhookToken: string): Promise<UserDocument | null> {
    const user = await this.users
      .findByIdAndUpdate(userId, { $set: { webhookToken } }, { returnDocument: 'after' })
      .lean<UserDocument>()
      .exec();
    await this.changed(userId);
    return user;
  }

  async list(
    filter: UserListFilter,
    page: PaginationQueryDto,
  ): Promise<{ users: UserDocument[]; total: number }> {
    const query: Record<string, unknown> = {};
    if (filter.role !== undefined) {
      query.role = filter.role;
    }
    if (filter.isActive !== undefined) {
      query.isActive = filter.isActive;
    }
    if (filter.emailPrefix !== undefined) {
      // Emails are stored lower-cased, so an anchored prefix can use the email index.
      query.email = { $regex: `^${escapeRegex(filter.emailPrefix.toLowerCase())}` };
    }
    const [users, total] = await Promise.all([
      this.users
        .find(query)
        .sort({ createdAt: -1, _id: -1 })
        .skip(skipFor(page))
        .limit(page.limit)
        .lean<UserDocument[]>()
        .exec(),
      this.users.countDocuments(query).exec(),
    ]);
    return { users, total };
  }

  async updateRoleAndStatus(
    userId: string,
    changes: { role?: UserRole; isActive?: boolean },
  ): Promise<UserDocument | null> {
    const user = await this.users
      .findByIdAndUpdate(
        userId,
        { $set: changes },
        { returnDocument: 'after', runValidators: true },
      )
      .lean<UserDocument>()
      .exec();
    await this.changed(userId);
    return user;
  }

  countActiveAdminsOtherThan(userId: string): Promise<number> {
    return this.users
      .countDocuments({ role: 'admin', isActive: true, _id: { $ne: new Types.ObjectId(userId) } })
      .exec();
  }

  /**
   * Adds `amount` (may be negative) in one conditional update: the balance can never go
   * below zero, even with concurrent adjustments. Null when the user is missing or the
   * balance is too small.
   */
  async adjustCredits(userId: string, amount: number): Promise<UserDocument | null> {
    const condition = amount < 0 ? { credits: { $gte: -amount } } : {};
    const user = await this.users
      .findOneAndUpdate(
        { _id: userId, ...condition },
        { $inc: { credits: amount } },
        { returnDocument: 'after' },
      )
      .lean<UserDocument>()
      .exec();
    if (user) {
      await this.changed(userId);
    }
    return user;
  }

  /**
   * Charges a call whose whole amount the balance covers, at most once per call: the call id
   * (and `id|amount`) is pushed in the same atomic update that takes the credits, which only
   * applies while the id is absent. `chargeSequence` counts the charges. False when it did not
   * apply: the call was charged already, the balance is too small, or the user is gone
   * (`readChargeState` tells which).
   */
  async chargeCallIfCovered(
    userId: Types.ObjectId,
    callLogId: string,
    amount: number,
  ): Promise<boolean> {
    const result = await this.users
      .updateOne(
        { _id: userId, credits: { $gte: amount }, pendingChargeCallIds: { $ne: callLogId } },
        this.chargeUpdate(callLogId, amount),
      )
      .exec();
    if (result.modifiedCount !== 1) {
      return false;
    }
    await this.changed(userId);
    return true;
  }

  /** The balance, and what the call was charged if its marker is there; undefined without the user. */
  async readChargeState(
    userId: Types.ObjectId,
    callLogId: string,
  ): Promise<ChargeState | undefined> {
    const user = await this.users
      .findById(userId, { credits: 1, pendingCharges: 1 })
      .lean<Pick<UserDocument, 'credits' | 'pendingCharges'>>()
      .exec();
    if (!user) {
      return undefined;
    }
    const previous = user.pendingCharges?.find((entry) => entry.startsWith(`${callLogId}|`));
    return {
      credits: user.credits,
      charged: previous === undefined ? undefined : Number(previous.slice(callLogId.length + 1)),
    };
  }

  /**
   * Charges what is left of a balance smaller than the call's amount (never below 0), once per
   * call like chargeCallIfCovered, and only while the balance is still the `credits` read.
   * Returns the amount charged, or undefined when it did not apply (read the state again).
   */
  async chargeCallFromBalance(
    userId: Types.ObjectId,
    callLogId: string,
    credits: number,
    amount: number,
  ): Promise<number | undefined> {
    const charge = Math.max(0, Math.min(credits, amount));
    const result = await this.users
      .updateOne(
        { _id: userId, credits, pendingChargeCallIds: { $ne: callLogId } },
        this.chargeUpdate(callLogId, charge),
      )
      .exec();
    if (result.modifiedCount !== 1) {
      return undefined;
    }
    await this.changed(userId);
    return charge;
  }

  /**
   * Removes the markers of charged calls (one `$pullAll` per user, in one bulk write). Only for
   * calls finalized longer ago than any finalizer may still act on what it read (see
   * CallLifecycleService): a marker is what keeps a late duplicate charge from applying.
   */
  async removeChargeMarkers(markers: readonly ChargeMarker[]): Promise<void> {
    const byUser = new Map<string, { userId: Types.ObjectId; ids: string[]; entries: string[] }>();
    for (const marker of markers) {
      const key = marker.userId.toString();
      const group = byUser.get(key) ?? { userId: marker.userId, ids: [], entries: [] };
      group.ids.push(marker.callLogId);
      group.entries.push(`${marker.callLogId}|${marker.charged}`);
      byUser.set(key, group);
    }
    if (byUser.size === 0) {
      return;
    }
    await this.users.bulkWrite(
      [...byUser.values()].map((group) => ({
        updateOne: {
          filter: { _id: group.userId },
          update: { $pullAll: { pendingChargeCallIds: group.ids, pendingCharges: group.entries } },
        },
      })),
      { ordered: false },
    );
    for (const group of byUser.values()) {
      await this.changed(group.userId);
    }
  }

  private chargeUpdate(callLogId: string, charge: number): Record<string, unknown> {
    return {
      $inc: { credits: -charge, chargeSequence: 1 },
      $push: { pendingChargeCallIds: callLogId, pendingCharges: `${callLogId}|${charge}` },
    };
  }

  /** After any write: the cached profile may no longer match the document. */
  private changed(userId: Types.ObjectId | string): Promise<void> {
    return this.profiles.drop(userId.toString());
  }
}
