import { Injectable } from '@nestjs/common';
import type { CallControl, EndCallOutcome } from '../calls/call-control.port.js';
import type { CallLogDocument } from '../calls/schemas/call-log.schema.js';

/**
 * Exotel's Voice v1 API has no request that ends a call placed with Calls/connect (the Legs
 * API that can is part of Exotel's separate CPaaS v2 platform). A call runs until a person
 * hangs up, its flow ends, or its TimeLimit (CALL_TIME_LIMIT_SECONDS) cuts it. Once the
 * voice runtime streams the call, closing that stream ends the Voicebot applet and the flow
 * hangs up: that is where this adapter will end calls. Until then it says so.
 */
@Injectable()
export class ExotelCallControl implements CallControl {
  endCall(call: CallLogDocument): Promise<EndCallOutcome> {
    return Promise.resolve({
      ended: false,
      reason:
        `Exotel cannot be asked to end call ${call._id.toString()} (no hang-up API for connected calls); ` +
        'it ends when the person hangs up or at the call time limit, and is billed for the time it really ran',
    });
  }
}
