import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { type Model, Types } from 'mongoose';
import { type PaginationQueryDto, skipFor } from '../common/pagination/pagination.js';
import { insertNew } from '../infra/mongo/insert-new.js';
import { DncEntry, type DncEntryDocument } from './schemas/dnc-entry.schema.js';

/** The only code that touches the dncentries collection; every query is the user's. */
@Injectable()
export class DncRepository {
  constructor(@InjectModel(DncEntry.name) private readonly entries: Model<DncEntry>) {}

  /** Adds the numbers (E.164) the user does not have yet; returns how many were new. */
  async addMany(
    userId: Types.ObjectId,
    phones: string[],
    reason: string | undefined,
    now: Date,
  ): Promise<{ added: string[]; existing: number }> {
    if (phones.length === 0) {
      return { added: [], existing: 0 };
    }
    const documents = phones.map((phone) => ({
      _id: new Types.ObjectId(),
      userId,
      phone,
      ...(reason ? { reason } : {}),
      createdAt: now,
    }));
    const { duplicates } = await insertNew(this.entries.collection, documents);
    return {
      added: phones.filter((_phone, index) => !duplicates.has(index)),
      existing: duplicates.size,
    };
  }

  /** Which of `phones` are on the user's list. */
  async listed(userId: Types.ObjectId, phones: string[]): Promise<Set<string>> {
    if (phones.length === 0) {
      return new Set();
    }
    const found = await this.entries
      .find({ userId, phone: { $in: phones } }, { phone: 1 })
      .lean<Array<Pick<DncEntryDocument, 'phone'>>>()
      .exec();
    return new Set(found.map((entry) => entry.phone));
  }

  async isListed(userId: Types.ObjectId, phone: string): Promise<boolean> {
    return (await this.entries.exists({ userId, phone }).exec()) !== null;
  }

  async remove(userId: Types.ObjectId, phone: string): Promise<boolean> {
    const result = await this.entries.deleteOne({ userId, phone }).exec();
    return result.deletedCount === 1;
  }

  async list(
    userId: Types.ObjectId,
    page: PaginationQueryDto,
  ): Promise<{ entries: DncEntryDocument[]; total: number }> {
    const [entries, total] = await Promise.all([
      this.entries
        .find({ userId })
        .sort({ createdAt: -1, _id: -1 })
        .skip(skipFor(page))
        .limit(page.limit)
        .lean<DncEntryDocument[]>()
        .exec(),
      this.entries.countDocuments({ userId }).exec(),
    ]);
    return { entries, total };
  }
}
