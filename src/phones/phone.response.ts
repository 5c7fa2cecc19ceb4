import type { PhoneResponse } from './dto/phone.dto.js';
import type { PhoneDocument } from './schemas/phone.schema.js';

export function toPhoneResponse(phone: PhoneDocument): PhoneResponse {
  return {
    id: phone._id.toString(),
    number: phone.number,
    country: phone.country,
    provider: phone.provider,
    agentId: phone.agentId ? phone.agentId.toString() : null,
    tags: phone.tags,
    status: phone.status,
    exotelData: phone.exotelData ?? null,
    agentConfigOverride: phone.agentConfigOverride ?? null,
    createdAt: phone.createdAt,
    updatedAt: phone.updatedAt,
  };
}
