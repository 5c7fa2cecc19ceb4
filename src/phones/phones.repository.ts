import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { type Model, Types } from 'mongoose';
import { type PaginationQueryDto, skipFor } from '../common/pagination/pagination.js';
import { isDuplicateKeyError } from '../users/users.repository.js';
import { Phone, type PhoneDocument, type PhoneStatus } from './schemas/phone.schema.js';

export interface PhoneListFilter {
  status?: PhoneStatus;
  tag?: string;
  agentId?: string;
}

export type NewPhone = Omit<Phone, 'userId' | 'agentId'> & { agentId?: string };

export class NumberTakenError extends Error {}

/** The only code that touches the phones collection; tenant queries always take the userId. */
@Injectable()
export class PhonesRepository {
  constructor(@InjectModel(Phone.name) private readonly phones: Model<Phone>) {}

  /** Throws NumberTakenError when the number is registered already (unique index: races have one winner). */
  async create(userId: string, phone: NewPhone): Promise<PhoneDocument> {
    try {
      const created = await this.phones.create({
        ...phone,
        userId: new Types.ObjectId(userId),
        agentId: phone.agentId ? new Types.ObjectId(phone.agentId) : undefined,
      });
      return created.toObject<PhoneDocument>();
    } catch (error) {
      throw isDuplicateKeyError(error) ? new NumberTakenError() : error;
    }
  }

  findOwned(userId: string, phoneId: string): Promise<PhoneDocument | null> {
    return this.phones.findOne({ _id: phoneId, userId }).lean<PhoneDocument>().exec();
  }

  findOwnedByNumber(userId: string, number: string): Promise<PhoneDocument | null> {
    return this.phones
      .findOne({ userId, number: { $eq: number } })
      .lean<PhoneDocument>()
      .exec();
  }

  async list(
    userId: string,
    filter: PhoneListFilter,
    page: PaginationQueryDto,
  ): Promise<{ phones: PhoneDocument[]; total: number }> {
    const query: Record<string, unknown> = { userId: new Types.ObjectId(userId) };
    if (filter.status !== undefined) {
      query.status = filter.status;
    }
    if (filter.tag !== undefined) {
      query.tags = { $eq: filter.tag };
    }
    if (filter.agentId !== undefined) {
      query.agentId = new Types.ObjectId(filter.agentId);
    }
    const [phones, total] = await Promise.all([
      this.phones
        .find(query)
        .sort({ createdAt: -1, _id: -1 })
        .skip(skipFor(page))
        .limit(page.limit)
        .lean<PhoneDocument[]>()
        .exec(),
      this.phones.countDocuments(query).exec(),
    ]);
    return { phones, total };
  }

  /** Throws NumberTakenError when a changed number is taken; null when not the user's phone. */
  async updateOwned(
    userId: string,
    phoneId: string,
    set: Record<string, unknown>,
    unset: string[],
  ): Promise<PhoneDocument | null> {
    const update: Record<string, unknown> = {};
    if (Object.keys(set).length > 0) {
      update.$set = set;
    }
    if (unset.length > 0) {
      update.$unset = Object.fromEntries(unset.map((field) => [field, '']));
    }
    try {
      return await this.phones
        .findOneAndUpdate({ _id: phoneId, userId }, update, {
          returnDocument: 'after',
          runValidators: true,
        })
        .lean<PhoneDocument>()
        .exec();
    } catch (error) {
      throw isDuplicateKeyError(error) ? new NumberTakenError() : error;
    }
  }

  async deleteOwned(userId: string, phoneId: string): Promise<boolean> {
    const result = await this.phones.deleteOne({ _id: phoneId, userId }).exec();
    return result.deletedCount === 1;
  }

  async numbersAssignedToAgent(userId: string, agentId: string): Promise<string[]> {
    const phones = await this.phones
      .find({ userId, agentId: new Types.ObjectId(agentId) }, { number: 1 })
      .sort({ number: 1 })
      .lean<Array<Pick<PhoneDocument, 'number'>>>()
      .exec();
    return phones.map((phone) => phone.number);
  }
}
