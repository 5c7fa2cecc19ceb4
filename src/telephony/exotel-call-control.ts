import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { CallControl, EndCallOutcome } from '../calls/call-control.port.js';
import type { CallLogDocument } from '../calls/schemas/call-log.schema.js';
import { ExotelMediaStreamGateway } from './media-stream/exotel-media-stream.gateway.js';

/**
 * Exotel's Voice v1 API has no request that ends a call placed with Calls/connect (the Legs
 * API that can is part of Exotel's separate CPaaS v2 platform). A call whose conversation
 * runs on our media stream is ended by closing that stream: the Voicebot applet ends and the
 * flow hangs up. Any other call runs until a person hangs up, its flow ends, or its TimeLimit
 * (CALL_TIME_LIMIT_SECONDS) cuts it.
 */
@Injectable()
export class ExotelCallControl implements CallControl {
  constructor(private readonly moduleRef: ModuleRef) {}

  endCall(call: CallLogDocument, reason: string): Promise<EndCallOutcome> {
    if (this.gateway()?.endStream(call.sessionId, reason)) {
      return Promise.resolve({ ended: true });
    }
    return Promise.resolve({
      ended: false,
      reason:
        `Call ${call._id.toString()} has no live media stream on this server, and Exotel cannot be asked to end it ` +
        '(no hang-up API for connected calls); it ends when the person hangs up or at the call time limit, and is billed for the time it really ran',
    });
  }

  /** The media gateway, when this process runs the media role. */
  private gateway(): ExotelMediaStreamGateway | undefined {
    try {
      return this.moduleRef.get(ExotelMediaStreamGateway, { strict: false });
    } catch {
      return undefined;
    }
  }
}
