import type { Types } from 'mongoose';

/** `recordings/{userId}/{yyyy}/{mm}/{callLogId}.{ext}`, dated by the call's creation (UTC). */
export function recordingKey(
  call: { _id: Types.ObjectId; userId: Types.ObjectId; createdAt: Date },
  extension: string,
): string {
  const year = call.createdAt.getUTCFullYear().toString().padStart(4, '0');
  const month = (call.createdAt.getUTCMonth() + 1).toString().padStart(2, '0');
  return `recordings/${call.userId.toString()}/${year}/${month}/${call._id.toString()}.${extension}`;
}
