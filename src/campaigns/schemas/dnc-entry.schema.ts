import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Schema as MongooseSchema, type Types } from 'mongoose';

/** A number the user's campaigns must never call. */
@Schema({ collection: 'dncentries', timestamps: { createdAt: true, updatedAt: false } })
export class DncEntry {
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'User' })
  userId: Types.ObjectId;
  /** E.164 */
  @Prop({ type: String, required: true }) phone: string;
  @Prop({ type: String, maxlength: 200 }) reason?: string;
}

export type DncEntryDocument = DncEntry & { _id: Types.ObjectId; createdAt: Date };

export const DncEntrySchema = SchemaFactory.createForClass(DncEntry);
DncEntrySchema.index({ userId: 1, phone: 1 }, { unique: true });
DncEntrySchema.index({ userId: 1, createdAt: -1 });
