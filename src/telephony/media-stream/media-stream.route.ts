import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import { MAX_INBOUND_FRAME_BYTES } from './exotel-media-frames.js';
import type { ExotelMediaStreamGateway } from './exotel-media-stream.gateway.js';
import { MEDIA_STREAM_PATH } from './media-stream-urls.js';

/**
 * The media role's only route: Exotel's WebSocket. Frames over MAX_INBOUND_FRAME_BYTES close
 * the socket (1009) before they are buffered whole; per-message compression is off, so a small
 * frame cannot inflate into a large one.
 */
export async function registerMediaStreamRoute(
  fastify: FastifyInstance,
  gateway: ExotelMediaStreamGateway,
): Promise<void> {
  await fastify.register(websocket, {
    options: { maxPayload: MAX_INBOUND_FRAME_BYTES, perMessageDeflate: false },
  });
  fastify.get(MEDIA_STREAM_PATH, { websocket: true }, (socket, request) => {
    gateway.accept(socket, request.query as Record<string, unknown>);
  });
}
