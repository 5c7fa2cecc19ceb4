/**
 * The events a customer's endpoint can subscribe to. `ping` is only ever sent by
 * `POST /webhooks/endpoints/:id/test`.
 */
export const WEBHOOK_EVENT_TYPES = [
  'call.status',
  'call.ended',
  'call.analyzed',
  'transcript.message',
  'campaign.status',
  'campaign.completed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const WEBHOOK_PING = 'ping';
export type DeliveredEventType = WebhookEventType | typeof WEBHOOK_PING;

/** The public id of an event: the same for every endpoint and every attempt (`webhook-id`). */
export function publicEventId(eventId: { toString(): string }): string {
  return `evt_${eventId.toString()}`;
}
