import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { CallControl, EndCallOutcome } from '../calls/call-control.port.js';
import type { CallLogDocument } from '../calls/schemas/call-log.schema.js';
import { ExotelMediaStreamGateway } from './media-stream/exotel-media-stream.gateway.js';
import { MediaStreamSignals } from './media-stream/media-stream-signals.js';

/**
 * Exotel's Voice v1 API has no request that ends a call placed with Calls/connect (the Legs
 * API that can is part of Exotel's separate CPaaS v2 platform). A call whose conversation
 * runs on our media stream is ended by closing that stream (here, or through the cluster's
 * end requests when another process holds it): the Voicebot applet ends and the flow hangs up. Any other call runs until a person hangs up, its flow ends, or its TimeLimit
 * (CALL_TIME_LIMIT_SECONDS) cuts it.
 */
@Injectable()
export class ExotelCallControl implements CallControl {
  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly signals: MediaStreamSignals,
  ) {}

  async endCall(call: CallLogDocument, reason: string): Promise<EndCallOutcome> {
    if (
      this.gateway()?.endStream(call.sessionId, reason) ||
      (await this.signals.requestEnd(call.sessionId, reason))
    ) {
      return { ended: true };
    }
    return {
      ended: false,
      reason:
        `Call ${call._id.toString()} has no live media stream, and Exotel cannot be asked to end it ` +
        '(no hang-up API for connected calls); it ends when the person hangs up or at the call time limit, and is billed for the time it really ran',
    };
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
